"""Pages show each role only what it may do: no button, form or link that would answer 403.

The census of tests/web/test_roles.py proves the server refuses; this one reads every page a
role may open (every dashboard GET route, with real ids) and checks what the page offers:

- every ``<form method="post">`` names a route the role may write (its own logout, and its
  own account pages, are always fine);
- every link to a dashboard page names one it may read, and a link to a form page (``/new``,
  ``/edit``, ``/import``, ``/erase``, ``/revoke``) one whose area it may change.

A support user therefore sees no write form at all; a marketer none for providers, webhooks,
users or settings. The admin's pages are the control: the same pages do offer the forms.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from app.models import Role
from app.services import permissions
from app.web import access
from tests.web import test_roles
from tests.web.test_roles import NOT_DASHBOARD, USERS, _calls, _sign_in

# The census's account (one of everything, a user per role), shared with tests/web/test_roles.py.
world = test_roles.world

FORM_PAGE = re.compile(r"/(new|edit|import|erase|revoke)$")
# A user's own session and profile: any role may change these.
ALWAYS_ALLOWED = {"auth", "account"}


class _Controls(HTMLParser):
    """The page's post forms (their action) and links (their href)."""

    def __init__(self):
        super().__init__()
        self.forms: list[str | None] = []
        self.links: list[str] = []
        self.nav: list[str] = []
        self._in_nav = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "nav":
            self._in_nav += 1
        elif tag == "form" and (attrs.get("method") or "get").lower() == "post":
            self.forms.append(attrs.get("action"))
        elif tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
            if self._in_nav:
                self.nav.append(attrs["href"])

    def handle_endtag(self, tag):
        if tag == "nav":
            self._in_nav -= 1


def _controls(html: str) -> _Controls:
    parser = _Controls()
    parser.feed(html)
    return parser


def _endpoint(app, url: str, method: str) -> str | None:
    """The endpoint a same-site ``url`` reaches with ``method``, or None (another site, no route)."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        return None
    try:
        endpoint, _ = app.url_map.bind("localhost").match(parts.path, method=method)
    except RequestRedirect:
        return None
    except HTTPException:
        return None
    return endpoint


def _blueprint(endpoint: str) -> str:
    return endpoint.rpartition(".")[0]


def _offers(app, client, role: Role, world) -> tuple[dict, list[str]]:
    """Every page the role may read: url -> its post-form actions and links; and what is wrong."""
    pages, wrong = {}, []
    for method, url, blueprint in _calls(app, world, role):
        if method != "GET" or not permissions.allowed(role, access.area(blueprint), "GET"):
            continue
        response = client.get(url)
        response.get_data()  # run streamed bodies (CSV exports) to their end
        response.close()
        if response.status_code in (302, 404) or response.mimetype != "text/html":
            continue  # an area's own 404 (providers' forms for non-admins), or not a page
        assert response.status_code == 200, f"GET {url} as {role.value}: {response.status_code}"
        found = _controls(response.text)
        pages[url] = found
        for action in found.forms:
            target = urljoin(url, action or url)
            endpoint = _endpoint(app, target, "POST")
            assert endpoint, f"{url}: a form posts to {target}, which no route takes"
            where = _blueprint(endpoint)
            if where in ALWAYS_ALLOWED:
                continue
            if not permissions.allowed(role, access.area(where), "POST"):
                wrong.append(f"{url}: a form posts to {target} ({endpoint}), which a {role.value} may not")
        for href in found.links:
            endpoint = _endpoint(app, urljoin(url, href), "GET")
            if endpoint is None or _blueprint(endpoint) in NOT_DASHBOARD:
                continue
            area = access.area(_blueprint(endpoint))
            if not permissions.allowed(role, area, "GET"):
                wrong.append(f"{url}: a link to {href}, which a {role.value} may not see")
            elif FORM_PAGE.search(urlsplit(href).path) and not permissions.allowed(role, area, "POST"):
                wrong.append(f"{url}: a link to the form page {href}, which a {role.value} may not submit")
    return pages, wrong


def test_support_sees_no_write_control_on_any_page(app, world):
    client = _sign_in(app, USERS[Role.SUPPORT])

    pages, wrong = _offers(app, client, Role.SUPPORT, world)

    assert not wrong, "\n".join(wrong)
    assert len(pages) >= 25
    for url, found in pages.items():
        forms = [(a, _blueprint(_endpoint(app, urljoin(url, a or url), "POST"))) for a in found.forms]
        others = [action for action, where in forms if where not in ALWAYS_ALLOWED]
        assert others == [], f"{url} shows a support user a form that changes something: {others}"
    ids = world["ids"]
    # The pages themselves still open, read-only: the person, the list, the campaign, the send log.
    for url in (f"/subscribers/{ids['subscriber_id']}", f"/lists/{ids['list_id']}", f"/campaigns/{ids['campaign_id']}"):
        assert url in pages
    form_page = client.get(f"/subscribers/{ids['subscriber_id']}/erase").text
    assert "Your role (support) can see subscribers but not change them" in form_page
    assert 'name="confirm"' not in form_page


def test_marketer_sees_no_admin_control(app, world):
    client = _sign_in(app, USERS[Role.MARKETER])

    pages, wrong = _offers(app, client, Role.MARKETER, world)

    assert not wrong, "\n".join(wrong)
    # A marketer's own work is offered: the list's forms, the campaign's buttons.
    ids = world["ids"]
    list_forms = pages[f"/lists/{ids['list_id']}"].forms
    assert f"/lists/{ids['list_id']}/subscribers" in list_forms and f"/lists/{ids['list_id']}/tracking" in list_forms
    assert f"/campaigns/{ids['campaign_id']}/send" in pages[f"/campaigns/{ids['campaign_id']}"].forms
    assert "/providers/new" not in pages["/providers"].links
    assert set(pages["/webhooks"].forms + pages[f"/webhooks/{ids['endpoint_id']}"].forms) == {"/logout"}
    assert "/users" not in pages and "/settings" not in pages


def test_admin_is_offered_every_control(app, world):
    """The control for the two tests above: the same pages, as an admin, carry the forms."""
    client = _sign_in(app, USERS[Role.ADMIN])

    pages, wrong = _offers(app, client, Role.ADMIN, world)

    assert not wrong, "\n".join(wrong)
    ids = world["ids"]
    assert "/lists/new" in pages["/lists"].links
    assert "/providers/new" in pages["/providers"].links
    assert f"/webhooks/{ids['endpoint_id']}/delete" in pages["/webhooks"].forms
    assert f"/subscribers/{ids['subscriber_id']}/status" in pages[f"/subscribers/{ids['subscriber_id']}"].forms
    assert "/suppressions" in pages["/suppressions"].forms
    assert "/tokens" in pages["/tokens"].forms
    total = sum(len(found.forms) for found in pages.values())
    assert total >= 30


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_navigation_links_only_to_pages_the_role_may_open(app, world, role):
    client = _sign_in(app, USERS[role])

    nav = _controls(client.get("/").text).nav

    assert len(nav) >= 8
    for href in nav:
        assert client.get(href).status_code == 200, f"{role.value}'s menu links to {href}, which it may not open"
