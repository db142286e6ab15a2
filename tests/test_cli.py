"""The command line of CONTRACT.md section 3."""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import ApiToken, User
from app.services import accounts


def test_users_create_and_join_an_account(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "a@example.com", "--password", "long enough pw"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        args=[
            "users",
            "create",
            "b@example.com",
            "--password",
            "long enough pw",
            "--role",
            "support",
            "--account",
            "a@example.com",
        ]
    )
    assert result.exit_code == 0, result.output
    a, b = db.session.scalars(sa.select(User).order_by(User.id)).all()
    assert a.account_id == b.account_id and b.role.value == "support"


def test_users_create_rejects_bad_input(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["users", "create", "nope", "--password", "long enough pw"]).exit_code != 0
    assert runner.invoke(args=["users", "create", "a@example.com", "--password", "short"]).exit_code != 0
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_tokens_create_prints_the_token_alone(app, make_user):
    make_user()
    result = app.test_cli_runner().invoke(args=["tokens", "create", "owner@example.com", "--name", "ci"])
    assert result.exit_code == 0
    token = result.output.strip()
    assert "\n" not in token and token.startswith("pr_")
    assert accounts.token_for(token).user.email == "owner@example.com"
    stored = db.session.scalar(sa.select(ApiToken))
    assert token.split("_")[2] not in (stored.secret_hash, stored.prefix)  # only a hash is kept


def test_ensure_admin_prints_credentials_once(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["users", "ensure-admin"])
    assert "password:" in first.output
    second = runner.invoke(args=["users", "ensure-admin"])
    assert second.output == ""
