"""Dashboard and public blueprints."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from app.web.auth import bp as auth_bp
    from app.web.dashboard import bp as dashboard_bp
    from app.web.errors import register as register_errors
    from app.web.public import bp as public_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(public_bp)
    register_errors(app)
