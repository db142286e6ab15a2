"""A second account sees none of the first account's objects: 404 on every object route.

The census below enumerates ``app.url_map``: a new dashboard route that takes an object id
fails this test until it has a case here. Roles within one account (support changes nothing,
marketers no users, settings, providers or webhooks) have their census in test_roles.py.
"""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    ApiToken,
    Campaign,
    EmailTemplate,
    MailingList,
    Provider,
    SentEmail,
    Subscriber,
    Suppression,
    User,
    WebhookDelivery,
    WebhookEndpoint,
)
from app.services import accounts, campaigns, imports, providers, suppressions, templates, webhooks
from app.webhooks import outbox
from tests.conftest import PASSWORD, csrf_token
from tests.factories import add_subscribers, make_campaign, make_list

# (method, url template) for every dashboard route that names an object.
OBJECT_ROUTES = [
    ("GET", "/lists/{list}"),
    ("POST", "/lists/{list}/tracking"),
    ("GET", "/lists/{list}/import"),
    ("POST", "/lists/{list}/import"),
    ("GET", "/lists/{list}/export.csv"),
    ("GET", "/imports/{import}"),
    ("GET", "/imports/{import}/progress"),
    ("GET", "/imports/{import}/errors.csv"),
    ("POST", "/lists/{list}/subscribers"),
    ("POST", "/subscribers/{subscriber}/unsubscribe"),
    ("GET", "/subscribers/{subscriber}"),
    ("POST", "/subscribers/{subscriber}/status"),
    ("POST", "/subscribers/{subscriber}/attributes"),
    ("GET", "/subscribers/{subscriber}/export.json"),
    ("GET", "/subscribers/{subscriber}/erase"),
    ("POST", "/subscribers/{subscriber}/erase"),
    ("GET", "/campaigns/{campaign}"),
    ("GET", "/campaigns/{campaign}/edit"),
    ("POST", "/campaigns/{campaign}/edit"),
    ("GET", "/campaigns/{campaign}/progress"),
    ("GET", "/campaigns/{campaign}/analytics"),
    ("GET", "/campaigns/{campaign}/preview"),
    ("POST", "/campaigns/{campaign}/send"),
    ("POST", "/campaigns/{campaign}/pause"),
    ("POST", "/campaigns/{campaign}/resume"),
    ("POST", "/campaigns/{campaign}/cancel"),
    ("POST", "/campaigns/{campaign}/test"),
    ("POST", "/campaigns/{campaign}/duplicate"),
    ("POST", "/campaigns/{campaign}/save-template"),
    ("GET", "/emails/{email}"),
    ("GET", "/emails/{email}/row"),
    ("GET", "/emails/{email}/detail"),
    ("POST", "/suppressions/{suppression}/delete"),
    ("GET", "/providers/{provider}/edit"),
    ("POST", "/providers/{provider}/edit"),
    ("POST", "/providers/{provider}/delete"),
    ("GET", "/tokens/{token}/revoke"),
    ("POST", "/tokens/{token}/revoke"),
    ("GET", "/templates/{template}"),
    ("GET", "/templates/{template}/preview"),
    ("GET", "/templates/{template}/edit"),
    ("POST", "/templates/{template}/edit"),
    ("POST", "/templates/{template}/delete"),
    ("GET", "/webhooks/{webhook}"),
    ("GET", "/webhooks/{webhook}/edit"),
    ("POST", "/webhooks/{webhook}/edit"),
    ("POST", "/webhooks/{webhook}/enable"),
    ("POST", "/webhooks/{webhook}/disable"),
    ("POST", "/webhooks/{webhook}/delete"),
    ("POST", "/webhooks/{webhook}/rotate"),
    ("POST", "/webhooks/{webhook}/test"),
    ("POST", "/webhooks/{webhook}/deliveries/{delivery}/replay"),
    ("POST", "/users/{user}/role"),
    ("POST", "/users/{user}/disable"),
    ("POST", "/users/{user}/enable"),
]

# rq-dashboard's numbers name a Redis instance and a page, not an account's object: the whole
# mount is for admins only, and tests/web/test_rq_dashboard.py checks every one of its routes.
ADMIN_ONLY_PREFIXES = ("/admin/rq/",)


def _shape(path: str) -> str:
    """A path with every id placeholder, Flask's or ours, replaced by {}."""
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def test_census_every_object_route_has_a_case(app):
    covered = {(m, _shape(t)) for m, t in OBJECT_ROUTES}
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/", *ADMIN_ONLY_PREFIXES)) or "<int:" not in rule.rule:
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if (method, _shape(rule.rule)) not in covered:
                missing.append(f"{method} {rule.rule}")
    assert not missing, f"object routes without an access-control case: {missing}"


@pytest.fixture
def victim(app, make_user, run_jobs):
    """Account A with a list, a subscriber, a sent campaign and a draft."""
    owner = make_user("victim@example.com")
    mailing_list = make_list(owner.account_id)
    add_subscribers(owner.account_id, mailing_list.id, 2)
    sent = make_campaign(owner.account_id, mailing_list.id)
    campaigns.send(owner.account_id, sent.id)
    run_jobs()
    draft = make_campaign(owner.account_id, mailing_list.id, subject="Draft")
    suppression = suppressions.add(owner.account_id, "blocked@example.com")
    provider = providers.create(owner.account_id, "Victim relay", "smtp://victim:pw@relay.test:25")
    token, _ = accounts.issue_token(owner, "Victim key")
    template = templates.create(owner.account_id, {"name": "Receipt", "html": "<p>Hi {{ name }}</p>"})
    webhook = webhooks.create(owner.account_id, "https://victim.example.com/hook", ["email.delivered"])
    [delivery] = outbox.emit(db.session, owner.account_id, "email.delivered", {"email_id": 1})
    db.session.commit()
    upload = imports.create(owner.account_id, mailing_list.id, io.BytesIO(b"imported@example.com\n"), "v.csv")
    return {
        "user": owner.id,
        "import": upload.id,
        "webhook": webhook.id,
        "delivery": delivery,
        "list": mailing_list.id,
        "subscriber": db.session.scalar(sa.select(Subscriber.id).limit(1)),
        "campaign": draft.id,
        "email": db.session.scalar(sa.select(SentEmail.id).limit(1)),
        "suppression": suppression.id,
        "provider": provider.id,
        "token": token.id,
        "template": template.id,
    }


