"""REST API v1 (CONTRACT.md section 5): bearer tokens, JSON errors, OpenAPI document."""

from flask import Blueprint

bp = Blueprint("api", __name__)

from app.api import routes  # noqa: E402,F401
