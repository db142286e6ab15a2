"""API tokens: list them, create one (its secret shown once), revoke one.

Every user manages the tokens they may see: an admin all of the account's, anyone else their own.
"""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, url_for
from flask_login import current_user

from app.extensions import db
from app.models import Role
from app.services import accounts
from app.services.errors import ValidationFailed
from app.web.tokens import bp
from app.web.tokens.forms import TokenForm


def _index(form: TokenForm):
    return render_template(
        "tokens/index.html",
        tokens=list(db.session.scalars(accounts.tokens(current_user))),
        form=form,
        sees_all=current_user.role == Role.ADMIN,
    )


@bp.route("/tokens")
def index():
    return _index(TokenForm())


@bp.route("/tokens", methods=["POST"])
def create():
    form = TokenForm()
    if form.validate_on_submit():
        try:
            token, plaintext = accounts.issue_token(current_user, form.name.data)
        except ValidationFailed as exc:
            form.name.errors = [*form.name.errors, exc.message]
        else:
            # Rendered, not redirected: the secret must not travel in a cookie or a URL.
            response = make_response(render_template("tokens/created.html", token=token, plaintext=plaintext))
            response.headers["Cache-Control"] = "no-store"
            return response
    return _index(form)


@bp.route("/tokens/<int:token_id>/revoke")
def confirm_revoke(token_id: int):
    return render_template("tokens/revoke.html", token=accounts.get_token(current_user, token_id))


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
def revoke(token_id: int):
    token = accounts.revoke_token(current_user, token_id)
    flash(f"Token “{token.name}” (pr_{token.prefix}_…) is revoked: calls with it now answer 401.", "success")
    return redirect(url_for("tokens.index"))
