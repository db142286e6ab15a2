"""XSS census: payloads planted in every value a user or the outside world controls, every page rendered.

The payloads go in through the real entry points where there is one (services, the API, the
public subscribe form, CSV imports, SMTP replies from the loopback server, a bounce report, the
open pixel and click redirect with a hostile User-Agent) and straight into the rows otherwise
(a webhook receiver's response). Then every dashboard GET route of ``app.url_map`` (ids filled
from the planted objects; a route the census cannot fill fails it) is rendered, once plain and
once with every query parameter the views read set to a payload, plus the public pages and the
forms that echo what was posted. Each HTML answer is parsed: no ``<script>`` without ``src``, no
``on*=`` attribute, no ``javascript:`` URL, no ``<img src=x>``, and a template payload never
evaluated (``tpl:{{7*7}}`` never becomes ``tpl:49``, ``{{config}}`` never shows the config).

Campaign and template bodies are author HTML: their own ``<script>author()</script>`` is
expected inside the sandboxed previews (campaign, template, srcdoc frame), where only the
outside payloads (``alert(``) must stay inert; on the dashboard pages themselves nothing may run.
"""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from app.delivery.bounces import apply_report
from app.extensions import db
from app.models import (
    DeliveryAttempt,
    EmailClick,
    EmailOpen,
    Provider,
    SentEmail,
    Subscriber,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from app.models.base import utcnow
from app.services import accounts, campaigns, imports, lists, providers, subscribers, suppressions, templates, webhooks
from app.services.errors import ServiceError
from app.webhooks import outbox
from tests.conftest import PASSWORD, csrf_token

# What a subscriber, a list owner's colleague, an SMTP server or a webhook receiver may send us.
PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "'><svg/onload=alert(3)>",
    "</textarea></title><a href=javascript:alert(4)>j</a>",
    "javascript:alert(5)",
    "tpl:{{7*7}}",
    "cfg:{{config}}",
]
BUNDLE = "".join(PAYLOADS)  # 172 characters: fits the 200-character names
SHORT = '"><img src=x onerror=alert(2)><script>alert(1)</script>tpl:{{7*7}}'  # for 100-character fields
TINY = "'><svg/onload=alert(3)><script>alert(1)</script>"  # for 64-character fields
# The author's own HTML (campaign and template bodies): shown, sandboxed, in the previews only.
AUTHOR = '<script>author(1)</script><img src=y onerror=author(2)><a href="javascript:author(3)">a</a>'
AUTHOR_TEXT = '<script>author(1)</script>"><img src=y onerror=author(2)>'  # for subjects
CORPUS = Path(__file__).resolve().parents[1] / "delivery" / "corpus"
QUERY = {
    name: BUNDLE
    for name in ("q", "status", "recipient", "reason", "campaign_id", "list_id", "before", "template_id", "variables")
}
SHOWN = "&lt;script&gt;alert(1)&lt;/script&gt;"  # how a planted value looks on a page, escaped
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background"}


class Scan(HTMLParser):
    """Elements and attributes in a document that something planted could have created."""

    def __init__(self, outside_only: bool = False):
        super().__init__(convert_charrefs=True)
        self.outside_only = outside_only  # a sandboxed preview: only outside payloads count
        self.found: list[str] = []
        self.frames: list[str] = []
        self._script: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self._element(tag, attrs)
        if tag == "script" and not dict(attrs).get("src"):
            self._script = []

    def handle_startendtag(self, tag, attrs):
        self._element(tag, attrs)

    def handle_data(self, data):
        if self._script is not None:
            self._script.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self._flag(f"inline <script>{''.join(self._script)[:60]}</script>", "".join(self._script))
            self._script = None

    def _element(self, tag, attrs):
        for name, value in attrs:
            value = value or ""
            if name.startswith("on"):
                self._flag(f"<{tag} {name}={value[:40]!r}>", value)
            if name in URL_ATTRIBUTES and re.sub(r"[\s\x00-\x1f]", "", value).lower().startswith("javascript:"):
                self._flag(f"<{tag} {name}={value[:40]!r}>", value)
            if name == "srcdoc":
                self.frames.append(value)
        if tag == "img" and dict(attrs).get("src") == "x":
            self._flag("<img src=x>", "alert(")

    def _flag(self, what: str, code: str) -> None:
        if not self.outside_only or "alert(" in code:
            self.found.append(what)


