"""The campaign editor: live preview, test sends, duplicates and saved templates.

The preview shows author HTML in an iframe with an empty ``sandbox`` (no scripts, no same
origin) whose document starts with a Content-Security-Policy that allows no script and no
fetch but images; the preview answer itself carries the same policy.
"""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request, url_for
from markupsafe import Markup

from app.models import EmailStatus
from app.services import campaigns, editor
from app.services.errors import ServiceError
from app.web.access import account_id
from app.web.campaigns import bp
from app.web.campaigns.forms import SaveTemplateForm, TestSendForm

# What author HTML may do in a preview: show inline styles and images, nothing else.
PREVIEW_POLICY = "default-src 'none'; img-src * data:; style-src 'unsafe-inline'"


def frame_document(html: str) -> str:
    """The iframe's document: the policy first, so it applies before any of the author's HTML."""
    meta = Markup('<meta http-equiv="Content-Security-Policy" content="{}">').format(PREVIEW_POLICY)
    return f"{meta}\n{html}"  # plain text: the template escapes it once, as the srcdoc value


@bp.context_processor
def _helpers() -> dict:
    return {"frame_document": frame_document}


def preview_response(body: str, frame: bool = False):
    """``body`` with the preview policy (plus ``sandbox`` when it is a frame's whole document)."""
    response = make_response(body)
    response.headers["Content-Security-Policy"] = ("sandbox; " if frame else "") + PREVIEW_POLICY
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    return response


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
