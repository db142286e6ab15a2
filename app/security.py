"""Security headers on every response, set in one ``after_request`` hook.

What every response gets:

- ``X-Content-Type-Options: nosniff``;
- ``Strict-Transport-Security`` when the request came over HTTPS (``request.is_secure``).

Behind proxies that terminate TLS, ``PROXY_FIX`` (the number of proxies in front of the app,
default 0) wraps the app in Werkzeug's ``ProxyFix``: the scheme, host and client address then
come from the last ``PROXY_FIX`` entries of ``X-Forwarded-Proto``, ``-Host`` and ``-For``, so
HSTS, the audit log's addresses and the rate limits see the real client. With 0 those headers
are ignored (a client could write anything in them).

What every HTML page (dashboard, public, error pages, HTMX fragments) gets on top:

- ``Content-Security-Policy``: scripts, styles and everything else from our origin only, no
  inline script and no ``eval``, no plugins, forms post only to us, no framing by other sites
  (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``). Inline ``style`` attributes stay
  allowed (``style-src-attr``): the progress bars size their segments with them; ``<style>``
  elements do not.
- ``Referrer-Policy: strict-origin-when-cross-origin``.

A header the view or its blueprint already set wins: the campaign, template and outbox previews
send their own sandboxed policy, and the public and tracking pages ``no-referrer`` (their links
carry tokens). Three kinds of page get a policy of their own:

- the subscribe form (``EMBEDDABLE``) may be framed by any site (CONTRACT.md section 4);
- pages that show author HTML in a ``srcdoc`` frame (``AUTHOR_HTML_FRAMES``) allow inline styles
  and images from anywhere, because such a frame inherits the page's policy and e-mail HTML is
  made of inline styles and remote images; the frame's own policy and its empty ``sandbox``
  still forbid every script;
- rq-dashboard (a library, mounted for instance operators) runs inline scripts of its own: each
  is allowed by its SHA-256 hash, so a job's text it shows can never add a script, and ``eval``
  is allowed because its templates (underscore) compile with ``Function``. Its jobs page writes the queue
  name from the URL into a script unescaped (``$(this).val('{{ queue.name }}')``), so a page
  whose URL parameters are not plain names gets no hash: a link crafted to shape the script
  cannot run it.

JSON, CSV, images and other non-HTML answers get only the first two headers.
"""

from __future__ import annotations

import base64
import hashlib
import re

from flask import Flask, Response, abort, request
from werkzeug.middleware.proxy_fix import ProxyFix

HSTS = "max-age=31536000"
EMBEDDABLE = {"public.subscribe"}
AUTHOR_HTML_FRAMES = {"campaigns.new", "campaigns.edit"}
RQ_DASHBOARD = "rq_dashboard"

_BASE = {
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
_PLAIN_NAME = re.compile(r"[\w.:@-]*")  # queue and registry names, job ids, numbers
_INLINE_SCRIPT = re.compile(rb"<script\b(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)


def refuse_nul() -> None:
    """A NUL in a dashboard or public query string or form is never real input (PostgreSQL
    cannot even compare it): 400 before any view queries with it. Multipart uploads are left to
    their views (reading them here would defeat streaming), and the API answers its own 422s."""
    if request.path.startswith("/api/"):
        return
    values = list(request.args.values())
    if request.mimetype == "application/x-www-form-urlencoded":
        values += request.form.values()
    if any("\x00" in value for value in values):
        abort(400, "the request holds a NUL character")


def register(app: Flask) -> None:
    trust_proxies(app)
    app.before_request(refuse_nul)
    app.after_request(add_headers)


def trust_proxies(app: Flask) -> None:
    """Believe ``X-Forwarded-For``/``-Proto``/``-Host`` from the ``PROXY_FIX`` nearest proxies."""
    hops = int(app.config.get("PROXY_FIX") or 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def add_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    if response.mimetype != "text/html":
        return response
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if "Content-Security-Policy" not in response.headers:
        response.headers["Content-Security-Policy"] = policy(request.endpoint, request.blueprint, response)
    if "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]:
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def policy(endpoint: str | None, blueprint: str | None, response: Response) -> str:
    """The Content-Security-Policy for an HTML page of ``endpoint``."""
    directives = dict(_BASE)
    if endpoint in EMBEDDABLE:
        del directives["frame-ancestors"]
    if endpoint in AUTHOR_HTML_FRAMES:
        directives.update({"style-src": "'self' 'unsafe-inline'", "img-src": "* data:"})
    if blueprint == RQ_DASHBOARD:
        hashes = " ".join(_script_hashes(response))
        directives.update(
            {"script-src": f"'self' 'unsafe-eval' {hashes}".rstrip(), "style-src": "'self' 'unsafe-inline'"}
        )
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def _script_hashes(response: Response) -> list[str]:
    """A ``'sha256-...'`` source for each inline ``<script>`` of the page as the server wrote it."""
    if response.is_streamed:
        return []
    if not all(_PLAIN_NAME.fullmatch(str(value)) for value in (request.view_args or {}).values()):
        return []
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
        for body in dict.fromkeys(_INLINE_SCRIPT.findall(response.get_data()))
    ]
