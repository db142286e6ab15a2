"""Another account's ids answer 404 (never 403) on every API route that names an object.

The census enumerates the API's routes: a new route with an id in its path fails here until it
has a case.
"""

from __future__ import annotations

import io
import re
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from app.api.openapi import OPERATIONS
from app.extensions import db
from app.models import (
    Campaign,
    EmailTemplate,
    MailingList,
    Provider,
    SentEmail,
    Subscriber,
    Suppression,
    WebhookDelivery,
    WebhookEndpoint,
)
from app.services import imports, providers, suppressions, templates, webhooks
from app.webhooks import outbox
from tests.factories import make_list

# (method, path template, body) for every API route whose path names an object.
OBJECT_ROUTES = [
    ("GET", "/api/v1/lists/{list}", None),
    ("PATCH", "/api/v1/lists/{list}", {"name": "Mine now"}),
    ("DELETE", "/api/v1/lists/{list}", None),
    ("GET", "/api/v1/lists/{list}/subscribers", None),
    ("POST", "/api/v1/lists/{list}/subscribers", {"email": "spy@example.com", "status": "pending"}),
    ("GET", "/api/v1/subscribers/{subscriber}", None),
    ("PATCH", "/api/v1/subscribers/{subscriber}", {"status": "unsubscribed"}),
    ("DELETE", "/api/v1/subscribers/{subscriber}", None),
    ("POST", "/api/v1/lists/{list}/imports", None),
    ("GET", "/api/v1/lists/{list}/imports", None),
    ("GET", "/api/v1/lists/{list}/export", None),
    ("GET", "/api/v1/imports/{import}", None),
    ("GET", "/api/v1/imports/{import}/errors", None),
    ("GET", "/api/v1/campaigns/{campaign}", None),
    ("PATCH", "/api/v1/campaigns/{campaign}", {"subject": "Mine now"}),
    ("POST", "/api/v1/campaigns/{campaign}/send", None),
    ("POST", "/api/v1/campaigns/{campaign}/pause", None),
    ("POST", "/api/v1/campaigns/{campaign}/resume", None),
    ("POST", "/api/v1/campaigns/{campaign}/cancel", None),
    ("GET", "/api/v1/campaigns/{campaign}/stats", None),
    ("GET", "/api/v1/emails/{email}", None),
    ("GET", "/api/v1/providers/{provider}", None),
    ("PATCH", "/api/v1/providers/{provider}", {"name": "Mine now", "smtp_url": "smtp://spy.test"}),
    ("DELETE", "/api/v1/providers/{provider}", None),
    ("DELETE", "/api/v1/suppressions/{suppression}", None),
    ("GET", "/api/v1/templates/{template}", None),
    ("PATCH", "/api/v1/templates/{template}", {"name": "Mine now"}),
    ("DELETE", "/api/v1/templates/{template}", None),
    ("GET", "/api/v1/webhooks/{webhook}", None),
    ("PATCH", "/api/v1/webhooks/{webhook}", {"url": "https://spy.example.com/"}),
    ("DELETE", "/api/v1/webhooks/{webhook}", None),
    ("POST", "/api/v1/webhooks/{webhook}/rotate-secret", None),
    ("POST", "/api/v1/webhooks/{webhook}/test", None),
    ("GET", "/api/v1/webhooks/{webhook}/deliveries", None),
    ("GET", "/api/v1/webhooks/{webhook}/deliveries/{delivery}", None),
    ("POST", "/api/v1/webhooks/{webhook}/deliveries/{delivery}/replay", None),
]


