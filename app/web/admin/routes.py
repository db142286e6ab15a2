"""Instance settings for admins: open or close self-service registration."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.models import Role
from app.services import accounts
from app.web.admin import bp


@bp.before_request
def admins_only():
    if current_user.is_authenticated and current_user.role != Role.ADMIN:
        abort(404)


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    if request.method == "POST":
        accounts.set_registration_open(request.form.get("registration_open") == "1")
        flash("Settings saved.", "success")
        return redirect(url_for("admin.settings"))
    return render_template("admin/settings.html", registration_open=accounts.registration_open())
