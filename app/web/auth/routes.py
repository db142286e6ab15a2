"""Log in (with a second step when two-factor login is on), log out, reset a forgotten password,
and self-service registration (which an admin can close).

Every answer about an address says the same whether an account has it or not: a wrong
password, an unknown address and a disabled user get one message; a reset request gets one
page. Too many failures answer 429 with that same kind of message (app/services/throttle.py).
"""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, url_for
from flask_login import current_user, login_required

from app.services import accounts, password_reset, totp
from app.services.errors import NotFound, ServiceError, ValidationFailed, sentence
from app.services.throttle import TooManyAttempts
from app.web.auth import bp, sessions
from app.web.auth.forms import CodeForm, ForgotForm, LoginForm, NewPasswordForm, RegisterForm


def _refused(template: str, exc: TooManyAttempts, **context):
    flash(exc.message, "error")
    response = make_response(render_template(template, **context), 429)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    context = {"form": form, "registration_open": accounts.registration_open()}
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.email.data, form.password.data)
        except TooManyAttempts as exc:
            return _refused("auth/login.html", exc, **context)
        if user is not None and user.totp_enabled:
            sessions.begin_second_factor(user)
            return redirect(url_for("auth.login_code"))
        if user is not None:
            sessions.start(user)
            # Never redirect to a caller-supplied "next": it would be an open redirect.
            return redirect(url_for("home.index"))
        flash("Wrong e-mail or password.", "error")
    return render_template("auth/login.html", **context)


@bp.route("/login/code", methods=["GET", "POST"])
def login_code():
    """The second step: the code from the authenticator app. Nobody is logged in before it."""
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    user = sessions.pending_user()
    if user is None:
        flash("Log in with your e-mail and password first (the code step lasts 5 minutes).", "info")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            totp.verify_login(user, form.code.data)
        except TooManyAttempts as exc:
            return _refused("auth/code.html", exc, form=form)
        except ValidationFailed as exc:
            form.code.errors = [*form.code.errors, sentence(exc.message)]
            return render_template("auth/code.html", form=form), 422
        sessions.start(user)
        return redirect(url_for("home.index"))
    return render_template("auth/code.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    accounts.record_logout(current_user)
    sessions.end()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/register", methods=["GET", "POST"])
def register():
    if not accounts.registration_open():
        return render_template("auth/register_closed.html"), 403
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = accounts.register(form.email.data, form.password.data)
        except ServiceError as exc:
            flash(exc.message, "error")
        else:
            sessions.start(user)
            flash("Welcome to Postroom. Start by creating a list.", "success")
            return redirect(url_for("home.index"))
    return render_template("auth/register.html", form=form)


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    form = ForgotForm()
    if form.validate_on_submit():
        password_reset.request(form.email.data)
        return render_template("auth/forgot_sent.html")
    return render_template("auth/forgot.html", form=form), 422 if form.errors else 200


def _no_referrer(response):
    """The page's address holds the token: it must not travel in a Referer or stay in a cache."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    try:
        link = password_reset.valid_link(token)
    except NotFound:
        return _no_referrer(make_response(render_template("auth/reset_invalid.html"), 404))
    form = NewPasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            password_reset.reset(link, form.new_password.data)
        except NotFound:
            return _no_referrer(make_response(render_template("auth/reset_invalid.html"), 404))
        except ValidationFailed as exc:
            form.new_password.errors = [*form.new_password.errors, sentence(exc.message)]
        else:
            sessions.end()
            flash("Your password is changed, and every session of yours has ended. Log in with it.", "success")
            return redirect(url_for("auth.login"))
    if form.errors:
        status = 422
    return _no_referrer(make_response(render_template("auth/reset.html", form=form), status))
