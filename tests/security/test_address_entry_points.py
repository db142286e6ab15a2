"""CR, LF and NUL inside an address are refused at every entry point, and nothing is written.

Each entry point (a public form, a dashboard form, an API route, a CSV upload, the command line)
gets the same addresses with a line break or NUL inside. Every one must be refused: no 5xx, no
row added or changed, no e-mail sent, and no stored address anywhere holding one of the three
characters. (In the line-oriented bulk inputs, a CSV file and the pasted suppression list, a
bare line break ends the line: there the payloads sit inside a quoted cell, or use CR and NUL.)
"""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from flask import g

from app.extensions import db
from app.models import Campaign, SentEmail, Subscriber, Suppression, TransactionalEmail, User
from app.services import accounts
from tests.conftest import PASSWORD, csrf_token
from tests.factories import make_campaign, make_list

ADDRESSES = [
    "a@example.com\r\nBcc: evil@evil.test",
    "a@example.com\nRCPT TO:<evil@evil.test>",
    "a@example.com>\r\nDATA",
    "a@exa\rmple.com",
    "a@exa\x00mple.com",
    "\x00a@example.com",
]
LINE_SAFE = [a for a in ADDRESSES if "\n" not in a]  # for inputs where a line break ends the entry


def _csv_cell(address: str) -> str:
    return '"' + address.replace('"', '""') + '"'


@pytest.fixture
def world(app, client, auth, api_token, make_user):
    """owner@example.com signed in (session and API token), a list, a draft campaign."""
    user = db.session.scalar(sa.select(User).where(User.email == "owner@example.com"))
    mailing_list = make_list(user.account_id, "Readers")
    draft = make_campaign(user.account_id, mailing_list.id)
    accounts.set_registration_open(True)
    auth.login("owner@example.com", PASSWORD)
    return {"list": mailing_list, "draft": draft, "token": api_token, "csrf": csrf_token(client.get("/lists/new").text)}


def _api(client, world, method: str, path: str, **kwargs):
    headers = {"Authorization": f"Bearer {world['token']}", **kwargs.pop("headers", {})}
    return client.open(path, method=method, headers=headers, **kwargs)


def _form(client, world, path: str, data: dict, **kwargs):
    return client.post(path, data={"csrf_token": world["csrf"], **data}, **kwargs)


def _upload(client, world, path: str, text: str, **fields):
    data = {"file": (io.BytesIO(text.encode()), "list.csv"), **fields}
    return _form(client, world, path, data, content_type="multipart/form-data")


def _as_visitor(app, call):
    """``call(client)`` with a client that has no session.

    The tests share one app context, whose ``g`` caches Flask-Login's user and Flask-WTF's CSRF
    token between requests: forget both before and after, so each client's requests use its own.
    """
    _forget_session_caches()
    try:
        return call(app.test_client())
    finally:
        _forget_session_caches()


def _forget_session_caches() -> None:
    g.pop("_login_user", None)
    g.pop("csrf_token", None)


def _register(app, address: str):
    def register(visitor):
        token = csrf_token(visitor.get("/register").text)
        data = {"email": address, "password": "a long enough password", "csrf_token": token}
        return visitor.post("/register", data=data)

    return _as_visitor(app, register)