def injections(body: str, sandboxed: bool = False) -> list[str]:
    """What planted input made of ``body`` (an HTML page, or a sandboxed preview document)."""
    scan = Scan(outside_only=sandboxed)
    scan.feed(body)
    scan.close()
    found = list(scan.found)
    for frame in scan.frames:  # a srcdoc preview: sandboxed author HTML
        found += [f"in a srcdoc frame: {f}" for f in injections(frame, sandboxed=True)]
    if "tpl:49" in body:
        found.append("a template payload was evaluated (tpl:49)")
    if re.search(r"cfg:(<|&lt;|&#60;)Config", body):
        found.append("a template payload showed the config")
    return found


def _sandboxed(response) -> bool:
    return "sandbox" in response.headers.get("Content-Security-Policy", "")


# --- planting


def _dsn(row: SentEmail, diagnostic: str) -> bytes:
    raw = (CORPUS / "postfix_hard_bounce.eml").read_bytes()
    raw = raw.replace(b"<3f2a9c0e4b7d4e8f9a1b2c3d4e5f6a7b@example.com>", row.message_id.encode())
    raw = raw.replace(b"user0@example.com", row.recipient.encode())
    return re.sub(rb"Diagnostic-Code: [^\n]*", b"Diagnostic-Code: smtp; 550 5.1.1 " + diagnostic.encode(), raw)


