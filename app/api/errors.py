"""Every API error, whatever raised it, answers ``{"error": {"code", "message", "field"}}``.

Service errors keep their status and code; HTTP errors are named after their status
(``not_found``, ``method_not_allowed``); unknown /api/v1 paths and wrong methods, which no
blueprint owns, are caught before routing gives up on them.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException, InternalServerError, TooManyRequests, default_exceptions

from app.services.errors import ServiceError, ValidationFailed

# Error codes that say more than the status's name.
CODES = {429: "rate_limited"}


class Unauthorized(ServiceError):
    code = "unauthorized"
    status = 401


class MalformedJson(ServiceError):
    code = "malformed_json"
    status = 400


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "field": field}})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="postroom"'
    return response


def invalid(exc: ValidationError) -> ValidationFailed:
    """One ValidationFailed naming every field pydantic rejected, e.g. ``name: Field required``."""
    messages, fields = [], []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"]) or None
        text = "unknown field" if error["type"] == "extra_forbidden" else error["msg"]
        messages.append(f"{field}: {text}" if field else text)
        fields.append(field)
    return ValidationFailed("; ".join(messages), fields[0])


def _http_error(exc: HTTPException, message: str | None = None) -> Response:
    if isinstance(exc, InternalServerError):
        message = "the server failed to answer this request; the error is logged"
    if isinstance(exc, TooManyRequests):  # Flask-Limiter's, whose description is the limit
        message = f"rate limit of {exc.description} exceeded; retry after the seconds in the Retry-After header"
    message = message or exc.description or exc.name
    code = CODES.get(exc.code, exc.name.lower().replace(" ", "_"))
    response = error_response(exc.code or 500, code, message)
    if getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    return response


def register(bp: Blueprint) -> None:
    """Attach the handlers; code-specific ones so the app's HTML error pages never answer."""
    prefix = {}

    @bp.record_once
    def remember_prefix(state) -> None:
        prefix["path"] = (state.url_prefix or "").rstrip("/") + "/"

    @bp.errorhandler(ServiceError)
    def service_error(exc: ServiceError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.field)

    for status in default_exceptions:
        bp.register_error_handler(status, _http_error)

    @bp.before_app_request
    def unrouted_api_path():
        # A path or method no rule matches belongs to no blueprint, so the handlers above never
        # see it; answer it here, before Flask raises it to the app's HTML error pages.
        exc = request.routing_exception
        if not isinstance(exc, HTTPException) or (exc.code or 500) < 400:  # a redirect, e.g. to add "/"
            return None
        if not (request.path.rstrip("/") + "/").startswith(prefix["path"]):
            return None
        if exc.code == 405:
            return _http_error(exc, f"{request.path} does not take {request.method}")
        return _http_error(exc, f"no route {request.path}" if exc.code == 404 else None)
