from app.web.access import dashboard_blueprint

bp = dashboard_blueprint("suppressions", __name__)

from app.web.suppressions import routes  # noqa: E402,F401
