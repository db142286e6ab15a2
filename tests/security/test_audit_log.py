"""The audit log: the admin page, and the events the services write with the change they record."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Role, Setting
from app.models.audit import AuditEvent
from app.models.base import utcnow
from app.services import accounts, audience, audit, subscribers, suppressions
from app.services.errors import NotFound
from tests.conftest import PASSWORD, csrf_token
from tests.factories import add_subscribers, make_list

ANN = "ann@example.com"


def events(action: str | None = None) -> list[AuditEvent]:
    db.session.expire_all()
    stmt = sa.select(AuditEvent).order_by(AuditEvent.id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return list(db.session.scalars(stmt))


def rows(page: str) -> list[str]:
    """The audit table's rows as text, tags stripped, whitespace squeezed."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in body.split("<tr>")[1:]]


@pytest.fixture
def admin(make_user):
    return make_user("admin@example.com")


@pytest.fixture
def signed_in(app, separate_sessions):
    def sign_in(email: str, **environ):
        client = app.test_client()
        if environ:
            client.environ_base.update(environ)
        page = client.get("/login")
        response = client.post(
            "/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_token(page.text)}
        )
        assert response.status_code == 302
        return client

    return sign_in


def post(client, url: str, data: dict | None = None):
    return client.post(url, data={"csrf_token": csrf_token(client.get("/").text), **(data or {})})


# The page


def forget_events() -> None:
    """Start from an empty log (signing in may itself be an event)."""
    db.session.execute(sa.delete(AuditEvent))
    db.session.commit()


def test_the_page_lists_the_accounts_events_newest_first_with_every_column(app, admin, make_user, signed_in):
    stranger = make_user("stranger@example.com")
    client = signed_in("admin@example.com")
    forget_events()
    audit.record("token_created", user=admin, target="token pr_abc", detail={"name": "CRM"})
    audit.record("suppression_removed", user=admin, target="bob@example.com", detail={"reason": "hard_bounce"})
    audit.record("token_created", user=stranger, target="token pr_theirs")
    db.session.commit()
    db.session.execute(sa.update(AuditEvent).values(ip="198.51.100.4"))
    db.session.commit()

    page = client.get("/admin/audit")

    assert page.status_code == 200
    listed = rows(page.text)
    assert len(listed) == 2  # the stranger's account is not ours
    assert "lifted a suppression" in listed[0] and "bob@example.com" in listed[0]
    assert "admin@example.com" in listed[0] and "198.51.100.4" in listed[0] and "reason: hard_bounce" in listed[0]
    assert "created an API token" in listed[1] and "token pr_abc" in listed[1] and "name: CRM" in listed[1]
    assert "pr_theirs" not in page.text and "stranger@example.com" not in page.text


def test_stored_text_is_escaped(app, admin, signed_in):
    audit.record(
        "settings_changed",
        user=admin,
        actor="<b>actor</b>",
        target='<script>alert("t")</script>',
        detail={"<i>k</i>": "<img src=x onerror=alert(1)>"},
    )
    db.session.commit()

    text = signed_in("admin@example.com").get("/admin/audit").text

    assert "<script>alert" not in text and "<img src=x" not in text and "<b>actor</b>" not in text
    assert "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt;" in text and "&lt;img src=x onerror=alert(1)&gt;" in text


def test_filter_by_action_and_an_unknown_action_shows_all(app, admin, signed_in):
    client = signed_in("admin@example.com")
    forget_events()
    for action in ("login", "logout", "login", "token_revoked"):
        audit.record(action, user=admin)
    db.session.commit()
    total = len(events())

    assert len(rows(client.get("/admin/audit?action=login").text)) == len(events("login"))
    assert len(rows(client.get("/admin/audit?action=token_revoked").text)) == 1
    page = client.get("/admin/audit?action=token_revoked").text
    assert '<option value="token_revoked" selected>' in page
    assert len(rows(client.get("/admin/audit?action=drop%20table").text)) == total
    empty = client.get("/admin/audit?action=user_disabled")
    assert empty.status_code == 200 and "No events match this filter" in empty.text


def test_keyset_pages_of_fifty(app, admin, signed_in):
    start = utcnow() - timedelta(hours=2)
    for number in range(120):
        event = audit.record("token_created", user=admin, target=f"token #{number:03}")
        event.created_at = start + timedelta(seconds=number)
    db.session.commit()
    client = signed_in("admin@example.com")
    seen, url = [], "/admin/audit?action=token_created"
    while url:
        page = client.get(url).text
        seen += [re.search(r"token #(\d{3})", row).group(1) for row in rows(page)]
        older = re.search(r'href="(/admin/audit\?[^"]*before=\d+[^"]*)">Older', page)
        url = older.group(1).replace("&amp;", "&") if older else None
        assert "action=token_created" in (url or "action=token_created")  # the filter stays on
    assert seen == [f"{n:03}" for n in reversed(range(120))]
    assert client.get("/admin/audit?before=abc").status_code == 200  # a bad cursor is the first page
    assert client.get("/admin/audit?before=99999999999999").status_code == 200


def test_empty_state(app, admin, signed_in):
    client = signed_in("admin@example.com")
    forget_events()
    page = client.get("/admin/audit")
    assert page.status_code == 200 and "Nothing recorded yet" in page.text and "<table" not in page.text


