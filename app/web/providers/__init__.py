from app.web.access import dashboard_blueprint

bp = dashboard_blueprint("providers", __name__)

from app.web.providers import routes  # noqa: E402,F401