@pytest.fixture
def planted(app, client, make_user, smtp_server, run_jobs):
    """One account with every kind of object, each carrying payloads; the dashboard client signed in."""
    user = make_user("owner@example.com", account=BUNDLE)
    account = user.account_id
    token = accounts.create_token("owner@example.com")
    api = {"Authorization": f"Bearer {token}"}
    refused: dict[str, str] = {}

    def attempt(what: str, plant):
        try:
            return plant()
        except ServiceError as exc:  # a refusal at the entry is a result: the census reports it
            db.session.rollback()
            refused[what] = f"{type(exc).__name__}: {exc}"
            return None

    mailing_list = lists.create(account, BUNDLE, BUNDLE, double_opt_in=True, tracking=True)
    people = [subscribers.add(account, mailing_list.id, f"user{i}@example.com", BUNDLE, "confirmed") for i in range(3)]
    db.session.execute(
        sa.update(Subscriber).where(Subscriber.id == people[0].id).values(attributes={"plan": BUNDLE, SHORT: "x"})
    )
    db.session.commit()
    attempt(
        "quoted local part", lambda: subscribers.add(account, mailing_list.id, '"<svg/onload=alert(1)>"@example.com')
    )

    # The public form, as a visitor: a pending subscriber whose confirmation mail carries a /c/ link.
    assert (
        client.post(f"/s/{mailing_list.public_id}", data={"email": "visitor@example.com", "name": BUNDLE}).status_code
        == 200
    )

    # A campaign sent for real: one delivery, one hard bounce and one deferral by SMTP reply.
    smtp_server.handler.replies["user1@example.com"] = f"550 5.1.1 {BUNDLE}"
    smtp_server.handler.replies["user2@example.com"] = f"451 4.7.1 {BUNDLE}"
    sent = campaigns.create(
        account,
        {
            "list_id": mailing_list.id,
            "name": BUNDLE,
            "subject": AUTHOR_TEXT + " {{ subscriber.name }} {{ list.name }}",
            "from_email": "news@example.com",
            "from_name": BUNDLE,
            "body_format": "html",
            "body": AUTHOR
            + "<p>Hi {{ subscriber.name }} of {{ list.name }}, plan {{ subscriber.attributes.plan }}</p>"
            + '<a href="https://example.com/read?x=%22%3E%3Cscript%3Ealert(1)%3C/script%3E">read</a>',
        },
    )
    campaigns.send(account, sent.id)
    run_jobs()
    run_jobs()  # the confirmation mail, webhooks and anything the first run enqueued
    delivered = db.session.scalar(sa.select(SentEmail).where(SentEmail.recipient == "user0@example.com"))
    html = smtp_server.to("user0@example.com")[0].message.get_body(("html",)).get_content()
    # The e-mail itself: the subscriber's name and the list's name went in escaped.
    assert "Hi &lt;script&gt;alert(1)&lt;/script&gt;" in html and not injections(html, sandboxed=True)
    pixel = re.search(r'src="http://localhost(/t/o/[^"]+)"', html).group(1)
    click = re.search(r'href="http://localhost(/t/c/[^"]+)"', html).group(1)
    unsubscribe = re.search(
        r"http://localhost(/u/[^\s>]+)", smtp_server.to("user0@example.com")[0].message["List-Unsubscribe"]
    ).group(1)
    confirm = re.search(
        r"http://localhost(/c/\S+)", smtp_server.to("visitor@example.com")[0].message.get_body(("plain",)).get_content()
    ).group(1)
    for path in (pixel, click):
        client.get(path, headers={"User-Agent": BUNDLE})
    run_jobs()  # the tracking buffer's flush
    # An asynchronous bounce whose diagnostic is a payload (after the opens: it ends the delivery).
    assert apply_report(db.session, app.config["SECRET_KEY"], "bounces@localhost", _dsn(delivered, BUNDLE))

    draft = campaigns.create(
        account,
        {
            "list_id": mailing_list.id,
            "name": BUNDLE,
            "subject": AUTHOR_TEXT + " {{ subscriber.name }}",
            "from_email": "news@example.com",
            "from_name": BUNDLE,
            "body_format": "html",
            "body": AUTHOR + "<p>Hi {{ subscriber.name }}</p>",
        },
    )
    template = templates.create(
        account, {"name": BUNDLE, "subject": AUTHOR_TEXT + " {{ name }}", "html": AUTHOR + "<p>{{ name }}</p>"}
    )

    # A transactional e-mail through the API, every free-text field a payload.
    response = client.post(
        "/api/v1/emails",
        headers=api,
        json={
            "to": "tx@example.com",
            "to_name": BUNDLE,
            "from_email": "shop@example.com",
            "from_name": BUNDLE,
            "subject": AUTHOR_TEXT,
            "html": AUTHOR,
            "text": BUNDLE,
            "tags": [TINY],
            "metadata": {"order": BUNDLE},
        },
    )
    assert response.status_code == 202, response.text
    transactional = response.get_json()["id"]
    run_jobs()

    # Imports: a file name and rows that are payloads (the bad rows become row errors).
    rows = f"email,name\n{BUNDLE},x\nimported@example.com,{BUNDLE}\n'><svg/onload=alert(3)>@example.com,y\n"
    upload = imports.create(account, mailing_list.id, io.BytesIO(rows.encode()), f"{SHORT}.csv")
    run_jobs()

    suppressions.add(account, "blocked@example.com", detail=BUNDLE)
    provider = providers.create(account, SHORT, "smtp://user:secret@relay.example.com:587?security=starttls")
    api_token, _ = accounts.issue_token(user, SHORT)

    # A webhook endpoint, and what its receiver answered (stored as it came).
    endpoint = attempt(
        "webhook URL with markup",
        lambda: webhooks.create(account, 'https://hooks.example.com/"><script>alert(1)</script>', ["email.delivered"]),
    ) or webhooks.create(account, "https://hooks.example.com/in", ["email.delivered"], description=BUNDLE)
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    endpoint.description, endpoint.disabled_reason = BUNDLE, BUNDLE
    [delivery_id] = outbox.emit(db.session, account, "email.delivered", {"email_id": delivered.id, "note": BUNDLE})
    delivery = db.session.get(WebhookDelivery, delivery_id)
    delivery.last_error, delivery.last_status_code, delivery.attempt_count = BUNDLE, 500, 1
    db.session.add(
        WebhookAttempt(
            delivery_id=delivery_id,
            number=1,
            started_at=utcnow(),
            url=endpoint.url,
            request_headers={"webhook-id": BUNDLE},
            status_code=500,
            response_excerpt=BUNDLE,
            error=BUNDLE,
        )
    )
    db.session.commit()

    counts = {
        "attempts with payload": db.session.scalar(
            sa.select(sa.func.count(DeliveryAttempt.id)).where(DeliveryAttempt.response.contains("alert("))
        ),
        "opens with payload": db.session.scalar(
            sa.select(sa.func.count(EmailOpen.id)).where(EmailOpen.user_agent.contains("alert("))
        ),
        "clicks with payload": db.session.scalar(
            sa.select(sa.func.count(EmailClick.id)).where(EmailClick.user_agent.contains("alert("))
        ),
    }
    assert all(counts.values()), counts  # the real flows stored what they were sent
    emails_ = [row for row in db.session.scalars(sa.select(SentEmail.id))]
    client.post(
        "/login",
        data={"email": "owner@example.com", "password": PASSWORD, "csrf_token": csrf_token(client.get("/login").text)},
    )
    email_of = dict(db.session.execute(sa.select(SentEmail.recipient, SentEmail.id)).all())
    return {
        "refused": refused,
        # Pages that must show a planted value (escaped): proof the planting reached them.
        "witnesses": {
            "/": "campaign name",
            f"/lists/{mailing_list.id}": "list name and description",
            f"/subscribers/{people[0].id}": "subscriber name, bounce diagnostic in the timeline",
            f"/emails/{email_of['user0@example.com']}": "bounce diagnostic (DSN)",
            f"/emails/{email_of['user1@example.com']}": "SMTP reply of a hard bounce",
            f"/emails/{email_of['user2@example.com']}": "SMTP reply of a deferral",
            f"/campaigns/{sent.id}": "campaign name",
            f"/imports/{upload.id}": "import row errors",
            "/suppressions": "suppression note",
            "/providers": "provider name",
            "/tokens": "token name",
            f"/templates/{template.id}": "template name",
            f"/webhooks/{endpoint.id}": "webhook response excerpt and error",
            "/webhooks": "webhook description, disabled reason",
            "/status": "recent failure's SMTP reply",
        },
        "fill": {
            "list_id": [mailing_list.id],
            "campaign_id": [sent.id, draft.id],
            "email_id": emails_ + [transactional],
            "import_id": [upload.id],
            "subscriber_id": [p.id for p in people],
            "provider_id": [provider.id],
            "template_id": [template.id],
            "token_id": [api_token.id],
            "endpoint_id": [endpoint.id],
            "key": ["x"],
            "public_id": [mailing_list.public_id],
            "token": [confirm.removeprefix("/c/"), unsubscribe.removeprefix("/u/"), click.removeprefix("/t/c/")],
            "name": [pixel.removeprefix("/t/o/")],
        },
        "public": [f"/s/{mailing_list.public_id}", confirm, unsubscribe, click],
        "list": mailing_list,
        "draft": draft.id,
    }


