"""Every control on every dashboard page works without JavaScript: HTMX only adds to a plain link or form.

The census's pages (every dashboard GET route, as an admin, who is offered every control) are
read for controls that would be dead without scripts: an element that posts through HTMX but
is not a ``<form method="post">``, one that loads through ``hx-get`` but is neither a link nor a
region that only refreshes itself (``hx-trigger="every ..."``), and a submit button outside any
form. tests/browser/test_no_js.py walks the journeys in a browser with JavaScript off.
"""

from __future__ import annotations

from html.parser import HTMLParser

from app.models import Role
from tests.web import test_roles
from tests.web.test_roles import USERS, _calls, _sign_in

world = test_roles.world

HX_WRITES = ("hx-post", "hx-put", "hx-patch", "hx-delete")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _DeadControls(HTMLParser):
    def __init__(self):
        super().__init__()
        self.open: list[tuple[str, dict]] = []
        self.dead: list[str] = []
        self.hx = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        described = f"<{tag} {' '.join(f'{k}={v!r}' for k, v in attrs.items())}>"
        if any(name in attrs for name in HX_WRITES):
            self.hx += 1
            if tag != "form" or (attrs.get("method") or "").lower() != "post":
                self.dead.append(f"{described}: posts only through HTMX")
        if "hx-get" in attrs:
            self.hx += 1
            polls = "every" in (attrs.get("hx-trigger") or "")
            if not polls and not (tag == "a" and attrs.get("href")) and tag != "form":
                self.dead.append(f"{described}: loads only through HTMX")
        in_form = any(name == "form" for name, _ in self.open)
        if tag == "button" and (attrs.get("type") or "submit") == "submit" and not in_form and "form" not in attrs:
            self.dead.append(f"{described}: a submit button outside any form")
        if tag not in VOID:
            self.open.append((tag, attrs))

    def handle_endtag(self, tag):
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i][0] == tag:
                del self.open[i:]
                break


def test_no_page_has_a_control_that_needs_javascript(app, world):
    client = _sign_in(app, USERS[Role.ADMIN])
    dead, pages, live = [], 0, 0
    for method, url, _blueprint in _calls(app, world, Role.ADMIN):
        if method != "GET":
            continue
        response = client.get(url)
        response.get_data()
        response.close()
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        parser = _DeadControls()
        parser.feed(response.text)
        dead += [f"{url}: {problem}" for problem in parser.dead]
        pages += 1
        live += parser.hx

    assert not dead, "\n".join(dead)
    assert pages >= 25
    assert live >= 5  # the live parts are there, each with its plain fallback


def test_the_check_finds_a_dead_control():
    parser = _DeadControls()
    parser.feed(
        '<div hx-post="/x">go</div><button hx-get="/y">more</button><button>alone</button>'
        '<form method="post" hx-post="/z"><button>ok</button></form>'
        '<section hx-get="/p" hx-trigger="every 1s"></section>'
    )

    assert [problem.split(": ", 1)[1] for problem in parser.dead] == [
        "posts only through HTMX",
        "loads only through HTMX",
        "a submit button outside any form",
        "a submit button outside any form",
    ]
