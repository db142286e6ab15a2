"""Compose, review and send campaigns; watch them progress live."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import flash, make_response, redirect, render_template, request, url_for
from markupsafe import escape
from wtforms import SelectChoice

from app.extensions import db
from app.models import CampaignStatus
from app.services import campaigns, counters, editor, lists, templates
from app.services.errors import ServiceError, ValidationFailed
from app.web.access import account_id
from app.web.campaigns import analytics, bp
from app.web.campaigns.forms import CampaignForm, SaveTemplateForm, TestSendForm
from app.web.forms import save_form
from app.web.params import database_id
from app.web.preview import preview_response

LIVE = (CampaignStatus.SENDING, CampaignStatus.SCHEDULED)


def _form(obj=None) -> CampaignForm:
    form = CampaignForm(obj=obj)
    form.list_id.choices = [SelectChoice(m.id, m.name) for m in db.session.scalars(lists.query(account_id()))]
    return form


def _editor(form: CampaignForm, campaign=None):
    """The editor page with its preview rendered now: it works without JavaScript too."""
    data = form.data_for_service()
    data["list_id"] = data["list_id"] or form.list_id.choices[0].value
    return render_template(
        "campaigns/form.html",
        form=form,
        campaign=campaign,
        preview=editor.preview(account_id(), data),
        saved_templates=[] if campaign else list(db.session.scalars(templates.query(account_id()))),
    )


@bp.route("/campaigns")
def index():
    rows = list(db.session.scalars(campaigns.query(account_id())))
    return render_template("campaigns/index.html", campaigns=rows, stats=counters.statuses(c.id for c in rows))


@bp.route("/campaigns/new", methods=["GET", "POST"])
def new():
    form = _form()
    if not form.list_id.choices:
        flash("Create a list first: a campaign is sent to one list.", "info")
        return redirect(url_for("lists.new"))
    template_id = request.args.get("template_id", type=database_id)
    if request.method == "GET" and template_id is not None:
        for key, value in editor.from_template(account_id(), template_id).items():  # NotFound -> 404
            getattr(form, key).data = value
    campaign = save_form(form, lambda: campaigns.create(account_id(), form.data_for_service()))
    if campaign:
        flash("Draft saved. Review it, then send.", "success")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    return _editor(form)


@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
def edit(campaign_id: int):
    campaign = campaigns.get(account_id(), campaign_id)
    if campaign.status != CampaignStatus.DRAFT:
        flash("Only drafts can be edited.", "error")
        return redirect(url_for("campaigns.show", campaign_id=campaign_id))
    form = _form(obj=campaign if request.method == "GET" else None)
    saved = save_form(form, lambda: campaigns.update(account_id(), campaign_id, form.data_for_service()))
    if saved:
        flash("Draft saved.", "success")
        return redirect(url_for("campaigns.show", campaign_id=campaign_id))
    return _editor(form, campaign)


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
    progress = _progress_context(campaign)
    # One count of the campaign's rows for the whole page (it is the costly query on big ones).
    extra = analytics.context(campaign, progress["counts"]) if campaign.status != CampaignStatus.DRAFT else {}
    return render_template(
        "campaigns/show.html",
        audience=audience,
        preview=editor.saved_preview(account_id(), campaign.id),
        test_form=TestSendForm(),
        template_form=SaveTemplateForm(),
        **(progress | extra),
    )


@bp.route("/campaigns/<int:campaign_id>/progress")
def progress(campaign_id: int):
    """The progress fragment; it keeps polling itself only while the campaign is live."""
    campaign = campaigns.get(account_id(), campaign_id)
    context = _progress_context(campaign)
    response = make_response(render_template("campaigns/_progress.html", oob=True, **context))
    if not context["live"]:
        # The last poll: the analytics section refreshes once more, with the final figures.
        response.headers["HX-Trigger"] = "campaign-settled"
    return response


@bp.route("/campaigns/<int:campaign_id>/preview")
def preview(campaign_id: int):
    """The HTML body rendered for a sample subscriber alone, for the sandboxed preview frame."""
    preview = editor.saved_preview(account_id(), campaign_id)
    # The body is author HTML: no scripts, no same-origin access, even if framed elsewhere.
    html = preview.rendered.html if preview.rendered else f"<p>{escape(preview.error)}</p>"
    return preview_response(html, frame=True)


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
