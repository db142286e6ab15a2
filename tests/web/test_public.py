"""Public pages: subscribe, confirm and unsubscribe answer without revealing anything."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app import links
from app.delivery.suppression import suppress
from app.extensions import db
from app.models import SentEmail, Subscriber, SuppressionReason
from app.services import subscribers
from tests.factories import make_list


@pytest.fixture
def mailing_list(app, make_user):
    user = make_user()
    return make_list(user.account_id, "Public list")


def _count(model):
    return db.session.scalar(sa.select(sa.func.count(model.id)))


def test_same_answer_for_new_existing_unsubscribed_and_suppressed(app, client, mailing_list):
    url = f"/s/{mailing_list.public_id}"
    subscribers.add(mailing_list.account_id, mailing_list.id, "confirmed@example.com")
    unsub = subscribers.add(mailing_list.account_id, mailing_list.id, "gone@example.com")
    subscribers.update(mailing_list.account_id, unsub.id, status="unsubscribed")
    suppress(db.session, mailing_list.account_id, "blocked@example.com", SuppressionReason.HARD_BOUNCE)
    db.session.commit()
    answers = {
        address: client.post(url, data={"email": address})
        for address in ("new@example.com", "confirmed@example.com", "gone@example.com", "blocked@example.com")
    }
    bodies = {a: (r.status_code, r.text) for a, r in answers.items()}
    assert len(set(bodies.values())) == 1, bodies
    # The suppressed address got no row and no mail.
    assert db.session.scalar(sa.select(Subscriber).where(Subscriber.email == "blocked@example.com")) is None


def test_invalid_address_gets_a_clear_error_and_changes_nothing(client, mailing_list):
    for bad in ("not-an-address", "a@b", "x@example.com\r\nBcc: victim@example.com", "", "a" * 250 + "@example.com"):
        response = client.post(f"/s/{mailing_list.public_id}", data={"email": bad})
        assert response.status_code == 422
        assert "e-mail" in response.text or "email" in response.text
    assert _count(Subscriber) == 0 and _count(SentEmail) == 0


def test_name_with_line_break_is_refused(client, mailing_list):
    response = client.post(
        f"/s/{mailing_list.public_id}", data={"email": "ok@example.com", "name": "Eve\r\nBcc: x@example.com"}
    )
    assert response.status_code == 422 and _count(Subscriber) == 0


def test_unknown_list_is_404(client):
    assert client.get("/s/nope").status_code == 404
    assert client.post("/s/nope", data={"email": "a@example.com"}).status_code == 404


def test_subscribe_form_needs_no_session_or_csrf(app, mailing_list):
    # An embedded form on another site posts without our cookie or token.
    response = app.test_client().post(f"/s/{mailing_list.public_id}", data={"email": "embed@example.com"})
    assert response.status_code == 200


def test_single_opt_in_confirms_at_once(app, client, make_user):
    owner = make_user("single@example.com")
    single = make_list(owner.account_id, "Single", double_opt_in=False)
    client.post(f"/s/{single.public_id}", data={"email": "now@example.com"})
    assert (
        db.session.scalar(sa.select(Subscriber.status).where(Subscriber.email == "now@example.com")).value
        == "confirmed"
    )
    assert _count(SentEmail) == 0


FORGERIES = ["", "abc", "1", "1.x", "1.x.y", "999999.AAAA.BBBB", "1.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA"]


@pytest.mark.parametrize("token", FORGERIES[1:])
def test_forged_tokens_get_the_same_page(client, mailing_list, token):
    subscribers.subscribe(mailing_list.public_id, "pending@example.com")
    invalid = client.get("/c/not-a-token")
    for path in (f"/c/{token}", f"/u/{token}"):
        for method in (client.get, client.post):
            response = method(path)
            assert (response.status_code, response.text) == (invalid.status_code, invalid.text)
    assert db.session.scalar(sa.select(Subscriber.status)).value == "pending"


def test_confirm_link_for_another_subscriber_does_not_work(app, client, mailing_list):
    subscribers.subscribe(mailing_list.public_id, "a@example.com")
    subscribers.subscribe(mailing_list.public_id, "b@example.com")
    a, b = db.session.scalars(sa.select(Subscriber).order_by(Subscriber.id)).all()
    secret = app.config["SECRET_KEY"]
    # A's MAC with B's id, and B's nonce with A's MAC.
    forged = f"{b.id}.{a.confirm_nonce}.{links.confirm_token(secret, a.id, a.list_id, a.confirm_nonce).split('.')[-1]}"
    assert client.post(f"/c/{forged}").status_code == 404
    assert db.session.get(Subscriber, b.id).status.value == "pending"


def test_unsubscribe_page_then_button(app, client, mailing_list):
    subscriber = subscribers.add(mailing_list.account_id, mailing_list.id, "reader@example.com")
    token = links.unsubscribe_token(app.config["SECRET_KEY"], subscriber.id, mailing_list.id)
    page = client.get(f"/u/{token}")
    assert page.status_code == 200 and "reader@example.com" in page.text
    assert db.session.get(Subscriber, subscriber.id).status.value == "confirmed"
    done = client.post(f"/u/{token}")
    assert done.status_code == 200 and "unsubscribed" in done.text
    db.session.expire_all()
    row = db.session.get(Subscriber, subscriber.id)
    assert row.status.value == "unsubscribed" and row.unsubscribed_at is not None
    # Still there, and a second POST is harmless.
    assert client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
