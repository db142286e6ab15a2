"""Saved e-mail templates: list, create, edit, delete, and preview with sample variables."""

from __future__ import annotations

import json

from flask import flash, redirect, render_template, request, url_for
from markupsafe import escape

from app.extensions import db
from app.services import templates
from app.services.errors import ValidationFailed
from app.web.access import account_id
from app.web.forms import save_form
from app.web.preview import preview_response
from app.web.templates_pages import bp
from app.web.templates_pages.forms import TemplateForm

MAX_SAMPLE = 20_000  # characters of sample variables carried in the query string


def _sample(template) -> tuple[str, dict, str | None]:
    """The sample variables as (JSON text, value, error): from the query, else a placeholder per variable."""
    raw = request.args.get("variables")
    if raw is None:
        values = {name: f"[{name}]" for name in templates.variables(template)}
        return json.dumps(values, indent=2), values, None
    if len(raw) > MAX_SAMPLE:
        return raw[:MAX_SAMPLE], {}, f"sample variables are limited to {MAX_SAMPLE} characters"
    try:
        values = json.loads(raw)
    except ValueError as exc:
        return raw, {}, f"sample variables are not valid JSON: {exc}"
    if not isinstance(values, dict):
        return raw, {}, 'sample variables must be a JSON object, like {"name": "Ada"}'
    return raw, values, None


@bp.route("/templates")
def index():
    rows = list(db.session.scalars(templates.query(account_id())))
    return render_template("email_templates/index.html", templates=rows)


@bp.route("/templates/new", methods=["GET", "POST"])
def new():
    form = TemplateForm()
    template = save_form(form, lambda: templates.create(account_id(), form.data_for_service()))
    if template:
        flash("Template saved. Send it with POST /api/v1/emails and its template_id.", "success")
        return redirect(url_for("email_templates.show", template_id=template.id))
    return render_template("email_templates/form.html", form=form, template=None)


@bp.route("/templates/<int:template_id>")
def show(template_id: int):
    template = templates.get(account_id(), template_id)
    raw, values, error = _sample(template)
    rendered = None
    if error is None:
        try:
            rendered = templates.render(template, values)
        except ValidationFailed as exc:
            error = exc.message
    return render_template(
        "email_templates/show.html",
        template=template,
        variables=templates.variables(template),
        sample=raw,
        rendered=rendered,
        error=error,
    )


@bp.route("/templates/<int:template_id>/preview")
def preview(template_id: int):
    """The rendered HTML alone, for the sandboxed preview frame."""
    template = templates.get(account_id(), template_id)
    _raw, values, error = _sample(template)
    html = ""
    if error is None:
        try:
            html = templates.render(template, values).html
        except ValidationFailed as exc:
            error = exc.message
    if error:
        html = f"<p>{escape(error)}</p>"
    # The body is author HTML: no scripts, no same-origin access, even if framed elsewhere.
    return preview_response(html, frame=True)


@bp.route("/templates/<int:template_id>/edit", methods=["GET", "POST"])
def edit(template_id: int):
    template = templates.get(account_id(), template_id)
    form = TemplateForm(obj=template if request.method == "GET" else None)
    if save_form(form, lambda: templates.update(account_id(), template_id, form.data_for_service())):
        flash("Template saved. E-mails already sent from it keep their content.", "success")
        return redirect(url_for("email_templates.show", template_id=template_id))
    return render_template("email_templates/form.html", form=form, template=template)


@bp.route("/templates/<int:template_id>/delete", methods=["POST"])
def delete(template_id: int):
    template = templates.get(account_id(), template_id)
    name = template.name
    templates.delete(account_id(), template_id)
    flash(f"Template “{name}” deleted. E-mails already sent from it keep their content.", "success")
    return redirect(url_for("email_templates.index"))