def _get_routes(app) -> list:
    return [
        rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and not rule.rule.startswith(("/api/", "/static/", "/admin/rq/"))
    ]


def _urls(rule, fill: dict) -> list[str]:
    names = sorted(rule.arguments)
    if not names:
        return [rule.rule]
    missing = [n for n in names if n not in fill]
    if missing:
        raise LookupError(f"{rule.rule}: nothing planted for {missing}")
    [name] = names  # every dashboard GET route names at most one object
    return [re.sub(r"<[^>]+>", quote(str(value), safe=""), rule.rule) for value in fill[name]]


def _check(response, url: str, problems: dict) -> None:
    if response.status_code >= 500:
        problems[url] = [f"status {response.status_code}"]
        return
    if response.mimetype != "text/html":
        # A download or a document: never something a browser would render as our page.
        assert response.headers.get("X-Content-Type-Options") == "nosniff", url
        return
    found = injections(response.get_data(as_text=True), sandboxed=_sandboxed(response))
    if found:
        problems[url] = found


def test_every_page_escapes_every_planted_value(app, client, planted, capsys):
    problems: dict[str, list[str]] = {}
    unfilled, visited, routes = [], 0, _get_routes(app)
    for rule in routes:
        try:
            urls = _urls(rule, planted["fill"])
        except LookupError as exc:
            unfilled.append(str(exc))
            continue
        for url in urls:
            for query in ({}, QUERY):
                _check(client.get(url, query_string=query), url + ("?<payloads>" if query else ""), problems)
                visited += 1
    assert not unfilled, f"GET routes the census cannot fill (plant an object for them): {unfilled}"
    assert not problems, problems
    missing = {
        url: what for url, what in planted["witnesses"].items() if SHOWN not in client.get(url).get_data(as_text=True)
    }
    assert not missing, f"planted values these pages should show, escaped, and do not: {missing}"
    with capsys.disabled():
        print(
            f"\nXSS census: {len(routes)} GET routes, {visited} pages, {len(PAYLOADS)} payloads "
            f"(+ author HTML) in every planted field; refused at entry: {sorted(planted['refused'])}"
        )


