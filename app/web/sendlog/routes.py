"""The send log (every e-mail, filterable, keyset-paginated) and one e-mail's timeline."""

from __future__ import annotations

from datetime import timedelta

from flask import render_template, request

from app.extensions import db
from app.models import EmailStatus
from app.models.base import utcnow
from app.services import campaigns, emails
from app.services.errors import ValidationFailed
from app.web.access import account_id
from app.web.params import database_id
from app.web.sendlog import bp


@bp.route("/emails")
def index():
    filters = {
        "campaign_id": request.args.get("campaign_id", type=database_id),
        "status": request.args.get("status") or None,
        "recipient": (request.args.get("recipient") or "").strip() or None,
    }
    before = request.args.get("before", type=database_id)
    error = None
    try:
        stmt = emails.send_log(account_id(), **filters, before_id=before, limit=emails.PAGE_SIZE + 1)
        rows, next_before = emails.page(stmt, emails.PAGE_SIZE)
    except ValidationFailed as exc:
        rows, next_before, error = [], None, exc.message
    campaign_names = {c.id: c.name or c.subject for c in db.session.scalars(campaigns.query(account_id()))}
    return render_template(
        "sendlog/index.html",
        emails=rows,
        next_before=next_before,
        filters=filters,
        error=error,
        statuses=[s.value for s in EmailStatus],
        campaign_names=campaign_names,
        first_page=before is None,
    )


@bp.route("/emails/<int:email_id>/row")
def row(email_id: int):
    """One send-log row, for the rows that refresh themselves until their status is final."""
    email = emails.get(account_id(), email_id)
    names = {}
    if email.campaign_id:
        campaign = campaigns.get(account_id(), email.campaign_id)
        names[campaign.id] = campaign.name or campaign.subject
    return render_template("sendlog/_row.html", e=email, campaign_names=names)


@bp.route("/emails/<int:email_id>")
def show(email_id: int):
    return render_template("sendlog/show.html", **_email_context(email_id))


@bp.route("/emails/<int:email_id>/detail")
def detail(email_id: int):
    """The e-mail's facts, attempts and timeline, for the page that refreshes itself."""
    return render_template("sendlog/_email.html", **_email_context(email_id))


OPEN_STATUSES = (EmailStatus.QUEUED, EmailStatus.SENDING, EmailStatus.DEFERRED)
AFTER_DELIVERY = timedelta(days=1)  # opens, clicks and late bounces mostly come within a day


def _email_context(email_id: int) -> dict:
    email = emails.get(account_id(), email_id)
    campaign = campaigns.get(account_id(), email.campaign_id) if email.campaign_id else None
    if email.status in OPEN_STATUSES:
        refresh = 2
    elif email.status == EmailStatus.DELIVERED and email.sent_at and utcnow() - email.sent_at < AFTER_DELIVERY:
        refresh = 15
    else:
        refresh = None
    return {"email": email, "campaign": campaign, "refresh": refresh}
