"""REST API v1 (CONTRACT.md section 5): bearer tokens, JSON errors, OpenAPI document."""

from flask import Blueprint

from app.extensions import csrf

bp = Blueprint("api", __name__)
csrf.exempt(bp)  # bearer tokens, never cookies: there is no session to forge requests with

from app.api import errors, routes  # noqa: E402,F401

errors.register(bp)
