"""Security headers (app/security.py): a strict CSP on every page, and only what fits elsewhere."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from rq import Queue

from app.models import Role
from tests.conftest import PASSWORD
from tests.security.conftest import csp

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
STRICT = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "style-src-attr": "'unsafe-inline'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def test_a_dashboard_page_gets_the_strict_policy_and_the_other_headers(client, owner):
    response = client.get("/")
    assert response.status_code == 200
    assert csp(response) == STRICT
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP: HSTS would be ignored


@pytest.mark.parametrize(
    "path", ["/lists", "/campaigns", "/emails", "/webhooks", "/tokens", "/status", "/suppressions", "/nowhere"]
)
def test_every_kind_of_dashboard_answer_has_the_policy(client, owner, path):
    response = client.get(path)
    assert response.status_code in (200, 404)
    assert csp(response) == STRICT, path


def test_the_login_page_and_a_redirect_have_it_too(client, app):
    assert csp(client.get("/login")) == STRICT
    redirect = client.get("/lists")
    assert redirect.status_code == 302 and csp(redirect) == STRICT


def test_hsts_only_over_https(client, owner):
    secure = client.get("/", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client.get("/").headers
    # Also on what is not a page: HSTS is about the origin.
    api = client.get("/api/v1/health", base_url="https://localhost")
    assert api.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_the_subscribe_form_may_be_framed_by_any_site(client, owner):
    response = client.get(f"/s/{owner['list'].public_id}")
    assert response.status_code == 200
    policy = csp(response)
    assert "frame-ancestors" not in policy and "X-Frame-Options" not in response.headers
    assert policy == {k: v for k, v in STRICT.items() if k != "frame-ancestors"}
    assert response.headers["Referrer-Policy"] == "no-referrer"  # the public blueprint's, kept


@pytest.mark.parametrize("path", ["/c/1.x.y", "/u/1.y", "/t/c/forged"])
def test_tokened_public_pages_are_not_frameable_and_send_no_referrer(client, app, path):
    response = client.get(path)
    assert response.mimetype == "text/html"
    assert csp(response) == STRICT
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_the_open_pixel_and_the_api_get_only_nosniff(client, api):
    for response in (client.get("/t/o/anything.gif"), api.get("/api/v1/lists"), client.get("/api/v1/openapi.json")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "Content-Security-Policy" not in response.headers
        assert "X-Frame-Options" not in response.headers
    assert client.get("/t/o/anything.gif").headers["Referrer-Policy"] == "no-referrer"


def test_static_files_are_not_sniffed(client, app):
    for name, mimetype in (("js/confirm-submit.js", "text/javascript"), ("css/postroom.css", "text/css")):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and response.mimetype == mimetype
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        response.close()


def test_preview_answers_keep_their_own_sandboxed_policy(client, owner):
    for path in (f"/campaigns/{owner['campaign'].id}/preview", f"/templates/{owner['template'].id}/preview"):
        response = client.get(path)
        assert response.status_code == 200
        policy = csp(response)
        assert "sandbox" in policy and policy["default-src"] == "'none'", path
        assert "X-Frame-Options" not in response.headers  # the dashboard frames them
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_framing_author_html_allow_its_styles_and_images_but_no_script(client, owner):
    for path in ("/campaigns/new", f"/campaigns/{owner['campaign'].id}/edit"):
        response = client.get(path)
        assert response.status_code == 200
        policy = csp(response)
        # The live preview, where HTMX swaps in a srcdoc frame as the author types.
        assert 'id="live-preview"' in response.text, "no author HTML framed here: drop it from AUTHOR_HTML_FRAMES"
        assert policy["style-src"] == "'self' 'unsafe-inline'" and policy["img-src"] == "* data:"
        assert policy["script-src"] == "'self'" and policy["frame-ancestors"] == "'none'"


def test_no_template_has_inline_script_or_event_handlers():
    offenders = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        source = re.sub(r"\{#.*?#\}", "", path.read_text(), flags=re.DOTALL)
        for tag in re.findall(r"<script\b[^>]*>", source, re.IGNORECASE):
            if "src=" not in tag:
                offenders.append(f"{path.relative_to(TEMPLATES)}: {tag}")
        for handler in re.findall(r"<[a-z][^>]*\s(on[a-z]+)\s*=", source, re.IGNORECASE):
            offenders.append(f"{path.relative_to(TEMPLATES)}: {handler}=")
        if re.search(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", source, re.IGNORECASE):
            offenders.append(f"{path.relative_to(TEMPLATES)}: javascript: URL")
    assert not offenders, offenders


def test_rq_dashboard_runs_only_its_own_inline_scripts(client, app, make_user, auth, redis_conn, run_jobs):
    """The library's pages have inline scripts: each is allowed by its hash, nothing else is."""
    Queue(app.config["RQ_QUEUE"], connection=redis_conn).enqueue("math.sqrt", -1)
    run_jobs()
    make_user("admin@example.com", role=Role.ADMIN)
    auth.login("admin@example.com", PASSWORD)
    for path in ("/admin/rq/", "/admin/rq/0/view/workers", "/admin/rq/0/view/jobs"):
        response = client.get(path)
        assert response.status_code == 200, path
        policy = csp(response)
        scripts = re.findall(r"<script\b(?![^>]*\bsrc=)[^>]*>(.*?)</script>", response.text, re.DOTALL)
        assert scripts, "the library page has no inline script any more: its special case can go"
        wanted = {"'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'" for s in scripts}
        sources = set(policy["script-src"].split())
        assert wanted <= sources and sources - wanted == {"'self'", "'unsafe-eval'"}
        assert "'unsafe-inline'" not in policy["script-src"] and policy["frame-ancestors"] == "'none'"


def test_an_rq_dashboard_page_shaped_by_its_url_runs_no_inline_script(client, app, make_user, auth):
    """Its jobs page writes the queue name from the URL into a script, unescaped."""
    make_user("admin@example.com", role=Role.ADMIN)
    auth.login("admin@example.com", PASSWORD)
    plain = client.get("/admin/rq/0/view/jobs/postroom/queued/8/asc/1")
    assert "'sha256-" in csp(plain)["script-src"]
    crafted = client.get("/admin/rq/0/view/jobs/x%27);window.pwned=1;(%27/queued/8/asc/1")
    assert crafted.status_code == 200
    assert "$(this).val('x');window.pwned=1;('');" in crafted.text  # the library wrote it in ...
    assert csp(crafted)["script-src"] == "'self' 'unsafe-eval'"  # ... so no inline script may run
