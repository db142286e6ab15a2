from app.web.access import dashboard_blueprint

bp = dashboard_blueprint("campaigns", __name__)

from app.web.campaigns import routes  # noqa: E402,F401
