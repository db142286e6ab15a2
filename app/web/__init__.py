"""Dashboard and public blueprints."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from app.web import (
        access,
        account,
        admin,
        audience,
        auth,
        campaigns,
        home,
        lists,
        ops,
        outbox,
        providers,
        public,
        search,
        sendlog,
        status,
        suppressions,
        templates_pages,
        tokens,
        tracking,
        users,
        webhooks,
    )
    from app.web.errors import register as register_errors

    for package in (
        auth,
        home,
        lists,
        campaigns,
        templates_pages,
        sendlog,
        suppressions,
        outbox,
        admin,
        public,
        providers,
        status,
        tokens,
        tracking,
        webhooks,
        audience,
        search,
        users,
        account,
    ):
        app.register_blueprint(package.bp)
    access.register(app)  # the role policy's helpers; disabled users signed out
    ops.register(app)  # /metrics, and rq-dashboard at /admin/rq
    register_errors(app)