@pytest.fixture
def other(other):
    """The other account of conftest, with an SMTP provider and a suppressed address too."""
    provider = providers.create(other["user"].account_id, "Their relay", "smtp://them:pw@relay.test:25")
    suppression = suppressions.add(other["user"].account_id, "blocked@theirs.example.com")
    template = templates.create(other["user"].account_id, {"name": "Theirs", "text": "Hi {{ name }}"})
    webhook = webhooks.create(other["user"].account_id, "https://theirs.example.com/hook", ["email.delivered"])
    upload = imports.create(other["user"].account_id, other["list"], io.BytesIO(b"new@theirs.example.com\n"))
    [delivery] = outbox.emit(db.session, other["user"].account_id, "email.delivered", {"email_id": other["email"]})
    db.session.commit()
    return other | {
        "webhook": webhook.id,
        "delivery": delivery,
        "provider": provider.id,
        "suppression": quote(suppression.email, safe=""),
        "template": template.id,
        "import": upload.id,
    }


def _shape(path: str) -> str:
    """A path with every id placeholder, Flask's or ours, replaced by {}."""
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def test_census_every_object_route_has_a_case():
    covered = {(method, _shape(template.removeprefix("/api/v1"))) for method, template, _ in OBJECT_ROUTES}
    missing = [
        f"{op.method} {op.rule}" for op in OPERATIONS if op.path_params and (op.method, _shape(op.rule)) not in covered
    ]
    assert not missing, f"API object routes without an access-control case: {missing}"


def _snapshot() -> list:
    return [
        list(db.session.execute(sa.select(MailingList.id, MailingList.name).order_by(MailingList.id))),
        list(db.session.execute(sa.select(Subscriber.id, Subscriber.name, Subscriber.status).order_by(Subscriber.id))),
        list(db.session.execute(sa.select(Campaign.id, Campaign.subject, Campaign.status).order_by(Campaign.id))),
        list(db.session.execute(sa.select(SentEmail.id, SentEmail.status).order_by(SentEmail.id))),
        list(db.session.execute(sa.select(Provider.id, Provider.name, Provider.smtp_url).order_by(Provider.id))),
        list(db.session.execute(sa.select(Suppression.id, Suppression.email).order_by(Suppression.id))),
        list(db.session.execute(sa.select(EmailTemplate.id, EmailTemplate.name).order_by(EmailTemplate.id))),
        list(
            db.session.execute(
                sa.select(WebhookEndpoint.id, WebhookEndpoint.url, WebhookEndpoint.secret).order_by(WebhookEndpoint.id)
            )
        ),
        list(db.session.execute(sa.select(WebhookDelivery.id, WebhookDelivery.next_attempt_at))),
    ]


@pytest.mark.parametrize(("method", "template", "body"), OBJECT_ROUTES)
def test_other_accounts_objects_are_404_and_unchanged(api, other, run_jobs, smtp_server, method, template, body):
    run_jobs()
    received = len(smtp_server.received)
    before = _snapshot()

    response = getattr(api, method.lower())(template.format(**other), json=body)

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    run_jobs()
    db.session.expire_all()
    assert _snapshot() == before
    assert len(smtp_server.received) == received


@pytest.mark.parametrize(("method", "template", "body"), OBJECT_ROUTES)
def test_the_owner_reaches_the_same_routes(api, anon, other, method, template, body):
    """The control: with the other account's own token the same requests do not 404."""
    response = getattr(anon, method.lower())(
        template.format(**other), json=body, headers={"Authorization": f"Bearer {other['token']}"}
    )

    assert response.status_code != 404, response.get_json()


def test_collections_show_only_your_own_objects(api, owner, other):
    mine = make_list(owner.account_id, "Mine")

    assert [item["id"] for item in api.get("/api/v1/lists").get_json()["data"]] == [mine.id]
    assert api.get("/api/v1/campaigns").get_json()["data"] == []
    assert api.get("/api/v1/emails").get_json()["data"] == []
    assert api.get(f"/api/v1/emails?campaign_id={other['campaign']}").get_json()["data"] == []


def test_a_campaign_cannot_use_another_accounts_list(api, other):
    response = api.post(
        "/api/v1/campaigns",
        json={"list_id": other["list"], "subject": "Hi", "from_email": "me@example.com", "text": "Hi"},
    )

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "list_id"
