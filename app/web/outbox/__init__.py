from app.web.access import dashboard_blueprint

bp = dashboard_blueprint("outbox", __name__)

from app.web.outbox import routes  # noqa: E402,F401
