"""The suppression list: browse and filter it, add or remove an address, import a file."""

from __future__ import annotations

from datetime import UTC, datetime, time

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.extensions import db
from app.models.base import utcnow
from app.services import suppressions
from app.services.errors import ServiceError, ValidationFailed
from app.web.access import account_id
from app.web.params import database_id
from app.web.suppressions import bp
from app.web.suppressions.forms import REASON_CHOICES, ImportForm, SuppressionForm

PAGE = 50


def _filters() -> dict:
    """The list's filters from the query string; an unknown reason is dropped, not an error."""
    reason = request.args.get("reason") or None
    return {
        "reason": reason if reason in suppressions.REASONS else None,
        "q": (request.args.get("q") or "").strip()[:254] or None,
    }


def _index(form: SuppressionForm):
    filters = _filters()
    before = request.args.get("before", type=database_id)
    stmt = suppressions.query(account_id(), filters["reason"], filters["q"], before_id=before)
    rows = list(db.session.scalars(stmt.limit(PAGE + 1)))
    return render_template(
        "suppressions/index.html",
        suppressions=rows[:PAGE],
        next_before=rows[PAGE - 1].id if len(rows) > PAGE else None,
        first_page=before is None,
        filters=filters,
        counts=suppressions.counts(account_id()),
        reasons=[(choice.value, choice.label) for choice in REASON_CHOICES],
        form=form,
        now=utcnow(),
    )


@bp.route("/suppressions")
def index():
    return _index(SuppressionForm())


@bp.route("/suppressions", methods=["POST"])
def add():
    form = SuppressionForm()
    if form.validate_on_submit():
        expires_at = datetime.combine(form.expires_on.data, time(), UTC) if form.expires_on.data else None
        try:
            row = suppressions.add(account_id(), form.email.data, form.reason.data, form.detail.data or "", expires_at)
        except ServiceError as exc:
            _show_on_field(form, exc)
        else:
            flash(f"{row.email} is suppressed: campaigns will not send to it.", "success")
            return redirect(url_for("suppressions.index"))
    return _index(form)


@bp.route("/suppressions/<int:suppression_id>/delete", methods=["POST"])
def delete(suppression_id: int):
    address = suppressions.remove(account_id(), suppression_id, user=current_user)
    flash(f"{address} removed from the suppression list; campaigns can reach it again.", "success")
    return redirect(url_for("suppressions.index", **_filters()))


@bp.route("/suppressions/import", methods=["GET", "POST"])
def import_():
    form = ImportForm()
    result = None
    if form.validate_on_submit():
        source = form.file.data.stream if form.file.data and form.file.data.filename else form.addresses.data
        try:
            result = suppressions.import_csv(account_id(), source, form.reason.data)
        except ValidationFailed as exc:
            _show_on_field(form, exc)
        else:
            bad = f", {result.rejected} line(s) rejected" if result.rejected else ""
            flash(
                f"Import finished: {result.added} added, {result.already} already suppressed{bad}.",
                "error" if result.rejected and not result.added else "success",
            )
            form.addresses.data = ""
    return render_template("suppressions/import.html", form=form, result=result)


def _show_on_field(form, exc: ServiceError) -> None:
    """Put a service error under the field it names (expiry under the date), else flash it."""
    name = "expires_on" if exc.field == "expires_at" else exc.field
    field = getattr(form, name, None) if name else None
    if field is not None:
        field.errors = [*field.errors, exc.message]
    else:
        flash(exc.message, "error")
