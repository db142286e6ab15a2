from app.web.access import dashboard_blueprint

bp = dashboard_blueprint("lists", __name__)

from app.web.lists import imports, routes  # noqa: E402,F401
