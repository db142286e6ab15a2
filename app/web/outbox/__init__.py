"""The development catcher's outbox: every account's mail, so for instance operators only."""

from flask import abort
from flask_login import current_user

from app.web.access import dashboard_blueprint
from app.web.ops.operators import is_operator

bp = dashboard_blueprint("outbox", __name__)


@bp.before_request
def operators_only():
    # The catcher holds the mail of every account on the instance; a tenant's admin sees 404.
    if not is_operator(current_user):
        abort(404)


@bp.record_once
def _link(state) -> None:
    # The top bar shows the Outbox link to operators only.
    state.app.context_processor(lambda: {"outbox_visible": is_operator(current_user)})


from app.web.outbox import routes  # noqa: E402,F401
