"""rq-dashboard, the library's own blueprint, mounted at ``/admin/rq`` for instance operators.

It shows every account's jobs, so a tenant's admin is not enough: only an operator
(app/web/ops/operators.py) may use it. Every request to it passes our check first: an anonymous
visitor is sent to the login page, a signed-in user who is not an operator gets our 404, and
neither ever reaches the library. It reads the app's Redis (``REDIS_URL``, or the embedded
server's unix socket).

Its actions (requeue, delete, empty, compact) stay enabled and CSRF-protected: its JavaScript
sends the cookie ``_csrf_token`` back as an ``X-CSRFToken`` header, so we put our session's
Flask-WTF token in that cookie and CSRFProtect checks it like any form's. Deleting a
delivery job loses no mail: the database holds the state, and the periodic sweep enqueues
again the work whose job is gone.
"""

from __future__ import annotations

import rq_dashboard
from flask import Flask, Response, abort, current_app, request
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from app.web.ops.operators import is_operator

PREFIX = "/admin/rq"
BLUEPRINT = rq_dashboard.blueprint.name
CSRF_COOKIE = "_csrf_token"  # the name rq-dashboard's JavaScript reads
# "Requeue all failed jobs" also answers GET, which a link on another site could trigger.
POST_ONLY = {f"{BLUEPRINT}.requeue_all"}


def mount(app: Flask) -> None:
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=PREFIX)
    # Blueprint-scoped hooks on our app (the library's blueprint object is shared by every app
    # in the process); inserted first so they run before the library's own, which connects.
    app.before_request_funcs.setdefault(BLUEPRINT, []).insert(0, _operators_only)
    app.after_request_funcs.setdefault(BLUEPRINT, []).append(_csrf_cookie)
    app.context_processor(lambda: {"rq_dashboard_url": f"{PREFIX}/" if is_operator(current_user) else None})


def _operators_only() -> Response | None:
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    if not is_operator(current_user):
        abort(404)
    if request.endpoint in POST_ONLY and request.method != "POST":
        abort(405)
    conn = current_app.extensions["redis"]
    # The library reads both per request: the URL for its per-instance pages (a tuple: it
    # indexes it by instance number), the connection for its actions.
    current_app.config["RQ_DASHBOARD_REDIS_URL"] = (current_app.config["REDIS_URL"] or f"unix://{conn.socket_file}",)
    current_app.redis_conn = conn
    return None


def _csrf_cookie(response: Response) -> Response:
    if is_operator(current_user):
        response.set_cookie(
            CSRF_COOKIE,
            generate_csrf(),
            path=PREFIX,
            samesite="Strict",
            secure=current_app.config["SESSION_COOKIE_SECURE"],
            httponly=False,  # its JavaScript must read it
        )
    return response
