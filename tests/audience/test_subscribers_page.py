"""Subscribers across lists: search, filters, keyset pages, one person's page and status changes."""

from __future__ import annotations

import json
import re

import sqlalchemy as sa

from app.extensions import db
from app.models import EmailEvent, EmailKind, Role, SentEmail, Subscriber, SubscriberStatus, WebhookEvent
from app.services import lists, subscribers, webhooks
from tests.audience.conftest import ANN, post
from tests.factories import add_subscribers, bulk_subscribers

ROW = re.compile(r'href="/subscribers/(\d+)"')


def _ids(page: str) -> list[int]:
    return [int(i) for i in ROW.findall(page)]


def _people(account_id: int) -> dict[str, int]:
    newsletter = lists.create(account_id, "Newsletter", "", False)
    offers = lists.create(account_id, "Offers", "", True)
    ann_a = subscribers.add(account_id, newsletter.id, ANN, "Ann Person")
    ann_b = subscribers.add(account_id, offers.id, ANN, "Ann Person", "pending")
    bob = subscribers.add(account_id, newsletter.id, "bob@example.org", "Robert Smith")
    subscribers.update(account_id, bob.id, status="unsubscribed")
    percent = subscribers.add(account_id, offers.id, "p100@example.net", "100% Sure")
    return {
        "newsletter": newsletter.id,
        "offers": offers.id,
        "ann_a": ann_a.id,
        "ann_b": ann_b.id,
        "bob": bob.id,
        "percent": percent.id,
    }


def test_search_by_address_or_name_and_filter_by_status_and_list(admin, signed_in, make_user):
    ids = _people(admin.account_id)
    stranger = make_user("stranger@example.com")
    other = lists.create(stranger.account_id, "Theirs", "", False)
    subscribers.add(stranger.account_id, other.id, ANN, "Ann Elsewhere")
    client = signed_in("admin@example.com")

    def found(**query) -> set[int]:
        page = client.get("/subscribers", query_string=query)
        assert page.status_code == 200
        return set(_ids(page.text))

    assert found() == {ids["ann_a"], ids["ann_b"], ids["bob"], ids["percent"]}
    assert found(q="ANN@example.com ") == {ids["ann_a"], ids["ann_b"]}  # a whole address: exact, any case
    assert found(q="smith") == {ids["bob"]}  # part of a name
    assert found(q="example.org") == {ids["bob"]}  # part of an address
    assert found(q="%") == {ids["percent"]}  # wildcards are text, not patterns
    assert found(q="_") == set()
    assert found(status="unsubscribed") == {ids["bob"]}
    assert found(status="pending") == {ids["ann_b"]}
    assert found(list_id=ids["offers"]) == {ids["ann_b"], ids["percent"]}
    assert found(list_id=ids["newsletter"], q=ANN, status="confirmed") == {ids["ann_a"]}
    assert found(status="nonsense") == found()  # an unknown status is no filter
    assert "Ann Elsewhere" not in client.get("/subscribers").text
    assert client.get("/subscribers", query_string={"list_id": other.id}).status_code == 404


def test_keyset_pages_keep_the_filters(admin, signed_in):
    mailing_list = lists.create(admin.account_id, "Big", "", False)
    bulk_subscribers(admin.account_id, mailing_list.id, 120)
    other = lists.create(admin.account_id, "Small", "", False)
    add_subscribers(admin.account_id, other.id, 3)
    client = signed_in("admin@example.com")

    seen, url, pages = [], f"/subscribers?list_id={mailing_list.id}", 0
    while url:
        page = client.get(url).text
        seen += _ids(page)
        pages += 1
        more = re.search(r'href="(/subscribers\?[^"]*before=\d+[^"]*)">Older', page)
        url = more.group(1).replace("&amp;", "&") if more else None
        if url:
            assert f"list_id={mailing_list.id}" in url

    assert pages == 3
    assert len(seen) == 120 and len(set(seen)) == 120
    assert seen == sorted(seen, reverse=True)
    expected = db.session.scalars(sa.select(Subscriber.id).where(Subscriber.list_id == mailing_list.id))
    assert set(seen) == set(expected)


