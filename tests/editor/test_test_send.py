"""Send a test: real SMTP, "[Test] " in the subject, in the send log, never in the campaign's stats."""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import EmailKind, EmailStatus, SentEmail, TransactionalEmail
from app.services import campaigns, suppressions
from tests.conftest import csrf_token


def _draft(audience, **overrides):
    data = {
        "list_id": audience["list"].id,
        "subject": "Hi {{ subscriber.name }}",
        "from_email": "news@example.com",
        "from_name": "News",
        "body_format": "markdown",
        "body": "<style>p { color: #036; }</style>\n\nPlan: {{ subscriber.attributes.plan | default('free') }}",
    }
    data.update(overrides)
    return campaigns.create(audience["user"].account_id, data)


def _send_test(client, campaign_id: int, addresses: str):
    token = csrf_token(client.get(f"/campaigns/{campaign_id}").text)
    return client.post(
        f"/campaigns/{campaign_id}/test",
        data={"csrf_token": token, "addresses": addresses},
        follow_redirects=True,
    )


def test_a_test_reaches_the_server_and_leaves_the_campaign_untouched(client, auth, audience, run_jobs, smtp_server):
    auth.login()
    campaign = _draft(audience)
    before = campaigns.stats(campaign.id)
    page = _send_test(client, campaign.id, "me@example.org, user1@example.com")
    assert "Test sent to me@example.org, user1@example.com" in page.text
    run_jobs()

    mine, theirs = smtp_server.to("me@example.org")[0], smtp_server.to("user1@example.com")[0]
    # Rendered for the list's first confirmed subscriber, or for the subscriber with that address.
    assert mine.message["Subject"] == "[Test] Hi User 0"
    assert theirs.message["Subject"] == "[Test] Hi User 1"
    html = mine.message.get_body(("html",)).get_content()
    assert '<p style="color: #036;">Plan: gold</p>' in html  # CSS inlined, as in the real send
    assert "Plan: silver" in theirs.message.get_body(("html",)).get_content()
    assert "/t/o/" not in html  # no tracking pixel: a test counts no open

    db.session.expire_all()
    assert campaigns.stats(campaign.id) == before and before["total"] == 0
    assert campaigns.get(audience["user"].account_id, campaign.id).status.value == "draft"
    rows = db.session.scalars(sa.select(SentEmail).order_by(SentEmail.id)).all()
    test_row = (EmailKind.TRANSACTIONAL, None, EmailStatus.DELIVERED)  # no campaign: counted in none
    assert [(r.kind, r.campaign_id, r.status) for r in rows] == [test_row, test_row]
    content = db.session.get(TransactionalEmail, rows[0].id)
    assert content.tags == ["test"] and content.meta == {"campaign_id": str(campaign.id)}
    # In the send log, with its timeline.
    assert "me@example.org" in client.get("/emails").text
    detail = client.get(f"/emails/{rows[0].id}").text
    assert "E-mail to me@example.org" in detail and "<strong>delivered</strong>" in detail  # its timeline


def test_addresses_are_checked_before_anything_is_sent(client, auth, audience, run_jobs, smtp_server):
    auth.login()
    campaign = _draft(audience)
    page = _send_test(client, campaign.id, "a@example.org, not-an-address")
    assert "No test sent" in page.text and "not-an-address" in page.text
    page = _send_test(client, campaign.id, ",".join(f"t{i}@example.org" for i in range(6)))
    assert "at most 5 addresses" in page.text
    run_jobs()
    assert smtp_server.received == [] and db.session.scalar(sa.select(sa.func.count(SentEmail.id))) == 0


def test_a_suppressed_address_gets_no_test(client, auth, audience, run_jobs, smtp_server):
    auth.login()
    campaign = _draft(audience)
    suppressions.add(audience["user"].account_id, "blocked@example.org")
    page = _send_test(client, campaign.id, "blocked@example.org, ok@example.org")
    assert "Not sent to blocked@example.org" in page.text and "Test sent to ok@example.org" in page.text
    run_jobs()
    assert [r.rcpt_tos for r in smtp_server.received] == [["ok@example.org"]]


def test_a_test_of_a_broken_template_is_refused(client, auth, audience, run_jobs, smtp_server):
    auth.login()
    campaign = _draft(audience)
    db.session.execute(
        sa.update(type(campaign)).where(type(campaign).id == campaign.id).values(subject="Hi {{ subscriber.nam }}")
    )
    db.session.commit()
    page = _send_test(client, campaign.id, "me@example.org")
    assert "No test sent" in page.text and "subscriber has no &#39;nam&#39;" in page.text
    run_jobs()
    assert smtp_server.received == []