CAMPAIGN = {"subject": "Hi", "from_name": "News", "body": "Hello", "body_format": "markdown"}
ENTRY_POINTS = {
    "public subscribe form": lambda app, c, w, a: _as_visitor(
        app, lambda visitor: visitor.post(f"/s/{w['list'].public_id}", data={"email": a})
    ),
    "dashboard: add subscriber": lambda app, c, w, a: _form(c, w, f"/lists/{w['list'].id}/subscribers", {"email": a}),
    "API: add subscriber": lambda app, c, w, a: _api(
        c, w, "POST", f"/api/v1/lists/{w['list'].id}/subscribers", json={"email": a, "status": "confirmed"}
    ),
    "dashboard: CSV import": lambda app, c, w, a: _upload(
        c, w, f"/lists/{w['list'].id}/import", f"email,name\n{_csv_cell(a)},x\n", status="confirmed"
    ),
    "API: CSV import": lambda app, c, w, a: _api(
        c,
        w,
        "POST",
        f"/api/v1/lists/{w['list'].id}/imports",
        data=f"email\n{_csv_cell(a)}\n".encode(),
        headers={"Content-Type": "text/csv"},
    ),
    "API: transactional to": lambda app, c, w, a: _api(
        c, w, "POST", "/api/v1/emails", json={"to": a, "from_email": "shop@example.com", "subject": "x", "text": "x"}
    ),
    "API: transactional from_email": lambda app, c, w, a: _api(
        c, w, "POST", "/api/v1/emails", json={"to": "b@example.com", "from_email": a, "subject": "x", "text": "x"}
    ),
    "API: campaign from_email": lambda app, c, w, a: _api(
        c,
        w,
        "POST",
        "/api/v1/campaigns",
        json={"list_id": w["list"].id, "subject": "x", "from_email": a, "html": "<p>x</p>"},
    ),
    "API: campaign from_email changed": lambda app, c, w, a: _api(
        c, w, "PATCH", f"/api/v1/campaigns/{w['draft'].id}", json={"from_email": a}
    ),
    "dashboard: campaign from_email": lambda app, c, w, a: _form(
        c, w, "/campaigns/new", {**CAMPAIGN, "list_id": str(w["list"].id), "from_email": a}
    ),
    "dashboard: campaign from_email changed": lambda app, c, w, a: _form(
        c, w, f"/campaigns/{w['draft'].id}/edit", {**CAMPAIGN, "list_id": str(w["list"].id), "from_email": a}
    ),
    "dashboard: test-send addresses": lambda app, c, w, a: _form(
        c, w, f"/campaigns/{w['draft'].id}/test", {"addresses": a}
    ),
    "dashboard: suppress": lambda app, c, w, a: _form(c, w, "/suppressions", {"email": a, "reason": "manual"}),
    "API: suppress": lambda app, c, w, a: _api(c, w, "POST", "/api/v1/suppressions", json={"email": a}),
    "dashboard: suppression CSV import": lambda app, c, w, a: _upload(
        c, w, "/suppressions/import", f"email\n{_csv_cell(a)}\n", reason="manual"
    ),
    "dashboard: suppression pasted list": lambda app, c, w, a: _form(
        c, w, "/suppressions/import", {"addresses": a, "reason": "manual"}
    ),
    "dashboard: add user": lambda app, c, w, a: _form(
        c, w, "/users", {"email": a, "password": "a long enough password", "role": "support"}
    ),
    "registration": lambda app, c, w, a: _register(app, a),
    "command line: users create": lambda app, c, w, a: app.test_cli_runner().invoke(
        args=["users", "create", a, "--password", "a long enough password"]
    ),
}
LINE_ORIENTED = {"dashboard: suppression CSV import", "dashboard: suppression pasted list"}


def _snapshot() -> tuple:
    db.session.expire_all()
    return (
        db.session.execute(sa.select(Subscriber.email, Subscriber.status).order_by(Subscriber.id)).all(),
        db.session.execute(sa.select(Suppression.email).order_by(Suppression.id)).all(),
        db.session.execute(sa.select(User.email).order_by(User.id)).all(),
        db.session.execute(sa.select(SentEmail.recipient).order_by(SentEmail.id)).all(),
        db.session.execute(sa.select(Campaign.id, Campaign.from_email).order_by(Campaign.id)).all(),
        db.session.execute(sa.select(TransactionalEmail.from_email)).all(),
    )


def _status(response) -> int:
    return getattr(response, "status_code", None) or (0 if response.exit_code == 0 else 422)


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_line_breaks_and_nul_in_an_address_are_refused(app, client, world, run_jobs, smtp_server, entry):
    addresses = LINE_SAFE if entry in LINE_ORIENTED else ADDRESSES
    for address in addresses:
        before, sent = _snapshot(), len(smtp_server.received)
        response = ENTRY_POINTS[entry](app, client, world, address)
        run_jobs()  # an import or a send runs now: what it would write is written
        status = _status(response)
        assert status < 500, (entry, address, status)
        if entry.startswith("API") and "import" not in entry:  # an import refuses rows, not the file
            assert status in (400, 422), (entry, address, status, response.text)
        if entry.startswith("command line"):
            assert response.exit_code != 0, (entry, address, response.output)
        assert _snapshot() == before, (entry, address)
        assert len(smtp_server.received) == sent, (entry, address)
    stored = [value for rows in _snapshot() for row in rows for value in row if isinstance(value, str)]
    assert not [v for v in stored if any(ch in v for ch in "\r\n\x00")]
    # The same request with a clean address does get through: the refusals above were the address's.
    before, sent = _snapshot(), len(smtp_server.received)
    response = ENTRY_POINTS[entry](app, client, world, "clean@example.com")
    run_jobs()
    assert _status(response) < 400, (entry, _status(response))
    assert _snapshot() != before or len(smtp_server.received) > sent, entry


def test_the_census_covers_each_kind_of_entry_point():
    kinds = {entry.split(":")[0] for entry in ENTRY_POINTS}
    assert {"public subscribe form", "dashboard", "API", "registration", "command line"} <= kinds
    assert len(ENTRY_POINTS) >= 19


@pytest.mark.parametrize(
    "address,signed_in",
    [
        ("owner@example.com\r\nBcc: evil@evil.test", False),
        ("owner@example.com\x00", False),
        ("owner@exa\rmple.com", False),
        ("owner@example.com", True),  # the control: the password is right
    ],
)
def test_login_with_a_line_break_in_the_address_signs_nobody_in(app, make_user, address, signed_in):
    make_user()

    def log_in(visitor):
        token = csrf_token(visitor.get("/login").text)
        response = visitor.post("/login", data={"email": address, "password": PASSWORD, "csrf_token": token})
        assert response.status_code < 500
        _forget_session_caches()
        return visitor.get("/").status_code

    assert _as_visitor(app, log_in) == (200 if signed_in else 302)