def test_public_pages_escape_what_they_show(app, client, planted):
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/").text)})
    problems: dict[str, list[str]] = {}
    for url in planted["public"]:
        response = client.get(url)
        assert response.status_code < 500
        _check(response, url, problems)
    # The form answers a refused address with the values it was given, in its fields.
    refused = client.post(f"/s/{planted['list'].public_id}", data={"email": BUNDLE, "name": BUNDLE})
    assert refused.status_code == 422
    _check(refused, "POST /s/", problems)
    assert not problems, problems


def test_forms_that_echo_what_was_posted_escape_it(app, client, planted):
    """A refused form comes back with the input and an error message that may quote it."""
    token = csrf_token(client.get("/lists/new").text)
    list_id = planted["list"].id
    posts = [
        ("/lists/new", {"name": "", "description": BUNDLE}),
        (f"/lists/{list_id}/subscribers", {"email": BUNDLE, "name": BUNDLE}),
        ("/campaigns/new", {"list_id": str(list_id), "subject": BUNDLE, "from_email": BUNDLE, "body": BUNDLE}),
        (
            "/campaigns/preview",
            {
                "list_id": str(list_id),
                "subject": BUNDLE,
                "from_email": "a@example.com",
                "body": BUNDLE,
                "body_format": "html",
            },
        ),
        ("/campaigns/preview", {"list_id": str(list_id), "subject": "{{ nope", "body": "{{ " + BUNDLE + " }}"}),
        (f"/campaigns/{planted['draft']}/test", {"addresses": BUNDLE}),
        ("/templates/new", {"name": BUNDLE, "subject": BUNDLE, "html": "{% " + BUNDLE}),
        ("/suppressions", {"email": BUNDLE, "reason": "manual", "detail": BUNDLE}),
        ("/webhooks/new", {"url": BUNDLE, "description": BUNDLE, "events": ["email.delivered"]}),
        ("/providers/new", {"name": BUNDLE, "host": BUNDLE, "security": "none"}),
        ("/tokens", {"name": SHORT}),
        ("/users", {"email": BUNDLE, "password": "x", "role": "admin"}),
        ("/login", {"email": BUNDLE, "password": BUNDLE}),
    ]
    problems: dict[str, list[str]] = {}
    for path, data in posts:
        response = client.post(path, data={**data, "csrf_token": token}, follow_redirects=True)
        _check(response, f"POST {path}", problems)
        if path == "/login":
            break
    csv = f"email\n{BUNDLE}\n'><svg/onload=alert(3)>@example.com\nok@example.com\n"
    response = client.post(
        "/suppressions/import",
        data={"csrf_token": token, "reason": "manual", "file": (io.BytesIO(csv.encode()), f"{SHORT}.csv")},
        content_type="multipart/form-data",
    )
    _check(response, "POST /suppressions/import", problems)
    assert not problems, problems
    assert db.session.scalar(sa.select(sa.func.count(Provider.id))) == 1  # nothing half-written


def test_the_census_catches_a_page_that_does_not_escape(app, client, planted, monkeypatch):
    """The census's own check: with autoescaping off, every witness page is caught."""
    monkeypatch.setattr(app.jinja_env, "autoescape", False)
    app.jinja_env.cache.clear()
    try:
        caught = {url: injections(client.get(url).get_data(as_text=True)) for url in planted["witnesses"]}
    finally:
        monkeypatch.undo()
        app.jinja_env.cache.clear()
    assert all(caught.values()), {url: found for url, found in caught.items() if not found}
