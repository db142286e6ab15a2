from app.web.access import dashboard_blueprint

bp = dashboard_blueprint("status", __name__)

from app.web.status import routes  # noqa: E402,F401
