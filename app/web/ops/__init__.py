"""Operations, for whoever runs the instance: Prometheus metrics and the RQ dashboard.

Both show every account, so both are for instance operators (app/web/ops/operators.py), never
for a tenant's admin. ``GET /metrics`` (app/web/ops/routes.py) answers a signed-in operator, a
bearer token equal to ``METRICS_TOKEN``, or, when that is unset, direct loopback requests.
rq-dashboard (app/web/ops/rq_admin.py) is mounted at ``/admin/rq`` for signed-in operators.
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
