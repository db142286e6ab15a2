"""Postroom: mailing lists, campaigns and a delivery engine whose ledger you can trust."""

from __future__ import annotations

from dotenv import load_dotenv
from flask import Flask

from app import security
from app.config import PROJECT_ROOT, load_settings


def create_app(overrides: dict | None = None) -> Flask:
    """Build the app: settings, extensions, blueprints, CLI, error pages."""
    load_dotenv(PROJECT_ROOT / ".env", override=False)
    settings = load_settings()
    app = Flask(
        __name__,
        instance_path=settings["INSTANCE_PATH"],
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.update(settings)
    app.config.update(overrides or {})
    register_extensions(app)
    register_converters(app)
    register_blueprints(app)
    register_cli(app)
    register_template_helpers(app)
    security.register(app)  # security headers on every response (app/security.py)
    return app


def register_extensions(app: Flask) -> None:
    from app import models  # noqa: F401  (every model registered before migrations look)
    from app.extensions import csrf, db, login_manager, migrate
    from app.redis_client import connect

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"
    app.extensions["redis"] = connect(app.config["REDIS_URL"], app.config["INSTANCE_PATH"])

    @login_manager.user_loader
    def load_user(user_id: str):
        """The session's user, unless their sessions were ended since it began (app/web/auth/sessions.py)."""
        from app.web.auth.sessions import user_for_session

        return user_for_session(user_id)


def register_converters(app: Flask) -> None:
    """``<int:id>`` in every route gives the view an id a database integer column can hold.

    A larger number is no id of ours: it becomes 0, which no row has, so it answers 404 like any
    unknown id instead of failing in the database (SQLite: "Python int too large", PostgreSQL:
    "integer out of range"). Refusing it in the converter would make Werkzeug answer 405.
    """
    from werkzeug.routing import IntegerConverter

    from app.web.params import MAX_ID

    class DatabaseId(IntegerConverter):
        def to_python(self, value: str) -> int:
            number = super().to_python(value)
            return number if number <= MAX_ID else 0

    app.url_map.converters["int"] = DatabaseId


def register_blueprints(app: Flask) -> None:
    from app.api import bp as api_bp
    from app.web import register

    register(app)
    app.register_blueprint(api_bp, url_prefix="/api/v1")


def register_cli(app: Flask) -> None:
    from app.cli import register

    register(app)


def register_template_helpers(app: Flask) -> None:
    from app.web.filters import register

    register(app)
