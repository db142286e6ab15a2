"""Audience fixtures: an admin's account, colleagues in other roles, and a person with history.

``person`` builds what a real account holds about ann@example.com, through the real paths: two
list subscriptions, a campaign delivered over SMTP and opened and clicked, a second one that
bounced hard (which suppressed her), a transactional e-mail with an attachment sent through the
API before that, webhook events about all of it (their endpoint answering with her address),
and an import that rejected a line carrying her address.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from flask import g

from app.extensions import db
from app.models import ImportRowError, Role, SentEmail, User
from app.services import accounts, campaigns, imports, lists, subscribers, webhooks
from app.webhooks import outbox
from tests.conftest import PASSWORD, csrf_token
from tests.factories import add_subscribers, make_campaign
from tests.webhooks.receiver import (  # noqa: F401  (fixtures)
    Reply,
    private_ok_fixture,
    receiver_fixture,
    run_webhook_jobs_fixture,
)

ANN = "ann@example.com"
BODY = '<p>Hello! Read <a href="https://example.com/news">the news</a>.</p>'


@pytest.fixture
def admin(make_user) -> User:
    return make_user("admin@example.com")


@pytest.fixture
def colleague(make_user, admin):
    """A user of the admin's account with ``role``."""

    def make(email: str, role: Role) -> User:
        return make_user(email, role, account=admin.account.name)

    return make


@pytest.fixture
def separate_sessions(app):
    """Load the user from each request's own session.

    The tests hold one app context open, so every request shares one ``g``, where Flask-Login
    caches the logged-in user and Flask-WTF the CSRF token: without this, a second client would
    act as the first one's user, with the first one's token.
    """

    def forget_user() -> None:
        g.pop("_login_user", None)
        g.pop(app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)

    hooks = app.before_request_funcs.setdefault(None, [])
    hooks.insert(0, forget_user)
    yield
    hooks.remove(forget_user)


@pytest.fixture
def signed_in(app, separate_sessions):
    """A new test client logged in as ``email`` (one per user, so their sessions stay apart)."""

    def sign_in(email: str):
        client = app.test_client()
        page = client.get("/login")
        response = client.post(
            "/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_token(page.text)}
        )
        assert response.status_code == 302, response.text
        return client

    return sign_in


def post(client, url: str, data: dict | None = None, page: str = "/"):
    """POST a form with the session's CSRF token, as the dashboard's forms do."""
    return client.post(url, data={"csrf_token": csrf_token(client.get(page).text), **(data or {})})


@dataclass
class Person:
    account_id: int
    list_a: int
    list_b: int
    subscriber_a: int
    subscriber_b: int
    delivered: int  # sent_emails.id of the campaign e-mail that was delivered, opened and clicked
    bounced: int
    transactional: int
    campaign_a: int
    campaign_b: int


@pytest.fixture
def person(app, admin, client, run_jobs, smtp_server, receiver, run_webhook_jobs) -> Person:
    aid = admin.account_id
    webhooks.create(aid, receiver.url("/hook"), list(outbox.EVENT_TYPES))
    receiver.script("/hook", Reply(500, body=f"cannot take {ANN} today"))  # echoed into every attempt
    list_a = lists.create(aid, "Newsletter", "", False, True)
    list_b = lists.create(aid, "Offers", "", False, True)
    sub_a = subscribers.add(aid, list_a.id, ANN, "Ann Person")
    sub_b = subscribers.add(aid, list_b.id, ANN, "Ann Person")
    add_subscribers(aid, list_a.id, 2)
    add_subscribers(aid, list_b.id, 1)

    sent = make_campaign(aid, list_a.id, body_format="html", body=BODY)
    campaigns.send(aid, sent.id)
    run_jobs()
    delivered = db.session.scalar(
        sa.select(SentEmail).where(SentEmail.campaign_id == sent.id, SentEmail.recipient == ANN)
    )
    html = smtp_server.to(ANN)[0].message.get_body(("html",)).get_content()
    pixel = html.split('src="http://localhost', 1)[1].split('"', 1)[0]
    click = html.split('href="http://localhost/t/c/', 1)[1].split('"', 1)[0]
    headers = {"User-Agent": "Mozilla/5.0 (Ann's phone)"}
    client.get(pixel, headers=headers, environ_base={"REMOTE_ADDR": "203.0.113.7"})
    client.get(f"/t/c/{click}", headers=headers, environ_base={"REMOTE_ADDR": "203.0.113.7"})
    run_jobs()

    _, token = accounts.issue_token(admin, "Shop")
    response = client.post(
        "/api/v1/emails",
        json={
            "to": ANN,
            "to_name": "Ann Person",
            "from_email": "shop@example.com",
            "subject": "Your receipt, Ann Person",
            "html": f"<p>Order for {ANN}</p>",
            "attachments": [{"filename": "receipt.txt", "content": base64.b64encode(b"Ann Person paid").decode()}],
            "metadata": {"customer": ANN},
        },
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "order-1"},
    )
    assert response.status_code == 202, response.text
    run_jobs()

    smtp_server.handler.replies[ANN] = f"550 5.1.1 <{ANN}>: Recipient address rejected: User unknown"
    offer = make_campaign(aid, list_b.id, subject="Offer")
    campaigns.send(aid, offer.id)
    run_jobs()
    smtp_server.handler.replies.pop(ANN)
    bounced = db.session.scalar(
        sa.select(SentEmail.id).where(SentEmail.campaign_id == offer.id, SentEmail.recipient == ANN)
    )

    job = imports.create(
        aid, list_a.id, io.BytesIO(f"email,name\nnew@example.com,New\n{ANN} <x,Ann\n".encode()), "crm.csv"
    )
    run_jobs()
    assert db.session.scalar(sa.select(sa.func.count(ImportRowError.id)).where(ImportRowError.import_id == job.id))
    assert run_webhook_jobs()
    db.session.expire_all()
    return Person(
        account_id=aid,
        list_a=list_a.id,
        list_b=list_b.id,
        subscriber_a=sub_a.id,
        subscriber_b=sub_b.id,
        delivered=delivered.id,
        bounced=bounced,
        transactional=response.get_json()["id"],
        campaign_a=sent.id,
        campaign_b=offer.id,
    )
