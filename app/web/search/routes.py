"""The search box in the header: a Message-ID opens that e-mail's timeline, an address its e-mails."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for

from app.services import audience
from app.web.access import account_id
from app.web.search import bp


@bp.route("/search")
def index():
    q = (request.args.get("q") or "").strip()
    found = audience.lookup(account_id(), q) if q else None
    if found is not None and found.email is not None:
        return redirect(url_for("sendlog.show", email_id=found.email.id))
    names = audience.campaign_names(account_id(), (e.campaign_id for e in found.emails)) if found else {}
    return render_template("search/index.html", q=q, found=found, campaign_names=names)
