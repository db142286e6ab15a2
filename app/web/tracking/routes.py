"""Public tracking routes: the open pixel and tracked-link clicks.

They take no session and no CSRF token; the token in the path is all they trust. The pixel
(``/t/o/<token>.gif``) answers the same 1x1 GIF whatever follows ``/t/o/`` (a valid, forged or
unknown token), so it tells nothing. A click (``/t/c/<token>``) redirects only to the URL stored
for the link its token names; any other token gets the "link not valid" page, never a
redirect. Neither is cached, and neither passes a Referer on.
"""

from __future__ import annotations

import base64

from flask import make_response, redirect, render_template, request

from app.extensions import csrf
from app.services import tracking
from app.web.tracking import bp

csrf.exempt(bp)
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")  # 1x1, transparent


@bp.after_request
def no_store(response):
    response.headers["Cache-Control"] = "no-store, private"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _facts() -> tuple[str, str, str | None]:
    return request.method, request.headers.get("User-Agent", ""), request.remote_addr


@bp.route("/t/o/<path:name>")
def pixel(name: str):
    tracking.record_open(name.removesuffix(".gif"), *_facts())
    response = make_response(GIF)
    response.headers["Content-Type"] = "image/gif"
    return response


@bp.route("/t/c/<token>")
def click(token: str):
    url = tracking.record_click(token, *_facts())
    if url is None:
        return render_template("public/invalid_link.html"), 404
    return redirect(url, 302)