@pytest.mark.parametrize("method,template", OBJECT_ROUTES)
def test_other_account_gets_404_and_changes_nothing(
    app, client, auth, make_user, victim, method, template, smtp_server
):
    make_user("intruder@example.com")
    auth.login("intruder@example.com", PASSWORD)
    url = template.format(**victim)
    before = _snapshot()
    received = len(smtp_server.received)
    if method == "GET":
        response = client.get(url)
    else:
        token = csrf_token(client.get("/lists/new").text)
        response = client.post(
            url,
            data={
                "csrf_token": token,
                "email": "x@example.com",
                "subject": "pwned",
                "list_id": str(victim["list"]),
                "from_email": "a@example.com",
                "body": "x",
                "body_format": "markdown",
                "status": "unsubscribed",
                "role": "support",
                "confirm": "user0@example.com",
                "attributes": '{"pwned": true}',
            },
        )
    assert response.status_code == 404
    assert _snapshot() == before
    assert len(smtp_server.received) == received


def _snapshot():
    db.session.expire_all()
    return (
        db.session.scalar(sa.select(sa.func.count(Subscriber.id))),
        list(db.session.execute(sa.select(MailingList.id, MailingList.tracking).order_by(MailingList.id))),
        [(c.id, c.status, c.subject) for c in db.session.scalars(sa.select(Campaign).order_by(Campaign.id))],
        [(s.id, s.status, s.attributes) for s in db.session.scalars(sa.select(Subscriber).order_by(Subscriber.id))],
        db.session.scalar(sa.select(sa.func.count(SentEmail.id))),
        [(p.id, p.name, p.smtp_url, p.enabled) for p in db.session.scalars(sa.select(Provider).order_by(Provider.id))],
        db.session.scalar(sa.select(sa.func.count(Suppression.id))),
        [(t.id, t.revoked_at) for t in db.session.scalars(sa.select(ApiToken).order_by(ApiToken.id))],
        [(t.id, t.name, t.html) for t in db.session.scalars(sa.select(EmailTemplate).order_by(EmailTemplate.id))],
        [
            (w.id, w.url, w.events, w.enabled, w.secret)
            for w in db.session.scalars(sa.select(WebhookEndpoint).order_by(WebhookEndpoint.id))
        ],
        list(db.session.execute(sa.select(WebhookDelivery.id, WebhookDelivery.next_attempt_at))),
        list(db.session.execute(sa.select(User.id, User.role, User.active).order_by(User.id))),
    )


def test_lists_and_logs_show_only_own_objects(app, client, auth, make_user, victim):
    make_user("intruder@example.com")
    auth.login("intruder@example.com", PASSWORD)
    for page in ("/", "/lists", "/campaigns", "/emails", "/tokens", "/webhooks"):
        body = client.get(page).text
        assert "user0@example.com" not in body and "Newsletter" not in body and "Hello there" not in body
        assert "Victim key" not in body and "victim.example.com" not in body


def test_send_log_filtered_by_another_accounts_campaign_shows_nothing(app, client, auth, make_user, victim):
    sent_campaign = db.session.scalar(sa.select(SentEmail.campaign_id).where(SentEmail.campaign_id.is_not(None)))
    make_user("intruder@example.com")
    auth.login("intruder@example.com", PASSWORD)
    for query in (f"campaign_id={sent_campaign}", f"campaign_id={sent_campaign}&status=delivered"):
        body = client.get(f"/emails?{query}").text
        assert "user0@example.com" not in body and "user1@example.com" not in body
    auth.logout()
    auth.login("victim@example.com", PASSWORD)
    assert "user0@example.com" in client.get(f"/emails?campaign_id={sent_campaign}").text


def test_dashboard_needs_login(client, victim):
    for url in ("/", "/lists", "/campaigns", "/emails", f"/lists/{victim['list']}", "/settings", "/tokens"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_campaign_cannot_target_another_accounts_list(app, client, auth, make_user, victim):
    make_user("intruder@example.com")
    auth.login("intruder@example.com", PASSWORD)
    from tests.factories import make_list as own_list

    intruder = db.session.scalar(sa.select(Subscriber.account_id).limit(1))  # noqa: F841
    page = client.get("/campaigns/new")
    assert page.status_code == 302  # no list of their own yet: sent to create one
    from app.models import User

    me = db.session.scalar(sa.select(User).where(User.email == "intruder@example.com"))
    own_list(me.account_id, "Mine")
    page = client.get("/campaigns/new")
    response = client.post(
        "/campaigns/new",
        data={
            "csrf_token": csrf_token(page.text),
            "list_id": str(victim["list"]),
            "subject": "x",
            "from_email": "a@example.com",
            "body": "x",
            "body_format": "markdown",
        },
    )
    assert response.status_code == 200  # the form comes back with an error
    assert db.session.scalar(sa.select(sa.func.count(Campaign.id)).where(Campaign.account_id == me.account_id)) == 0
