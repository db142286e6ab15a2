"""The send log (every e-mail, filterable, keyset-paginated) and one e-mail's timeline."""

from __future__ import annotations

from flask import render_template, request

from app.extensions import db
from app.models import EmailStatus
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


@bp.route("/emails/<int:email_id>")
def show(email_id: int):
    email = emails.get(account_id(), email_id)
    campaign = campaigns.get(account_id(), email.campaign_id) if email.campaign_id else None
    return render_template("sendlog/show.html", email=email, campaign=campaign)
