"""The development catcher's mailbox, readable in the dashboard (like Mailpit)."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user

from app import devmail
from app.models import Role
from app.web.outbox import bp
from app.web.preview import preview_response


@bp.before_request
def catcher_admins_only():
    """The catcher holds every account's mail: only admins, and only when it is in use."""
    if not current_app.config["DEV_CATCHER"] or current_user.role != Role.ADMIN:
        abort(404)


def _directory() -> str:
    return current_app.config["OUTBOX_DIR"]


@bp.route("/outbox")
def index():
    return render_template(
        "outbox/index.html",
        messages=devmail.messages(_directory()),
    )


@bp.route("/outbox/<key>")
def show(key: str):
    message = devmail.message(_directory(), key)
    if message is None:
        abort(404)
    return render_template("outbox/show.html", message=message)


@bp.route("/outbox/<key>/html")
def html(key: str):
    message = devmail.message(_directory(), key)
    if message is None or message.part("html") is None:
        abort(404)
    return preview_response(message.part("html"), frame=True)


@bp.route("/outbox/clear", methods=["POST"])
def clear():
    devmail.clear(_directory())
    flash("Outbox emptied.", "success")
    return redirect(url_for("outbox.index"))
