"""Subscribers across lists: search and filters, one person's page, status changes, GDPR export and erase."""

from __future__ import annotations

import json

from flask import Response, flash, redirect, render_template, request, url_for

from app.extensions import db
from app.models import SubscriberStatus
from app.services import audience, subscribers
from app.services.errors import ServiceError, ValidationFailed
from app.web.access import account_id, may
from app.web.audience import bp
from app.web.params import database_id

STATUSES = [s.value for s in SubscriberStatus]


@bp.route("/subscribers")
def index():
    filters = {
        "q": (request.args.get("q") or "").strip()[: audience.MAX_QUERY] or None,
        "status": request.args.get("status") if request.args.get("status") in STATUSES else None,
        "list_id": request.args.get("list_id", type=database_id),
    }
    before = request.args.get("before", type=database_id)
    stmt = audience.search(account_id(), **filters, before_id=before)
    rows = list(db.session.scalars(stmt.limit(audience.PAGE_SIZE + 1)))
    lists = audience.list_names(account_id())
    return render_template(
        "audience/index.html",
        subscribers=rows[: audience.PAGE_SIZE],
        next_before=rows[audience.PAGE_SIZE - 1].id if len(rows) > audience.PAGE_SIZE else None,
        first_page=before is None,
        filters=filters,
        statuses=STATUSES,
        lists=lists,
        list_names=dict(lists),
    )


@bp.route("/subscribers/<int:subscriber_id>")
def show(subscriber_id: int):
    subscriber = subscribers.get(account_id(), subscriber_id)
    before = request.args.get("before", type=database_id)
    stmt = audience.emails_to(account_id(), subscriber.email, before).limit(audience.PAGE_SIZE + 1)
    emails = list(db.session.scalars(stmt))
    return render_template(
        "audience/show.html",
        subscriber=subscriber,
        memberships=audience.memberships(account_id(), subscriber.email),
        emails=emails[: audience.PAGE_SIZE],
        next_before=emails[audience.PAGE_SIZE - 1].id if len(emails) > audience.PAGE_SIZE else None,
        first_page=before is None,
        campaign_names=audience.campaign_names(account_id(), (e.campaign_id for e in emails)),
        suppression=audience.suppression_of(account_id(), subscriber.email),
        statuses=STATUSES,
        can_change=may("audience", write=True),
    )


@bp.route("/subscribers/<int:subscriber_id>/status", methods=["POST"])
def change_status(subscriber_id: int):
    """A manual status change; confirmations and webhooks follow as for any other change."""
    subscribers.get(account_id(), subscriber_id)  # NotFound -> 404, not a flash
    try:
        subscriber = subscribers.update(account_id(), subscriber_id, status=request.form.get("status") or "")
    except ServiceError as exc:
        flash(exc.message[:1].upper() + exc.message[1:] + ".", "error")
    else:
        sent = " A confirmation e-mail is on its way." if subscriber.status == SubscriberStatus.PENDING else ""
        flash(f"{subscriber.email} is now {subscriber.status.value}.{sent}", "success")
    return redirect(url_for("audience.show", subscriber_id=subscriber_id))


@bp.route("/subscribers/<int:subscriber_id>/export.json")
def export(subscriber_id: int):
    """Everything the account holds about this person, as a JSON download (GDPR article 15)."""
    subscriber = subscribers.get(account_id(), subscriber_id)
    document = audience.export(account_id(), subscriber.email)
    return Response(
        json.dumps(document, indent=2, ensure_ascii=False),
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="subscriber-{subscriber.id}-data.json"',
            "Cache-Control": "no-store",
        },
    )


@bp.route("/subscribers/<int:subscriber_id>/erase", methods=["GET", "POST"])
def erase(subscriber_id: int):
    """Erase this person from the account (GDPR article 17), after typing their address to confirm."""
    subscriber = subscribers.get(account_id(), subscriber_id)
    error, status = None, 200
    if request.method == "POST":
        typed = (request.form.get("confirm") or "").strip().lower()
        try:
            if typed != subscriber.email:
                raise ValidationFailed("type the subscriber's address exactly to confirm", "confirm")
            done = audience.erase(account_id(), subscriber.email)
        except ServiceError as exc:
            error, status = exc.message[:1].upper() + exc.message[1:] + ".", exc.status
        else:
            # The flash travels in the session cookie: it names no address.
            flash(
                f"Erased: {done.subscribers} subscription(s) deleted, {done.emails} e-mail(s) kept in the send log "
                f"without personal data ({done.cancelled} not yet sent were cancelled), "
                f"{done.suppressions} suppression(s) removed.",
                "success",
            )
            return redirect(url_for("audience.index"))
    page = render_template(
        "audience/erase.html",
        subscriber=subscriber,
        memberships=audience.memberships(account_id(), subscriber.email),
        error=error,
    )
    return page, status
