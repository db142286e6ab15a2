"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

A secret is ``whsec_`` followed by base64 of random key bytes. A signature is
``v1,<base64 HMAC-SHA256 of "<msg_id>.<timestamp>.<body>">`` keyed with the decoded bytes, so a
receiver can check both the body and that the request is recent (the timestamp is signed too).
During a secret rotation every current secret signs and the signatures travel space-separated
in one ``webhook-signature`` header: receivers still holding the previous secret keep verifying.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from secrets import token_bytes

SECRET_PREFIX = "whsec_"
USER_AGENT = "Postroom-Webhooks/1"


def new_secret() -> str:
    """A fresh secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(token_bytes(32)).decode("ascii")


def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"webhook secret must start with {SECRET_PREFIX!r}, got {secret[:10]!r}...")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except ValueError as exc:
        raise ValueError(f"webhook secret is not valid base64 after {SECRET_PREFIX!r}") from exc
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one message; raises ValueError for a malformed secret."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers_for(secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every header of a webhook request; each secret in ``secrets`` adds one signature."""
    if not secrets:
        raise ValueError("at least one webhook secret is needed to sign")
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
