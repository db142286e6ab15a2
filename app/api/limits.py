"""Per-token rate limits on the API: Flask-Limiter, counting in the app's Redis.

Every /api/v1 call except ``GET /health`` counts against one budget, ``API_RATE_LIMIT`` (e.g.
``"50 per second; 2000 per minute"``), shared by all routes and methods: per API token (its
visible prefix), or per remote address for a call without a valid token. Over the limit a call
answers 429 with the JSON error and ``Retry-After`` (seconds); every counted answer carries
``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (epoch seconds) for
the limit nearest to running out. When Redis cannot be reached the limiter logs the error and
lets the call through: a limit protects the server, it is never a reason to refuse service.

Redis keys: ``LIMITS:LIMITER/api/<token:prefix | address:ip>/api/<limit>`` (fixed windows that
expire with their window), owned by the ``limits`` library.
"""

from __future__ import annotations

import logging
import math
import time

import redis
from flask import Blueprint, Flask, Response, current_app, request
from flask_limiter import Limiter
from limits import parse_many

from app.api.auth import current_token
from app.api.openapi import OPERATIONS

EXTENSION = "api_limiter"
# Short timeouts: a Redis that hangs must not hold every API call for long.
STORAGE_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1}
logger = logging.getLogger(__name__)


def caller() -> str:
    """Whom a call counts against: its live token, else the address it came from."""
    token = current_token()
    return f"token:{token.prefix}" if token else f"address:{request.remote_addr or 'unknown'}"


def exempt() -> bool:
    """Whether this call is not counted: no limit is configured, or its route is declared exempt."""
    endpoint = request.endpoint.partition(".")[2]
    return not current_app.config["API_RATE_LIMIT"] or any(
        op.endpoint == endpoint and not op.rate_limited for op in OPERATIONS
    )


def register(bp: Blueprint) -> None:
    """Limit every view of ``bp`` but those declared with ``api_route(..., rate_limited=False)``."""

    @bp.record_once
    def init_app(state) -> None:
        check_limit(state.app.config["API_RATE_LIMIT"])
        limiter = Limiter(
            key_func=caller,
            storage_uri=storage_uri(state.app),
            storage_options=STORAGE_OPTIONS,
            strategy="fixed-window",
            swallow_errors=True,
            headers_enabled=False,  # written by add_headers: Retry-After only on a 429
            key_prefix=bp.name,
        )
        limiter.init_app(state.app)
        limiter.shared_limit(lambda: current_app.config["API_RATE_LIMIT"], scope=bp.name, exempt_when=exempt)(bp)
        state.app.extensions[EXTENSION] = limiter

    bp.after_request(add_headers)


def check_limit(value: str, name: str = "API_RATE_LIMIT") -> None:
    """Refuse to start with a limit setting (``API_RATE_LIMIT`` or ``name``) the limiter cannot read."""
    if not value:
        return
    try:
        parse_many(value)
    except ValueError:
        raise ValueError(
            f'{name} must read like "50 per second; 2000 per minute" (or be empty), got {value!r}'
        ) from None


def storage_uri(app: Flask) -> str:
    """``REDIS_URL``, or the embedded Redis's unix socket (``redis+unix://``, as ``limits`` spells it)."""
    url = app.config["REDIS_URL"]
    if url:
        return "redis+unix://" + url.removeprefix("unix://") if url.startswith("unix://") else url
    return "redis+unix://" + app.extensions["redis"].socket_file


def add_headers(response: Response) -> Response:
    """The X-RateLimit headers on every counted answer; ``Retry-After`` on a 429."""
    limit = current_app.extensions[EXTENSION].current_limit
    if limit is None:
        return response
    try:
        reset_at, remaining = limit.window
    except redis.RedisError:
        logger.warning("rate limit headers left out: Redis is unreachable", exc_info=True)
        return response
    response.headers["X-RateLimit-Limit"] = str(limit.limit.amount)
    response.headers["X-RateLimit-Remaining"] = str(max(remaining, 0))
    response.headers["X-RateLimit-Reset"] = str(math.ceil(reset_at))
    if response.status_code == 429:
        response.headers["Retry-After"] = str(max(1, math.ceil(reset_at - time.time())))
    return response
