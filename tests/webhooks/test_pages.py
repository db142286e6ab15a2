"""The webhook pages: list, add (the secret shown once), edit, enable/disable, rotate, delete,
and the deliveries page with its replay and test-ping buttons."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Role, WebhookDelivery, WebhookEndpoint
from app.services import webhooks
from app.webhooks import outbox
from tests.conftest import PASSWORD, csrf_token
from tests.webhooks.receiver import Reply, private_ok_fixture, receiver_fixture, run_webhook_jobs_fixture, verify  # noqa: F401

URL = "https://hooks.example.com/postroom"


@pytest.fixture
def owner(make_user, auth):
    user = make_user()
    auth.login()
    return user


def _post(client, page_url: str, action: str | None = None, **data):
    page = client.get(page_url)
    assert page.status_code == 200
    return client.post(action or page_url, data={"csrf_token": csrf_token(page.text), **data})


def _only() -> WebhookEndpoint:
    db.session.expire_all()
    return db.session.scalar(sa.select(WebhookEndpoint))


def test_pages_need_a_login(client):
    for url in ("/webhooks", "/webhooks/new"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_an_empty_list_invites_to_add_one(client, owner):
    page = client.get("/webhooks")

    assert page.status_code == 200
    assert "No webhook endpoints yet" in page.text and 'href="/webhooks/new"' in page.text
    assert 'href="/webhooks"' in client.get("/").text  # in the navigation


def test_add_shows_the_secret_once(client, owner):
    response = _post(
        client, "/webhooks/new", url=URL, description="CRM", events=["email.bounced", "email.complained"], enabled="y"
    )

    assert response.status_code == 200
    endpoint = _only()
    assert endpoint.url == URL and endpoint.events == ["email.bounced", "email.complained"] and endpoint.enabled
    assert endpoint.secret in response.text and "not shown again" in response.text
    listing = client.get("/webhooks").text
    assert URL in listing and "email.complained" in listing and "none yet" in listing
    assert endpoint.secret not in listing
    assert endpoint.secret not in client.get(f"/webhooks/{endpoint.id}").text
    assert endpoint.secret not in client.get(f"/webhooks/{endpoint.id}/edit").text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"url": "ftp://x.example.com/", "events": ["email.bounced"]}, "must start with http"),
        ({"url": URL}, "choose at least one event type"),
        ({"url": "", "events": ["email.bounced"]}, "Enter the URL"),
        ({"url": URL, "events": ["email.exploded"]}, "not a valid choice"),
    ],
)
def test_add_shows_errors_on_the_form(client, owner, data, message):
    response = _post(client, "/webhooks/new", **data)

    assert response.status_code == 200
    assert message in html.unescape(response.text)
    assert _only() is None


def test_edit_disable_enable_rotate_and_delete(client, owner):
    endpoint = webhooks.create(owner.account_id, URL, ["email.delivered"])
    old_secret = endpoint.secret
    edit = f"/webhooks/{endpoint.id}/edit"

    assert re.search(r'<input checked[^>]*value="email.delivered"', client.get(edit).text)
    response = _post(client, edit, url="https://other.example.com/h", events=["email.failed"], enabled="y")
    assert response.status_code == 302
    assert (_only().url, _only().events) == ("https://other.example.com/h", ["email.failed"])

    _post(client, "/webhooks", f"/webhooks/{endpoint.id}/disable")
    assert _only().enabled is False
    assert "Enable</button>" in client.get("/webhooks").text
    _post(client, "/webhooks", f"/webhooks/{endpoint.id}/enable")
    assert _only().enabled is True

    rotated = _post(client, "/webhooks", f"/webhooks/{endpoint.id}/rotate")
    new_secret = _only().secret
    assert new_secret != old_secret and new_secret in rotated.text and old_secret not in rotated.text
    assert "two signatures" in rotated.text

    _post(client, "/webhooks", f"/webhooks/{endpoint.id}/delete")
    assert _only() is None


def test_a_disabled_endpoint_shows_why(client, owner):
    endpoint = webhooks.create(owner.account_id, URL, ["email.delivered"])
    db.session.execute(
        sa.update(WebhookEndpoint).values(enabled=False, disabled_reason="Disabled by Postroom: it answered 410 Gone.")
    )
    db.session.commit()

    assert "it answered 410 Gone" in client.get("/webhooks").text
    assert "it answered 410 Gone" in client.get(f"/webhooks/{endpoint.id}").text
    edit = f"/webhooks/{endpoint.id}/edit"
    _post(client, edit, url="https://fixed.example.com/h", events=["email.delivered"])  # still disabled
    assert _only().url == "https://fixed.example.com/h" and "410 Gone" in _only().disabled_reason
    _post(client, "/webhooks", f"/webhooks/{endpoint.id}/enable")
    assert _only().enabled and _only().disabled_reason is None
    assert "410 Gone" not in client.get("/webhooks").text


def test_the_deliveries_page_with_test_ping_and_replay(client, owner, receiver, run_webhook_jobs):
    endpoint = webhooks.create(owner.account_id, receiver.url("/hook"), ["email.delivered"])
    receiver.script("/hook", Reply(500, body="receiver exploded"), Reply(200, body="fine"))
    page_url = f"/webhooks/{endpoint.id}"
    assert "No deliveries" in client.get(page_url).text

    response = _post(client, page_url, f"/webhooks/{endpoint.id}/test")
    assert response.status_code == 302 and response.headers["Location"].endswith(page_url)
    run_webhook_jobs()

    page = html.unescape(client.get(page_url).text)
    delivery = db.session.scalar(sa.select(WebhookDelivery))
    assert "webhook.test" in page and delivery.event.public_id in page
    assert "500" in page and "receiver exploded" in page and "pending" in page
    assert "webhook-signature" in page and "Attempt 1" in page  # the expandable request detail
    assert '"type": "webhook.test"' in page  # the request body, pretty-printed
    assert "Retry now" in page

    _post(client, page_url, f"/webhooks/{endpoint.id}/deliveries/{delivery.id}/replay")
    run_webhook_jobs()
    db.session.expire_all()
    assert db.session.get(WebhookDelivery, delivery.id).status.value == "succeeded"
    [first, second] = receiver.to("/hook")
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    verify(endpoint.secret, second)
    page = client.get(page_url).text
    assert "succeeded" in page and "Attempt 2" in page and ">Replay<" in page
    assert "fine" in client.get(f"{page_url}?status=succeeded").text
    assert "No deliveries with status failed" in client.get(f"{page_url}?status=failed").text

    _post(client, page_url, f"/webhooks/{endpoint.id}/deliveries/{delivery.id}/replay")
    assert db.session.scalar(sa.select(sa.func.count(WebhookDelivery.id))) == 2  # a finished one: a new row


def test_test_ping_on_a_disabled_endpoint_explains(client, owner):
    endpoint = webhooks.create(owner.account_id, URL, ["email.delivered"], enabled=False)

    response = _post(client, f"/webhooks/{endpoint.id}", f"/webhooks/{endpoint.id}/test")

    assert response.status_code == 302
    assert "enable it to send a test" in client.get(f"/webhooks/{endpoint.id}").text
    assert db.session.scalar(sa.select(sa.func.count(WebhookDelivery.id))) == 0


def test_other_roles_may_look_but_not_change(client, make_user, auth):
    admin = make_user()
    endpoint = webhooks.create(admin.account_id, URL, ["email.delivered"])
    outbox.emit(db.session, admin.account_id, "email.delivered", {"email_id": 1})
    db.session.commit()
    make_user("support@example.com", Role.SUPPORT, account=db.session.get(type(admin), admin.id).account.name)
    auth.login("support@example.com", PASSWORD)

    assert URL in client.get("/webhooks").text and "Rotate secret" not in client.get("/webhooks").text
    page = client.get(f"/webhooks/{endpoint.id}")
    assert page.status_code == 200 and "Send test ping" not in page.text and "Replay" not in page.text
    token = csrf_token(page.text)
    delivery_id = db.session.scalar(sa.select(WebhookDelivery.id))
    for url in (
        "/webhooks/new",
        f"/webhooks/{endpoint.id}/edit",
        f"/webhooks/{endpoint.id}/disable",
        f"/webhooks/{endpoint.id}/rotate",
        f"/webhooks/{endpoint.id}/delete",
        f"/webhooks/{endpoint.id}/test",
        f"/webhooks/{endpoint.id}/deliveries/{delivery_id}/replay",
    ):
        assert client.post(url, data={"csrf_token": token, "url": "https://evil.example.com/"}).status_code == 404
    db.session.expire_all()
    assert _only().url == URL and _only().enabled and _only().secret == endpoint.secret
    assert db.session.scalar(sa.select(sa.func.count(WebhookDelivery.id))) == 1