def test_the_page_shows_every_email_sent_and_every_event(person, signed_in):
    client = signed_in("admin@example.com")

    page = client.get(f"/subscribers/{person.subscriber_a}")

    assert page.status_code == 200
    assert "Newsletter" in page.text and "Offers" in page.text  # both subscriptions
    emails = list(db.session.scalars(sa.select(SentEmail).where(SentEmail.recipient == ANN)))
    assert {e.kind for e in emails} == {EmailKind.CAMPAIGN, EmailKind.TRANSACTIONAL}
    assert len(emails) == 3
    for email in emails:
        assert email.message_id.replace("<", "&lt;").replace(">", "&gt;") in page.text
        assert f'href="/emails/{email.id}"' in page.text
        events = db.session.scalars(sa.select(EmailEvent).where(EmailEvent.email_id == email.id)).all()
        assert events
        for event in events:
            assert f"<strong>{event.type}</strong>" in page.text
    for kind in ("opened", "clicked", "delivered", "bounced"):
        assert f"<strong>{kind}</strong>" in page.text
    assert "badge-hard_bounce" in page.text  # the suppression the bounce added
    assert "user1@example.com" not in page.text  # nobody else's mail


def test_a_status_change_goes_through_the_webhook_outbox(admin, signed_in):
    ids = _people(admin.account_id)
    webhooks.create(
        admin.account_id, "https://hooks.example.com/a", ["subscriber.unsubscribed", "subscriber.confirmed"]
    )
    client = signed_in("admin@example.com")

    response = post(client, f"/subscribers/{ids['ann_a']}/status", {"status": "unsubscribed"})

    assert response.status_code == 302 and response.headers["Location"] == f"/subscribers/{ids['ann_a']}"
    assert db.session.get(Subscriber, ids["ann_a"]).status == SubscriberStatus.UNSUBSCRIBED
    [event] = db.session.scalars(sa.select(WebhookEvent)).all()
    body = json.loads(event.payload)
    assert body["type"] == "subscriber.unsubscribed"
    assert body["data"]["email"] == ANN and body["data"]["subscriber_id"] == ids["ann_a"]
    assert "is now unsubscribed" in client.get(response.headers["Location"]).text

    # Consent: back to confirmed only through a new confirmation, which "pending" sends.
    refused = post(client, f"/subscribers/{ids['ann_a']}/status", {"status": "confirmed"})
    db.session.expire_all()
    assert db.session.get(Subscriber, ids["ann_a"]).status == SubscriberStatus.UNSUBSCRIBED
    assert "cannot be confirmed by hand" in client.get(refused.headers["Location"]).text
    post(client, f"/subscribers/{ids['ann_a']}/status", {"status": "pending"})
    db.session.expire_all()
    assert db.session.get(Subscriber, ids["ann_a"]).status == SubscriberStatus.PENDING
    confirmation = sa.select(SentEmail).where(SentEmail.subscriber_id == ids["ann_a"])
    assert db.session.scalar(confirmation).kind == EmailKind.CONFIRMATION
    assert db.session.scalar(sa.select(sa.func.count(WebhookEvent.id))) == 1  # pending is no event


def test_support_reads_the_page_but_changes_nothing(admin, colleague, signed_in):
    ids = _people(admin.account_id)
    colleague("support@example.com", Role.SUPPORT)
    client = signed_in("support@example.com")

    page = client.get(f"/subscribers/{ids['ann_a']}")
    assert page.status_code == 200 and ANN in page.text
    assert "Erase" not in page.text and 'name="status"' not in page.text
    assert client.get("/subscribers").status_code == 200
    for url, data in (
        (f"/subscribers/{ids['ann_a']}/status", {"status": "unsubscribed"}),
        (f"/subscribers/{ids['ann_a']}/erase", {"confirm": ANN}),
    ):
        response = post(client, url, data)
        assert response.status_code == 403
        assert "may not change" in response.text
    db.session.expire_all()
    assert db.session.get(Subscriber, ids["ann_a"]).status == SubscriberStatus.CONFIRMED
    assert db.session.scalar(sa.select(sa.func.count(Subscriber.id))) == 4
