"""Webhooks: the endpoints with their last delivery, and each endpoint's deliveries page.

Everyone in the account may look; only its admins add, change, delete, rotate, test or replay
(those send the account's data to a URL). A new or rotated secret is shown on the page that
answers the POST, never stored in the session or a flash message.
"""

from __future__ import annotations

import json

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.extensions import db
from app.models import Role, WebhookDelivery
from app.services import webhooks
from app.services.errors import ServiceError
from app.web.access import account_id
from app.web.forms import save_form
from app.web.params import database_id
from app.web.webhooks import bp
from app.web.webhooks.forms import EndpointForm

PAGE = 50
LOOKING = ("webhooks.index", "webhooks.show")


@bp.before_request
def admins_change_webhooks():
    if request.endpoint not in LOOKING and current_user.role != Role.ADMIN:
        abort(404)


@bp.route("/webhooks")
def index():
    endpoints = list(db.session.scalars(webhooks.query(account_id())))
    return render_template(
        "webhooks/index.html",
        endpoints=endpoints,
        last=webhooks.last_deliveries(account_id(), [e.id for e in endpoints]),
        can_change=current_user.role == Role.ADMIN,
    )


@bp.route("/webhooks/new", methods=["GET", "POST"])
def new():
    form = EndpointForm()
    if request.method == "GET":
        form.events.data = []
    endpoint = save_form(form, lambda: webhooks.create(account_id(), **form.data_for_service()))
    if endpoint:
        return render_template("webhooks/secret.html", endpoint=endpoint, created=True)
    return render_template("webhooks/form.html", form=form, endpoint=None)


@bp.route("/webhooks/<int:endpoint_id>")
def show(endpoint_id: int):
    endpoint = webhooks.get(account_id(), endpoint_id)
    status = request.args.get("status") or None
    status = status if status in webhooks.STATUSES else None
    before = request.args.get("before", type=database_id)
    stmt = webhooks.deliveries(account_id(), endpoint.id, status)
    if before is not None:
        stmt = stmt.where(WebhookDelivery.id < before)
    rows = list(db.session.scalars(stmt.limit(PAGE + 1)))
    return render_template(
        "webhooks/show.html",
        endpoint=endpoint,
        deliveries=rows[:PAGE],
        bodies={d.id: json.dumps(json.loads(d.event.payload), indent=2) for d in rows[:PAGE]},
        next_before=rows[PAGE - 1].id if len(rows) > PAGE else None,
        first_page=before is None,
        status=status,
        statuses=webhooks.STATUSES,
        can_change=current_user.role == Role.ADMIN,
    )


@bp.route("/webhooks/<int:endpoint_id>/edit", methods=["GET", "POST"])
def edit(endpoint_id: int):
    endpoint = webhooks.get(account_id(), endpoint_id)
    form = EndpointForm(obj=endpoint if request.method == "GET" else None)
    saved = save_form(form, lambda: webhooks.update(account_id(), endpoint.id, **form.data_for_service()))
    if saved:
        flash("Webhook endpoint saved.", "success")
        return redirect(url_for("webhooks.index"))
    return render_template("webhooks/form.html", form=form, endpoint=endpoint)


@bp.route("/webhooks/<int:endpoint_id>/enable", methods=["POST"])
def enable(endpoint_id: int):
    endpoint = webhooks.update(account_id(), endpoint_id, enabled=True)
    flash(f"Webhooks to {endpoint.url} are enabled.", "success")
    return redirect(url_for("webhooks.index"))


@bp.route("/webhooks/<int:endpoint_id>/disable", methods=["POST"])
def disable(endpoint_id: int):
    endpoint = webhooks.update(account_id(), endpoint_id, enabled=False)
    flash(f"Webhooks to {endpoint.url} are disabled; pending deliveries wait until you enable it.", "success")
    return redirect(url_for("webhooks.index"))


@bp.route("/webhooks/<int:endpoint_id>/delete", methods=["POST"])
def delete(endpoint_id: int):
    endpoint = webhooks.get(account_id(), endpoint_id)
    url = endpoint.url
    webhooks.delete(account_id(), endpoint.id)
    flash(f"Webhook endpoint {url} deleted.", "success")
    return redirect(url_for("webhooks.index"))


@bp.route("/webhooks/<int:endpoint_id>/rotate", methods=["POST"])
def rotate(endpoint_id: int):
    endpoint = webhooks.rotate_secret(account_id(), endpoint_id)
    return render_template("webhooks/secret.html", endpoint=endpoint, created=False)


@bp.route("/webhooks/<int:endpoint_id>/test", methods=["POST"])
def test(endpoint_id: int):
    try:
        delivery = webhooks.send_test(account_id(), endpoint_id)
    except ServiceError as exc:
        if exc.status == 404:
            raise
        flash(exc.message, "error")
    else:
        flash(f"Test event {delivery.event.public_id} queued; it appears below once sent.", "success")
    return redirect(url_for("webhooks.show", endpoint_id=endpoint_id))


@bp.route("/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/replay", methods=["POST"])
def replay(endpoint_id: int, delivery_id: int):
    try:
        delivery = webhooks.replay(account_id(), endpoint_id, delivery_id)
    except ServiceError as exc:
        if exc.status == 404:
            raise
        flash(exc.message, "error")
    else:
        flash(f"Event {delivery.event.public_id} queued again (same webhook-id).", "success")
    return redirect(url_for("webhooks.show", endpoint_id=endpoint_id))
