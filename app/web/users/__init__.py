from app.web.access import dashboard_blueprint

bp = dashboard_blueprint("users", __name__)

from app.web.users import routes  # noqa: E402,F401
