from app.web.access import dashboard_blueprint

bp = dashboard_blueprint("audience", __name__)

from app.web.audience import routes  # noqa: E402,F401
