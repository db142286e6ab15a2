from app.web.access import dashboard_blueprint

bp = dashboard_blueprint("account", __name__)

from app.web.account import routes  # noqa: E402,F401
