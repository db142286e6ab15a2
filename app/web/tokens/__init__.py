from app.web.access import dashboard_blueprint

bp = dashboard_blueprint("tokens", __name__)

from app.web.tokens import routes  # noqa: E402,F401
