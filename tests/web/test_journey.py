"""The whole journey through HTTP and real worker code, as a person would make it.

Public subscribe, the confirmation mail received by a real SMTP server, GET on the confirm link
changing nothing, POST confirming, a campaign composed and sent from the dashboard, every mail
received once with the unsubscribe headers, the send log and timeline, and an RFC 8058
one-click unsubscribe that keeps the address out of the next campaign.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from app.extensions import db
from app.models import Campaign, MailingList, SentEmail, Subscriber
from tests.conftest import csrf_token


def _post_form(client, page_url, action_url, data):
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    return client.post(action_url, data={**data, "csrf_token": csrf_token(page.text)})


def _link(received, prefix):
    text = received.message.get_body(preferencelist=("plain",)).get_content()
    match = re.search(rf"http://localhost{prefix}[^\s>]+", text)
    assert match, text
    return match.group(0).replace("http://localhost", "")


def _subscriber(email):
    db.session.expire_all()
    return db.session.scalar(sa.select(Subscriber).where(Subscriber.email == email))


def test_the_whole_journey(app, client, auth, make_user, run_jobs, smtp_server):
    make_user()
    assert auth.login().status_code == 302

    # 2. A list and its public subscribe URL.
    response = _post_form(client, "/lists/new", "/lists/new", {"name": "Weekly news", "double_opt_in": "y"})
    assert response.status_code == 302
    mailing_list = db.session.scalar(sa.select(MailingList))
    page = client.get(response.headers["Location"])
    assert f"/s/{mailing_list.public_id}" in page.text

    # 3. Two people subscribe on the public page (no session: a fresh client).
    public = app.test_client()
    assert public.get(f"/s/{mailing_list.public_id}").status_code == 200
    for address in ("alice@example.com", "bob@example.com"):
        answer = public.post(f"/s/{mailing_list.public_id}", data={"email": address, "name": address[:3]})
        assert answer.status_code == 200 and "confirmation e-mail" in answer.text
    run_jobs()
    assert len(smtp_server.received) == 2
    for received in smtp_server.received:
        address = received.rcpt_tos[0]
        confirm = _link(received, "/c/")
        # A link scanner's GET shows the page and changes nothing.
        assert public.get(confirm).status_code == 200
        assert _subscriber(address).status.value == "pending"
        assert public.post(confirm).status_code == 200
        assert _subscriber(address).status.value == "confirmed"
        # The link works once.
        assert public.post(confirm).status_code == 404
    smtp_server.reset()

    # 4. A campaign written in Markdown, sent from the dashboard.
    form = {
        "list_id": str(mailing_list.id),
        "name": "",
        "subject": "Our first issue",
        "from_name": "Weekly",
        "from_email": "news@example.com",
        "body_format": "markdown",
        "body": "# Hello\n\nThe *first* issue.",
    }
    response = _post_form(client, "/campaigns/new", "/campaigns/new", form)
    assert response.status_code == 302, response.text
    campaign = db.session.scalar(sa.select(Campaign))
    assert "<em>first</em>" in campaign.html and "_first_ issue" in campaign.text
    detail = f"/campaigns/{campaign.id}"
    assert _post_form(client, detail, f"{detail}/send", {}).status_code == 302

    # 5. While sending, the progress fragment polls itself; once done, it stops.
    fragment = client.get(f"{detail}/progress")
    assert 'hx-trigger="every 1s"' in fragment.text
    run_jobs()
    fragment = client.get(f"{detail}/progress")
    assert "hx-trigger" not in fragment.text and "100%" in fragment.text and "finished" in fragment.text

    # Every e-mail received exactly once, with the unsubscribe headers.
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == ["alice@example.com", "bob@example.com"]
    for received in smtp_server.received:
        message = received.message
        assert message["Subject"] == "Our first issue"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert re.fullmatch(r"<http://localhost/u/\S+>", message["List-Unsubscribe"])
        assert "Unsubscribe" in message.get_body(preferencelist=("html",)).get_content()

    # 6. The send log lists both, and filters by status and recipient.
    log = client.get(f"/emails?campaign_id={campaign.id}")
    assert "alice@example.com" in log.text and "bob@example.com" in log.text
    only_alice = client.get("/emails?recipient=alice@example.com&status=delivered")
    assert "alice@example.com" in only_alice.text and "bob@example.com" not in only_alice.text
    assert "bob@example.com" not in client.get("/emails?status=bounced").text

    # 7. One e-mail's timeline: the attempt with its reply and the events in order.
    alice_mail = db.session.scalar(
        sa.select(SentEmail).where(SentEmail.campaign_id == campaign.id, SentEmail.recipient == "alice@example.com")
    )
    timeline = client.get(f"/emails/{alice_mail.id}").text
    assert "250" in timeline and "2.0.0" in timeline and "OK queued" in timeline
    positions = [timeline.index(f"<strong>{event}</strong>") for event in ("queued", "claimed", "delivered")]
    assert positions == sorted(positions)
    assert alice_mail.message_id in timeline.replace("&lt;", "<").replace("&gt;", ">")

    # 8. One-click unsubscribe: no cookie, no CSRF token.
    alice_received = smtp_server.to("alice@example.com")[0]
    unsubscribe_url = alice_received.message["List-Unsubscribe"].strip("<>").replace("http://localhost", "")
    stranger = app.test_client()
    assert stranger.get(unsubscribe_url).status_code == 200
    assert _subscriber("alice@example.com").status.value == "confirmed"
    answer = stranger.post(unsubscribe_url, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    alice = _subscriber("alice@example.com")
    assert alice.status.value == "unsubscribed" and alice.unsubscribed_at is not None

    # The next campaign goes to Bob only.
    smtp_server.reset()
    form["subject"] = "Second issue"
    _post_form(client, "/campaigns/new", "/campaigns/new", form)
    second = db.session.scalar(sa.select(Campaign).where(Campaign.subject == "Second issue"))
    _post_form(client, f"/campaigns/{second.id}", f"/campaigns/{second.id}/send", {})
    run_jobs()
    assert [r.rcpt_tos[0] for r in smtp_server.received] == ["bob@example.com"]
