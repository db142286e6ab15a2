"""Per-client rate limits on the public pages: Flask-Limiter, counting in the app's Redis.

The same machinery as the API's limits (app/api/limits.py: storage, timeouts, fail open), with
two budgets of its own, each per client address. An IPv6 client counts by its /64, the block one
machine usually holds whole; behind proxies, ``PROXY_FIX`` makes the address the real client's.

- ``SUBSCRIBE_RATE_LIMIT`` (default ``"10 per minute; 100 per hour"``): every ``POST`` of a
  subscribe form, whatever the answer, on every list together.
- ``LINK_RATE_LIMIT`` (default ``"60 per minute; 600 per hour"``): confirm and unsubscribe links
  (``GET`` and ``POST``) that turn out not valid. A valid link never counts; once an address is
  over, its links wait too. The RFC 8058 one-click ``POST`` (``List-Unsubscribe=One-Click``) is
  neither counted nor refused: mailbox providers send it from shared servers, an unsubscribe
  must never be lost, and a 128-bit MAC is not guessed by retrying anyway.

Over a limit the page answers 429 with the public "too many requests" page and ``Retry-After``
(seconds). An empty setting turns its limit off. When Redis cannot be reached the limiter logs
the error and lets the request through: a limit protects the server, it never refuses service.

Redis keys: ``LIMITS:LIMITER/public/<address>/<subscribe | links>/<amount>/<n>/<unit>`` (fixed
windows that expire with their window), owned by the ``limits`` library.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time

import redis
from flask import Blueprint, Response, current_app, request
from flask_limiter import Limiter

from app.api.limits import STORAGE_OPTIONS, check_limit, storage_uri

EXTENSION = "public_limiter"
SUBSCRIBE_ENDPOINTS = {"public.subscribe"}
LINK_ENDPOINTS = {"public.confirm_page", "public.confirm", "public.unsubscribe_page", "public.unsubscribe"}
DEFAULT_WAIT = 60  # seconds, when Redis cannot say when the window ends
logger = logging.getLogger(__name__)


def client() -> str:
    """Whom a request counts against: its address, or for IPv6 the address's /64."""
    address = request.remote_addr or "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(getattr(ip, "ipv4_mapped", None) or ip)


def not_subscribing() -> bool:
    return request.endpoint not in SUBSCRIBE_ENDPOINTS


def not_a_counted_link() -> bool:
    """Pages other than the links, and the one-click POST (see the module doc)."""
    return request.endpoint not in LINK_ENDPOINTS or one_click()


def one_click() -> bool:
    return request.method == "POST" and request.form.get("List-Unsubscribe") == "One-Click"


def link_not_valid(response: Response) -> bool:
    """Only an answer "this link is not valid" costs part of the link budget."""
    return response.status_code == 404


def register(bp: Blueprint) -> None:
    @bp.record_once
    def init_app(state) -> None:
        app = state.app
        for name in ("SUBSCRIBE_RATE_LIMIT", "LINK_RATE_LIMIT"):
            check_limit(app.config[name], name)
        limiter = Limiter(
            key_func=client,
            storage_uri=storage_uri(app),
            storage_options=STORAGE_OPTIONS,
            strategy="fixed-window",
            swallow_errors=True,
            headers_enabled=False,  # only Retry-After, on the 429 page
            key_prefix=bp.name,
        )
        limiter.init_app(app)
        limiter.shared_limit(
            lambda: current_app.config["SUBSCRIBE_RATE_LIMIT"],
            scope="subscribe",
            methods=["POST"],
            exempt_when=not_subscribing,
        )(bp)
        limiter.shared_limit(
            lambda: current_app.config["LINK_RATE_LIMIT"],
            scope="links",
            exempt_when=not_a_counted_link,
            deduct_when=link_not_valid,
        )(bp)
        app.extensions[EXTENSION] = limiter


def retry_after() -> int:
    """Seconds until the limit this request broke lets it through again."""
    limit = current_app.extensions[EXTENSION].current_limit
    if limit is None:
        return DEFAULT_WAIT
    try:
        reset_at, _ = limit.window
    except redis.RedisError:
        logger.warning("Retry-After guessed: Redis is unreachable", exc_info=True)
        return DEFAULT_WAIT
    return min(max(1, math.ceil(reset_at - time.time())), limit.limit.get_expiry())
