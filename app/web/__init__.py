"""Dashboard and public blueprints."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from app.web import admin, auth, campaigns, home, lists, outbox, providers, public, sendlog, status, suppressions
    from app.web.errors import register as register_errors

    for package in (auth, home, lists, campaigns, sendlog, suppressions, outbox, admin, public, providers, status):
        app.register_blueprint(package.bp)
    register_errors(app)
