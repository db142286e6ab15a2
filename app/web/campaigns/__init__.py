from app.web.access import dashboard_blueprint

bp = dashboard_blueprint("campaigns", __name__)

from app.web.campaigns import analytics, editor, routes  # noqa: E402,F401
