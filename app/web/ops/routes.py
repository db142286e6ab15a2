"""``GET /metrics``: Prometheus text exposition (or OpenMetrics when the scraper asks for it)."""

from __future__ import annotations

import hmac
import ipaddress

from flask import Response, current_app, request
from flask_login import current_user
from prometheus_client.exposition import choose_encoder

from app import metrics
from app.web.ops import bp
from app.web.ops.operators import is_operator

# A request that came through a proxy on this machine also arrives from loopback; these say so.
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


@bp.route("/metrics")
def scrape():
    refused = _refusal()
    if refused is not None:
        return refused
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    queues = [current_app.config["RQ_QUEUE"], current_app.config["WEBHOOK_QUEUE"]]
    body = encode(metrics.registry(current_app.extensions["redis"], queues))
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


def _refusal() -> Response | None:
    """None when the caller may read the metrics, else the answer that refuses it.

    A signed-in operator may (to look at them in a browser). Otherwise, with ``METRICS_TOKEN``
    set, everyone (loopback too) must send ``Authorization: Bearer`` with it. Unset, only a
    direct loopback request is served: one carrying a forwarding header came through a proxy,
    and the proxy may be serving anyone. A tenant's admin is nobody special here.
    """
    if is_operator(current_user):
        return None
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return None
        return Response(
            "The metrics need Authorization: Bearer <METRICS_TOKEN>.\n",
            401,
            {"WWW-Authenticate": 'Bearer realm="metrics"', "Content-Type": "text/plain; charset=utf-8"},
        )
    if _is_loopback(request.remote_addr) and not any(h in request.headers for h in FORWARDING_HEADERS):
        return None
    return Response(
        "The metrics are served to loopback only; set METRICS_TOKEN to scrape them from elsewhere.\n",
        403,
        {"Content-Type": "text/plain; charset=utf-8"},
    )


def _is_loopback(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback
