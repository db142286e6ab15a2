"""Import a CSV file into a list and watch it run; download a list, or an import's bad rows, as CSV."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.api.imports import csv_download
from app.extensions import csrf, db
from app.services import imports, lists, personalise
from app.services.errors import ServiceError, sentence
from app.web.access import account_id
from app.web.lists import bp
from app.web.lists.forms import ImportForm

# Room for the multipart boundaries and the form's other fields around a file of the maximum size.
FORM_SLACK = 64 * 1024
RECENT = 10
ERRORS_SHOWN = 20


# The global CSRF check would parse the upload under the app-wide size limit before this view
# can raise it; the form checks its own CSRF token instead (FlaskForm does, in validate_on_submit).
@csrf.exempt
@bp.route("/lists/<int:list_id>/import", methods=["GET", "POST"])
def new_import(list_id: int):
    mailing_list = lists.get(account_id(), list_id)
    limit = imports.max_bytes()
    status = 200
    if request.method == "POST" and (request.content_length or 0) > limit + FORM_SLACK:
        form = ImportForm(formdata=None)  # the body stays unread
        form.file.errors = [f"The file is larger than the {imports.megabytes(limit)} limit; split it."]
        status = 413
    else:
        request.max_content_length = limit + FORM_SLACK
        form = ImportForm()
        if form.validate_on_submit():
            upload = form.file.data
            try:
                job = imports.create(account_id(), list_id, upload.stream, upload.filename, form.status.data)
            except ServiceError as exc:
                form.file.errors = [*form.file.errors, sentence(exc.message)]
                status = exc.status if exc.status == 413 else 200
            else:
                flash(f"“{job.filename}” uploaded; the import runs in the background.", "success")
                return redirect(url_for("lists.show_import", import_id=job.id))
        elif "csrf_token" in form.errors:
            flash("The form expired; please choose the file again.", "error")
    recent = db.session.scalars(imports.query(account_id(), list_id).limit(RECENT)).all()
    return (
        render_template(
            "lists/import_new.html",
            mailing_list=mailing_list,
            form=form,
            recent=recent,
            limit=imports.megabytes(limit),
            attribute_limits=(
                personalise.MAX_ATTRIBUTES,
                personalise.MAX_ATTRIBUTE_NAME,
                personalise.MAX_ATTRIBUTES_BYTES,
            ),
        ),
        status,
    )


def _progress_context(import_id: int) -> dict:
    job = imports.get(account_id(), import_id)
    errors = db.session.scalars(imports.row_errors(account_id(), import_id).limit(ERRORS_SHOWN)).all()
    return {
        "job": job,
        "mailing_list": lists.get(account_id(), job.list_id),
        "errors": errors,
        "live": not job.status.finished,
        "summary": imports.summary(job),
        "max_stored": imports.MAX_STORED_ERRORS,
    }


@bp.route("/imports/<int:import_id>")
def show_import(import_id: int):
    return render_template("lists/import.html", **_progress_context(import_id))


@bp.route("/imports/<int:import_id>/progress")
def import_progress(import_id: int):
    """The progress fragment; it keeps polling itself only while the import runs."""
    return render_template("lists/_import_progress.html", **_progress_context(import_id))


@bp.route("/imports/<int:import_id>/errors.csv")
def import_errors(import_id: int):
    return csv_download(imports.errors_csv(account_id(), import_id), f"import-{import_id}-errors.csv")


@bp.route("/lists/<int:list_id>/export.csv")
def export(list_id: int):
    status = request.args.get("status") or None
    if status not in (None, "pending", "confirmed", "unsubscribed"):
        status = None
    rows = imports.export(account_id(), list_id, status, user=current_user)
    return csv_download(rows, imports.export_filename(account_id(), list_id))
