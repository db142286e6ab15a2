"""Command-line interface (CONTRACT.md section 3): ``flask --app wsgi users|tokens ...``."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from app.models import Role
from app.services import accounts
from app.services.errors import ServiceError

users_cli = AppGroup("users", help="Manage users.")
tokens_cli = AppGroup("tokens", help="Manage API tokens.")
campaigns_cli = AppGroup("campaigns", help="Look after campaigns.")
secrets_cli = AppGroup("secrets", help="Secrets stored encrypted (SMTP passwords, webhook and two-factor secrets).")


def _fail(exc: ServiceError) -> None:
    raise click.ClickException(exc.message)


@users_cli.command("create")
@click.argument("email")
@click.option("--password", required=True, help="At least 10 characters.")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.ADMIN.value)
@click.option("--account", "account_name", default=None, help="Join this account (created if new).")
def create_user(email: str, password: str, role: str, account_name: str | None) -> None:
    """Create a user; a new account unless --account is given."""
    try:
        user = accounts.create_user(email, password, Role(role), account_name)
    except ServiceError as exc:
        _fail(exc)
    click.echo(f"created {user.role.value} {user.email} in account {user.account.name!r}")


@users_cli.command("ensure-admin")
def ensure_admin() -> None:
    """Create the first admin if there are no users, and print its credentials once."""
    created = accounts.ensure_admin()
    if created:
        email, password = created
        click.echo("=" * 60)
        click.echo("  Postroom admin created. Log in at the dashboard with:")
        click.echo(f"    e-mail:   {email}")
        click.echo(f"    password: {password}")
        click.echo("  (shown only this once)")
        click.echo("=" * 60)


@tokens_cli.command("create")
@click.argument("email")
@click.option("--name", default="cli", help="A label to recognise the token by.")
def create_token(email: str, name: str) -> None:
    """Print a new API token, alone on stdout."""
    try:
        click.echo(accounts.create_token(email, name))
    except ServiceError as exc:
        _fail(exc)


@campaigns_cli.command("recount")
@click.option("--fix", is_flag=True, help="Count the campaigns that disagree again from their rows.")
def recount(fix: bool) -> None:
    """Compare every campaign's counters with its rows; exit 1 when one disagrees (and not --fix)."""
    from app.services import counters

    wrong = counters.disagreements()
    for campaign_id, (kept, rows) in sorted(wrong.items()):
        click.echo(f"campaign {campaign_id}: counters {kept} rows {rows}")
        if fix:
            counters.rebuild(campaign_id)
            click.echo(f"campaign {campaign_id}: counted again from its rows")
    if not wrong:
        click.echo("every campaign's counters agree with its rows")
    elif not fix:
        raise SystemExit(1)


@secrets_cli.command("reencrypt")
def reencrypt() -> None:
    """Rewrite every stored secret under ENCRYPTION_KEY (after a rotation; then drop the old key)."""
    from app import crypto
    from app.extensions import db

    count = crypto.reencrypt(db.session.connection(), db.metadata)
    db.session.commit()
    click.echo(f"{count} stored secrets rewritten under the current key")


def register(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)
    app.cli.add_command(campaigns_cli)
    app.cli.add_command(secrets_cli)
