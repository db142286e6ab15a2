"""The signed-in user's own account: change the password, turn two-factor login on or off, end
the other sessions. Every role may do all of it, for themselves only.

Each change ends the user's other sessions and keeps this one (it stores the new session
version). The secret of a two-factor setup waits in the session until a code from it proves
the authenticator app has it; only then is it stored.
"""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, session, url_for
from flask_login import current_user

from app.services import accounts, totp
from app.services.errors import Conflict, ValidationFailed, sentence
from app.services.throttle import TooManyAttempts
from app.web.account import bp
from app.web.account.forms import PasswordForm, TwoFactorForm
from app.web.auth import sessions

SETUP_KEY = "totp_setup"


def _index(form: TwoFactorForm | None = None, status: int = 200):
    return render_template("account/index.html", form=form or TwoFactorForm()), status


def _refused(exc: TooManyAttempts, template: str, **context):
    """429 with the limit's message and ``Retry-After``."""
    flash(exc.message, "error")
    response = make_response(render_template(template, **context), 429)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


@bp.route("/account")
def index():
    return _index()


def _show(exc: ValidationFailed, form, default: str) -> None:
    """Put the service's message on the field it names, or on ``default`` when the form has no such field."""
    field = getattr(form, exc.field or default, None)
    field = field if field is not None else getattr(form, default)
    field.errors = [*field.errors, sentence(exc.message)]


@bp.route("/account/password", methods=["GET", "POST"])
def password():
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(current_user, form.current_password.data, form.new_password.data)
        except TooManyAttempts as exc:
            return _refused(exc, "account/password.html", form=form)
        except ValidationFailed as exc:
            _show(exc, form, "new_password")
        else:
            sessions.keep(current_user)
            flash("Your password is changed. Every other session of yours has ended; this one goes on.", "success")
            return redirect(url_for("account.index"))
    return render_template("account/password.html", form=form), 422 if form.errors else 200


@bp.route("/account/two-factor", methods=["GET", "POST"])
def two_factor():
    """Set up two-factor login: the secret to type (or the otpauth URI), then password and a code."""
    if current_user.totp_enabled:
        flash("Two-factor login is already on.", "info")
        return redirect(url_for("account.index"))
    secret = session.get(SETUP_KEY) or totp.new_secret()
    session[SETUP_KEY] = secret
    form = TwoFactorForm()
    if form.validate_on_submit():
        try:
            totp.enable(current_user, secret, form.password.data, form.code.data)
        except TooManyAttempts as exc:
            return _refused(exc, "account/two_factor.html", form=form, secret=secret, uri=_uri(secret))
        except (ValidationFailed, Conflict) as exc:
            _show(ValidationFailed(exc.message, exc.field), form, "code")
        else:
            session.pop(SETUP_KEY, None)
            sessions.keep(current_user)
            flash("Two-factor login is on: from now on, logging in asks for a code from your app.", "success")
            return redirect(url_for("account.index"))
    response = make_response(
        render_template("account/two_factor.html", form=form, secret=secret, uri=_uri(secret)),
        422 if form.errors else 200,
    )
    response.headers["Cache-Control"] = "no-store"  # the page shows the secret
    return response


def _uri(secret: str) -> str:
    return totp.provisioning_uri(secret, current_user.email)


@bp.route("/account/two-factor/disable", methods=["POST"])
def disable_two_factor():
    form = TwoFactorForm()
    if form.validate_on_submit():
        try:
            totp.disable(current_user, form.password.data, form.code.data)
        except TooManyAttempts as exc:
            return _refused(exc, "account/index.html", form=form)
        except (ValidationFailed, Conflict) as exc:
            _show(ValidationFailed(exc.message, exc.field), form, "code")
        else:
            sessions.keep(current_user)
            flash("Two-factor login is off.", "success")
            return redirect(url_for("account.index"))
    return _index(form, 422)


@bp.route("/account/sessions/end", methods=["POST"])
def end_other_sessions():
    accounts.end_other_sessions(current_user)
    sessions.keep(current_user)
    flash("Every other session of yours has ended; this one goes on.", "success")
    return redirect(url_for("account.index"))
