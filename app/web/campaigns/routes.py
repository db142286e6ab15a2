"""Compose, review and send campaigns; watch them progress live."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import flash, make_response, redirect, render_template, request, url_for
from wtforms import SelectChoice

from app.extensions import db
from app.models import CampaignStatus
from app.services import campaigns, lists
from app.services.errors import ServiceError, ValidationFailed
from app.web.access import account_id
from app.web.campaigns import bp
from app.web.campaigns.forms import CampaignForm

LIVE = (CampaignStatus.SENDING, CampaignStatus.SCHEDULED)


def _form(obj=None) -> CampaignForm:
    form = CampaignForm(obj=obj)
    form.list_id.choices = [SelectChoice(m.id, m.name) for m in db.session.scalars(lists.query(account_id()))]
    return form


def _save(form: CampaignForm, save):
    """Validate the form, call ``save``; on a service error, show it on the field it names."""
    if not form.validate_on_submit():
        return None
    try:
        return save(form.data_for_service())
    except ServiceError as exc:
        field = getattr(form, exc.field, None) if exc.field else None
        if field is not None:
            field.errors = [*field.errors, exc.message]
        else:
            flash(exc.message, "error")
        return None


@bp.route("/campaigns")
def index():
    rows = list(db.session.scalars(campaigns.query(account_id())))
    return render_template("campaigns/index.html", campaigns=rows, stats={c.id: campaigns.stats(c.id) for c in rows})


@bp.route("/campaigns/new", methods=["GET", "POST"])
def new():
    form = _form()
    if not form.list_id.choices:
        flash("Create a list first: a campaign is sent to one list.", "info")
        return redirect(url_for("lists.new"))
    campaign = _save(form, lambda data: campaigns.create(account_id(), data))
    if campaign:
        flash("Draft saved. Review it, then send.", "success")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    return render_template("campaigns/form.html", form=form, campaign=None)


@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
def edit(campaign_id: int):
    campaign = campaigns.get(account_id(), campaign_id)
    if campaign.status != CampaignStatus.DRAFT:
        flash("Only drafts can be edited.", "error")
        return redirect(url_for("campaigns.show", campaign_id=campaign_id))
    form = _form(obj=campaign if request.method == "GET" else None)
    saved = _save(form, lambda data: campaigns.update(account_id(), campaign_id, data))
    if saved:
        flash("Draft saved.", "success")
        return redirect(url_for("campaigns.show", campaign_id=campaign_id))
    return render_template("campaigns/form.html", form=form, campaign=campaign)


def _progress_context(campaign) -> dict:
    counts = campaigns.stats(campaign.id)
    return {
        "campaign": campaign,
        "counts": counts,
        "percent": campaigns.progress(campaign, counts),
        "live": campaign.status in LIVE,
    }


@bp.route("/campaigns/<int:campaign_id>")
def show(campaign_id: int):
    campaign = campaigns.get(account_id(), campaign_id)
    audience = lists.counts(campaign.list_id)["confirmed"] if campaign.status == CampaignStatus.DRAFT else None
    return render_template("campaigns/show.html", audience=audience, **_progress_context(campaign))


@bp.route("/campaigns/<int:campaign_id>/progress")
def progress(campaign_id: int):
    """The progress fragment; it keeps polling itself only while the campaign is live."""
    campaign = campaigns.get(account_id(), campaign_id)
    return render_template("campaigns/_progress.html", **_progress_context(campaign))


@bp.route("/campaigns/<int:campaign_id>/preview")
def preview(campaign_id: int):
    """The HTML body alone, for the sandboxed preview frame."""
    campaign = campaigns.get(account_id(), campaign_id)
    response = make_response(campaign.html)
    # The body is author HTML: no scripts, no same-origin access, even if framed elsewhere.
    response.headers["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; img-src * data:; style-src 'unsafe-inline'"
    )
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    return response


def _send_at() -> datetime | None:
    """The optional schedule from the send form: a ``datetime-local`` value read as UTC."""
    raw = (request.form.get("send_at") or "").strip()
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=UTC)
    except ValueError:
        raise ValidationFailed("the send time must look like 2026-12-01T09:00", "send_at") from None


@bp.route("/campaigns/<int:campaign_id>/send", methods=["POST"])
def send(campaign_id: int):
    campaign = campaigns.get(account_id(), campaign_id)  # NotFound -> 404, not a flash
    try:
        campaign = campaigns.send(account_id(), campaign.id, _send_at())
    except ServiceError as exc:
        flash(exc.message, "error")
    else:
        scheduled = campaign.status == CampaignStatus.SCHEDULED
        flash(
            f"“{campaign.subject}” "
            + (f"scheduled for {campaign.send_at:%Y-%m-%d %H:%M} UTC." if scheduled else "is sending."),
            "success",
        )
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


def _lifecycle(action, done: str):
    def view(campaign_id: int):
        campaigns.get(account_id(), campaign_id)  # NotFound -> 404
        try:
            action(account_id(), campaign_id)
        except ServiceError as exc:
            flash(exc.message, "error")
        else:
            flash(done, "success")
        return redirect(url_for("campaigns.show", campaign_id=campaign_id))

    return view


bp.add_url_rule(
    "/campaigns/<int:campaign_id>/pause",
    "pause",
    _lifecycle(campaigns.pause, "Paused. Nothing new is handed to the mail server until you resume."),
    methods=["POST"],
)
bp.add_url_rule(
    "/campaigns/<int:campaign_id>/resume",
    "resume",
    _lifecycle(campaigns.resume, "Resumed: sending to everyone not yet reached."),
    methods=["POST"],
)
bp.add_url_rule(
    "/campaigns/<int:campaign_id>/cancel",
    "cancel",
    _lifecycle(campaigns.cancel, "Cancelled. E-mails not yet sent will not be."),
    methods=["POST"],
)
