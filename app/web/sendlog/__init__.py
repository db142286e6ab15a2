from app.web.access import dashboard_blueprint

bp = dashboard_blueprint("sendlog", __name__)

from app.web.sendlog import routes  # noqa: E402,F401
