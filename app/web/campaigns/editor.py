"""The campaign editor: live preview, test sends, duplicates and saved templates.

The preview shows author HTML sandboxed (app/web/preview.py).
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from app.models import EmailStatus
from app.services import campaigns, editor
from app.services.errors import ServiceError
from app.web.access import account_id
from app.web.campaigns import bp
from app.web.campaigns.forms import SaveTemplateForm, TestSendForm
from app.web.preview import frame_document, preview_response


@bp.context_processor
def _helpers() -> dict:
    return {"frame_document": frame_document}


@bp.route("/campaigns/preview", methods=["POST"])
def live_preview():
    """The editor's preview fragment, for the fields posted (by HTMX as the author types)."""
    preview = editor.preview(account_id(), request.form.to_dict())
    return preview_response(render_template("campaigns/_live_preview.html", preview=preview))


@bp.route("/campaigns/<int:campaign_id>/test", methods=["POST"])
def send_test(campaign_id: int):
    campaign = campaigns.get(account_id(), campaign_id)  # NotFound -> 404
    form = TestSendForm()
    if not form.validate_on_submit():
        flash("Give up to five addresses, separated by commas, to send a test to.", "error")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    try:
        sent = editor.send_test(account_id(), campaign.id, form.addresses.data)
    except ServiceError as exc:
        flash(f"No test sent: {exc.message}", "error")
    else:
        queued = [email.recipient for email in sent if email.status != EmailStatus.SUPPRESSED]
        blocked = [email.recipient for email in sent if email.status == EmailStatus.SUPPRESSED]
        if queued:
            flash(f"Test sent to {', '.join(queued)}; it shows in the send log.", "success")
        if blocked:
            flash(f"Not sent to {', '.join(blocked)}: on your suppression list.", "error")
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))


@bp.route("/campaigns/<int:campaign_id>/duplicate", methods=["POST"])
def duplicate(campaign_id: int):
    copy = campaigns.duplicate(account_id(), campaign_id)
    flash("This is a copy, saved as a new draft.", "success")
    return redirect(url_for("campaigns.edit", campaign_id=copy.id))


@bp.route("/campaigns/<int:campaign_id>/save-template", methods=["POST"])
def save_template(campaign_id: int):
    campaign = campaigns.get(account_id(), campaign_id)  # NotFound -> 404
    form = SaveTemplateForm()
    if not form.validate_on_submit():
        flash("Give the template a name (up to 200 characters).", "error")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    try:
        template = editor.save_as_template(account_id(), campaign.id, form.name.data)
    except ServiceError as exc:
        flash(f"Not saved as a template: {exc.message}", "error")
    else:
        flash(f"Saved as the template “{template.name}”: start a new campaign from it.", "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))
