"""SMTP providers: the list with live numbers, and (for admins) adding, editing and deleting."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.delivery.transport import SmtpSettings
from app.models import Role
from app.services import providers
from app.web.access import account_id
from app.web.forms import save_form
from app.web.providers import bp
from app.web.providers.forms import ProviderForm

# A service error about the URL belongs on the form's host field, where the URL is typed.
FIELD_FOR = {"smtp_url": "host"}


@bp.before_request
def admins_change_providers():
    """Everyone may look; only an account's admins add, edit or delete its providers."""
    if request.endpoint != "providers.index" and current_user.role != Role.ADMIN:
        abort(404)


@bp.route("/providers")
def index():
    states = providers.provider_states(account_id(), current_app.extensions["redis"])
    return render_template(
        "providers/index.html",
        states=states,
        uses_default=not any(s.provider.enabled for s in states),
        can_change=current_user.role == Role.ADMIN,
    )


@bp.route("/providers/new", methods=["GET", "POST"])
def new():
    form = ProviderForm()
    saved = save_form(form, lambda: providers.create(account_id(), **form.data_for_service()), FIELD_FOR)
    if saved:
        flash(f"Provider “{saved.name}” added.", "success")
        return redirect(url_for("providers.index"))
    return render_template("providers/form.html", form=form, provider=None)


@bp.route("/providers/<int:provider_id>/edit", methods=["GET", "POST"])
def edit(provider_id: int):
    provider = providers.get(account_id(), provider_id)
    form = ProviderForm(obj=provider if request.method == "GET" else None)
    if request.method == "GET":
        form.fill_from_url(provider.smtp_url)
        form.warmup.data = provider.warmup_schedule or ""
    stored = SmtpSettings.from_url(provider.smtp_url).password
    saved = save_form(
        form,
        lambda: providers.update(
            account_id(), provider_id, restart_warmup=form.restart_warmup.data, **form.data_for_service(stored)
        ),
        FIELD_FOR,
    )
    if saved:
        flash(f"Provider “{saved.name}” saved.", "success")
        return redirect(url_for("providers.index"))
    return render_template("providers/form.html", form=form, provider=provider)


@bp.route("/providers/<int:provider_id>/delete", methods=["POST"])
def delete(provider_id: int):
    provider = providers.get(account_id(), provider_id)
    providers.delete(account_id(), provider.id)
    flash(f"Provider “{provider.name}” deleted.", "success")
    return redirect(url_for("providers.index"))
