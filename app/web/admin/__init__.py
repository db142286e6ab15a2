from app.web.access import dashboard_blueprint

bp = dashboard_blueprint("admin", __name__)

from app.web.admin import routes  # noqa: E402,F401
