"""Log in, log out, and self-service registration (which an admin can close)."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app.services import accounts
from app.services.errors import ServiceError
from app.web.auth import bp
from app.web.auth.forms import LoginForm, RegisterForm


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data, form.password.data)
        if user is not None:
            login_user(user)
            # Never redirect to a caller-supplied "next": it would be an open redirect.
            return redirect(url_for("home.index"))
        flash("Wrong e-mail or password.", "error")
    return render_template("auth/login.html", form=form, registration_open=accounts.registration_open())


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
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
            login_user(user)
            flash("Welcome to Postroom. Start by creating a list.", "success")
            return redirect(url_for("home.index"))
    return render_template("auth/register.html", form=form)
