"""Settings and the audit log, for an account's admins.

Registration (self-service sign-up) is an instance setting, not an account's: every admin sees
it, only an instance operator (app/web/ops/operators.py) changes it. The audit log shows the
account's own events, newest first, one action or all, a page at a time (``?before=<id>``).
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.models import Role
from app.models.audit import AuditEvent
from app.services import accounts, audit, emails
from app.services.errors import Forbidden
from app.web.access import account_id
from app.web.admin import bp
from app.web.ops.operators import is_operator
from app.web.params import database_id

PAGE = 50


@bp.before_request
def admins_only():
    if current_user.is_authenticated and current_user.role != Role.ADMIN:
        abort(404)


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    operator = is_operator(current_user)
    if request.method == "POST":
        if not operator:
            raise Forbidden("registration is set for the whole server: only its operator changes it")
        accounts.set_registration_open(request.form.get("registration_open") == "1", current_user)
        flash("Settings saved.", "success")
        return redirect(url_for("admin.settings"))
    return render_template("admin/settings.html", registration_open=accounts.registration_open(), operator=operator)


@bp.route("/admin/audit")
def audit_log():
    action = request.args.get("action") or None
    action = action if action in audit.ACTIONS else None  # an unknown action is dropped, not an error
    before = request.args.get("before", type=database_id)
    stmt = audit.query(account_id(), action)
    if before is not None:
        stmt = stmt.where(AuditEvent.id < before)
    events, next_before = emails.page(stmt.limit(PAGE + 1), PAGE)
    return render_template(
        "admin/audit.html",
        events=events,
        next_before=next_before,
        first_page=before is None,
        action=action,
        actions=audit.ACTIONS,
    )
