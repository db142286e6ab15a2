from app.web.access import dashboard_blueprint

bp = dashboard_blueprint("webhooks", __name__)

from app.web.webhooks import routes  # noqa: E402,F401