@pytest.mark.parametrize("role", [Role.MARKETER, Role.SUPPORT])
def test_only_admins_see_the_page_and_its_links(app, admin, make_user, signed_in, role):
    make_user(f"{role.value}@example.com", role, admin.account.name)
    audit.record("token_created", user=admin, target="token pr_secret")
    db.session.commit()
    client = signed_in(f"{role.value}@example.com")
    refused = client.get("/admin/audit")
    assert refused.status_code == 404 and "pr_secret" not in refused.text
    assert 'href="/admin/audit"' not in client.get("/").text

    admin_client = signed_in("admin@example.com")
    assert 'href="/admin/audit"' in admin_client.get("/").text  # the Setup menu
    assert 'href="/admin/audit"' in admin_client.get("/settings").text


def test_the_page_needs_a_login(client, admin):
    response = client.get("/admin/audit")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# Events written by the services


def test_lifting_a_suppression_in_the_dashboard_records_who_from_where(app, admin, signed_in):
    row = suppressions.add(admin.account_id, "bob@example.com", "hard_bounce", "550 user unknown")
    client = signed_in("admin@example.com", REMOTE_ADDR="192.0.2.10")

    response = post(client, f"/suppressions/{row.id}/delete")

    assert response.status_code == 302
    [event] = events("suppression_removed")
    assert (event.account_id, event.user_id, event.actor) == (admin.account_id, admin.id, "admin@example.com")
    assert (event.target, event.ip) == ("bob@example.com", "192.0.2.10")
    assert event.detail == {"reason": "hard_bounce", "note": "550 user unknown"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(sa.text("suppressions"))) == 0


def test_lifting_a_suppression_through_the_api_records_the_tokens_user(app, client, make_user):
    marketer = make_user("marketer@example.com", Role.MARKETER)
    _, token = accounts.issue_token(marketer, "CRM")
    suppressions.add(marketer.account_id, "bob@example.com")

    response = client.delete(
        "/api/v1/suppressions/bob%40example.com",
        headers={"Authorization": f"Bearer {token}"},
        environ_base={"REMOTE_ADDR": "192.0.2.11"},
    )

    assert response.status_code == 204
    [event] = events("suppression_removed")
    assert (event.actor, event.user_id, event.target, event.ip) == (
        "marketer@example.com",
        marketer.id,
        "bob@example.com",
        "192.0.2.11",
    )


def test_nothing_is_recorded_when_nothing_is_lifted(app, admin):
    with pytest.raises(NotFound):
        suppressions.remove_by_email(admin.account_id, "nobody@example.com", user=admin)
    assert events() == []


def test_exports_are_recorded(app, admin, signed_in, client):
    mailing_list = make_list(admin.account_id, "Customers")
    add_subscribers(admin.account_id, mailing_list.id, 3)
    ann = subscribers.add(admin.account_id, mailing_list.id, ANN, "Ann")
    web = signed_in("admin@example.com")

    assert web.get(f"/lists/{mailing_list.id}/export.csv?status=confirmed").status_code == 200
    assert web.get(f"/subscribers/{ann.id}/export.json").status_code == 200
    _, token = accounts.issue_token(admin, "Export")
    api = client.get(f"/api/v1/lists/{mailing_list.id}/export", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200 and ANN in api.text

    web_list, api_list = events("list_exported")
    assert web_list.target == f"list {mailing_list.id} (Customers)" and web_list.detail == {"status": "confirmed"}
    assert api_list.detail == {"status": "all"} and api_list.actor == "admin@example.com"
    [person] = events("subscriber_exported")
    assert (person.target, person.actor, person.detail) == (ANN, "admin@example.com", {"subscriptions": 1, "emails": 0})


def test_an_erasure_is_recorded_without_the_address_and_cuts_it_from_earlier_events(app, admin, signed_in):
    mailing_list = make_list(admin.account_id)
    ann = subscribers.add(admin.account_id, mailing_list.id, ANN, "Ann")
    suppressions.add(admin.account_id, "bob@example.com")
    suppressions.remove_by_email(admin.account_id, "bob@example.com", user=admin)  # someone else: kept
    audience.export(admin.account_id, ANN, user=admin)
    audit.record("settings_changed", user=admin, target="notes", detail={"about": f"wrote to {ANN.upper()}"})
    db.session.commit()
    client = signed_in("admin@example.com")

    response = post(client, f"/subscribers/{ann.id}/erase", {"confirm": ANN})

    assert response.status_code == 302
    [erased] = events("subscriber_erased")
    assert erased.actor == "admin@example.com" and erased.target == audience.ERASED
    assert erased.detail == {"subscriptions": 1, "emails": 0, "cancelled": 0, "suppressions": 0}
    [exported] = events("subscriber_exported")
    assert exported.target == audience.ERASED and exported.actor == "admin@example.com"
    [note] = events("settings_changed")
    assert note.detail == {"about": f"wrote to {audience.ERASED}"}
    assert events("suppression_removed")[0].target == "bob@example.com"
    everything = " ".join(f"{e.actor} {e.target} {e.detail}" for e in events()).lower()
    assert ANN not in everything
    assert ANN not in client.get("/admin/audit").text


def test_changing_registration_is_recorded_and_saving_it_unchanged_is_not(app, admin, signed_in):
    client = signed_in("admin@example.com", REMOTE_ADDR="192.0.2.12")
    assert post(client, "/settings", {"registration_open": "1"}).status_code == 302  # open already
    assert events("settings_changed") == []

    post(client, "/settings", {"registration_open": "0"})

    [event] = events("settings_changed")
    assert (event.actor, event.target, event.detail, event.ip) == (
        "admin@example.com",
        "registration",
        {"registration_open": False},
        "192.0.2.12",
    )
    assert db.session.get(Setting, accounts.REGISTRATION_KEY).value == "0"
