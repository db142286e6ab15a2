"""The dashboard's front page: what is there and what happened lately."""

from __future__ import annotations

import sqlalchemy as sa
from flask import render_template

from app.extensions import db
from app.models import Campaign, MailingList, Subscriber
from app.services import campaigns, emails
from app.web.access import account_id
from app.web.home import bp


@bp.route("/")
def index():
    aid = account_id()
    count = lambda model: db.session.scalar(  # noqa: E731
        sa.select(sa.func.count(model.id)).where(model.account_id == aid)
    )
    recent_campaigns = list(db.session.scalars(campaigns.query(aid).limit(5)))
    recent_emails = list(db.session.scalars(emails.send_log(aid, limit=10)))
    return render_template(
        "home/index.html",
        list_count=count(MailingList),
        subscriber_count=count(Subscriber),
        campaign_count=count(Campaign),
        recent_campaigns=recent_campaigns,
        recent_emails=recent_emails,
    )
