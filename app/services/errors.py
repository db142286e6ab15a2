"""Errors services raise; the web and API layers turn them into pages and JSON."""

from __future__ import annotations


class ServiceError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def capitalised(message: str) -> str:
    """A service message (written lower-case, to be embedded) as the start of a sentence."""
    return message[:1].upper() + message[1:]


def sentence(message: str) -> str:
    """A service message as a sentence of its own, for a page."""
    return capitalised(message) + "."


class ValidationFailed(ServiceError):
    code = "validation_error"
    status = 422


class NotFound(ServiceError):
    code = "not_found"
    status = 404


class Conflict(ServiceError):
    code = "conflict"
    status = 409


class Forbidden(ServiceError):
    code = "forbidden"
    status = 403
