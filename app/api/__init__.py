"""REST API v1 (CONTRACT.md section 5): bearer tokens, JSON errors, OpenAPI document."""

from flask import Blueprint

from app.extensions import csrf

bp = Blueprint("api", __name__)
csrf.exempt(bp)  # bearer tokens, never cookies: there is no session to forge requests with

# Importing the route modules registers their routes on ``bp``.
from app.api import (  # noqa: E402,F401
    analytics,
    auth,
    errors,
    imports,
    limits,
    routes,
    suppressions,
    transactional,
    webhooks,
)

errors.register(bp)
limits.register(bp)
bp.teardown_app_request(auth.forget_token)
