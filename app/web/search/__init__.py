from app.web.access import dashboard_blueprint

bp = dashboard_blueprint("search", __name__)

from app.web.search import routes  # noqa: E402,F401
