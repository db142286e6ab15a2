from app.web.access import dashboard_blueprint

bp = dashboard_blueprint("home", __name__)

from app.web.home import routes  # noqa: E402,F401
