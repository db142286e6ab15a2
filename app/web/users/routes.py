"""The account's users, for its admins: add one with a role, change roles, disable and enable."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.extensions import db
from app.models import Role
from app.services import users
from app.services.errors import ServiceError, sentence
from app.web.access import account_id
from app.web.users import bp
from app.web.users.forms import ROLE_CHOICES, UserForm


def _index(form: UserForm, status: int = 200):
    page = render_template(
        "users/index.html",
        users=list(db.session.scalars(users.query(account_id()))),
        form=form,
        roles=[choice.value for choice in ROLE_CHOICES],
    )
    return page, status


@bp.route("/users")
def index():
    return _index(UserForm())


@bp.route("/users", methods=["POST"])
def add():
    form = UserForm()
    if form.validate_on_submit():
        try:
            user = users.add(account_id(), form.email.data, form.password.data, form.role.data, current_user)
        except ServiceError as exc:
            field = getattr(form, exc.field or "", None)
            if field is not None:
                field.errors = [*field.errors, sentence(exc.message)]
            else:
                flash(exc.message, "error")
        else:
            flash(f"{user.email} can now log in as {user.role.value}.", "success")
            return redirect(url_for("users.index"))
    return _index(form, 422)


def _change(user_id: int, change, done):
    users.get(account_id(), user_id)  # NotFound -> 404, not a flash
    try:
        user = change()
    except ServiceError as exc:
        flash(sentence(exc.message), "error")
    else:
        flash(done(user), "success")
        if user.id == current_user.id and user.role != Role.ADMIN:
            return redirect(url_for("home.index"))  # no longer an admin: the users page is gone
    return redirect(url_for("users.index"))


@bp.route("/users/<int:user_id>/role", methods=["POST"])
def change_role(user_id: int):
    return _change(
        user_id,
        lambda: users.change_role(account_id(), user_id, request.form.get("role") or "", current_user),
        lambda user: f"{user.email} is now {user.role.value}.",
    )


@bp.route("/users/<int:user_id>/disable", methods=["POST"])
def disable(user_id: int):
    return _change(
        user_id,
        lambda: users.set_active(account_id(), user_id, False, current_user),
        lambda user: f"{user.email} is disabled: they cannot log in, and their API tokens answer 401.",
    )


@bp.route("/users/<int:user_id>/enable", methods=["POST"])
def enable(user_id: int):
    return _change(
        user_id,
        lambda: users.set_active(account_id(), user_id, True, current_user),
        lambda user: f"{user.email} is enabled again.",
    )
