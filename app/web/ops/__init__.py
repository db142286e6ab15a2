"""Operations, for whoever runs the instance: Prometheus metrics and the RQ dashboard.

``GET /metrics`` (app/web/ops/routes.py) answers a bearer token equal to ``METRICS_TOKEN``,
or, when that is unset, loopback requests only. rq-dashboard (app/web/ops/rq_admin.py) is
mounted at ``/admin/rq`` for dashboard admins.
"""

from __future__ import annotations

import os

from flask import Blueprint, Flask

bp = Blueprint("ops", __name__)


def register(app: Flask) -> None:
    """Serve ``/metrics`` and mount rq-dashboard on ``app``."""
    from app.web.ops import rq_admin

    # An empty value means unset: loopback only.
    app.config.setdefault("METRICS_TOKEN", os.environ.get("METRICS_TOKEN") or None)
    app.register_blueprint(bp)
    rq_admin.mount(app)


from app.web.ops import routes  # noqa: E402,F401
