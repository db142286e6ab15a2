"""Subscribers across lists: search and filters, one person's page, status changes, GDPR export and erase."""

from __future__ import annotations

import json

from flask import Response, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.extensions import db
from app.models import SubscriberStatus
from app.services import audience, personalise, subscribers
from app.services.errors import ServiceError, ValidationFailed, sentence
from app.web.access import account_id, may
from app.web.audience import bp
from app.web.params import database_id

STATUSES = [s.value for s in SubscriberStatus]
# What the attributes form takes before parsing it (the JSON limit itself is personalise's).
MAX_ATTRIBUTES_TEXT = 4 * personalise.MAX_ATTRIBUTES_BYTES


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
    return _person_page(subscribers.get(account_id(), subscriber_id))


def _person_page(subscriber, attributes_text: str | None = None, attributes_error: str | None = None, status=200):
    """One person's page; with what was typed in the attributes form, and why it was refused."""
    before = request.args.get("before", type=database_id)
    stmt = audience.emails_to(account_id(), subscriber.email, before).limit(audience.PAGE_SIZE + 1)
    emails = list(db.session.scalars(stmt))
    if attributes_text is None and subscriber.attributes:
        attributes_text = json.dumps(subscriber.attributes, indent=2, ensure_ascii=False)
    page = render_template(
        "audience/show.html",
        attributes_text=attributes_text or "",
        attributes_error=attributes_error,
        attribute_limits=(personalise.MAX_ATTRIBUTES, personalise.MAX_ATTRIBUTE_NAME, personalise.MAX_ATTRIBUTES_BYTES),
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
    return page, status


def _attributes_from(typed: str) -> dict:
    """The attributes form's JSON object (empty: none); ValidationFailed saying where JSON went wrong."""
    if len(typed) > MAX_ATTRIBUTES_TEXT:
        raise ValidationFailed(f"the attributes are longer than {MAX_ATTRIBUTES_TEXT:,} characters", "attributes")
    if not typed.strip():
        return {}
    try:
        return json.loads(typed)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise ValidationFailed(f"the attributes are not valid JSON: {exc.msg} ({where})", "attributes") from None
    except RecursionError:
        raise ValidationFailed("the attributes are nested too deeply to be a flat JSON object", "attributes") from None


@bp.route("/subscribers/<int:subscriber_id>/attributes", methods=["POST"])
def set_attributes(subscriber_id: int):
    """Replace this subscription's custom attributes with the JSON object typed on the person's page."""
    subscriber = subscribers.get(account_id(), subscriber_id)  # NotFound -> 404, not a form error
    typed = request.form.get("attributes") or ""
    try:
        subscribers.update(account_id(), subscriber.id, attributes=_attributes_from(typed))
    except ServiceError as exc:
        db.session.rollback()
        return _person_page(subscriber, typed, sentence(exc.message), exc.status)
    flash(f"Attributes of {subscriber.email} on “{subscriber.mailing_list.name}” saved.", "success")
    return redirect(url_for("audience.show", subscriber_id=subscriber.id) + "#attributes")


@bp.route("/subscribers/<int:subscriber_id>/status", methods=["POST"])
def change_status(subscriber_id: int):
    """A manual status change; confirmations and webhooks follow as for any other change."""
    subscribers.get(account_id(), subscriber_id)  # NotFound -> 404, not a flash
    try:
        subscriber = subscribers.update(account_id(), subscriber_id, status=request.form.get("status") or "")
    except ServiceError as exc:
        flash(sentence(exc.message), "error")
    else:
        sent = " A confirmation e-mail is on its way." if subscriber.status == SubscriberStatus.PENDING else ""
        flash(f"{subscriber.email} is now {subscriber.status.value}.{sent}", "success")
    return redirect(url_for("audience.show", subscriber_id=subscriber_id))


@bp.route("/subscribers/<int:subscriber_id>/export.json")
def export(subscriber_id: int):
    """Everything the account holds about this person, as a JSON download (GDPR article 15)."""
    subscriber = subscribers.get(account_id(), subscriber_id)
    document = audience.export(account_id(), subscriber.email, user=current_user)
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
            done = audience.erase(account_id(), subscriber.email, user=current_user)
        except ServiceError as exc:
            error, status = sentence(exc.message), exc.status
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
