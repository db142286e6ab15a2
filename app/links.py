"""Signed links inside e-mails: subscription confirm and unsubscribe.

Tokens are HMAC-SHA256 bound to (purpose, subscriber, list) with the instance SECRET_KEY and
compared in constant time. A confirm token also carries the subscriber's current nonce, so it
works once; an unsubscribe token works for as long as the subscriber exists. Every forged,
mangled or unknown token resolves to ``None``: callers answer it like any unknown token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

CONFIRM = "confirm"
UNSUBSCRIBE = "unsubscribe"


def _mac(secret: str, *parts: object) -> str:
    message = ":".join(str(p) for p in parts).encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def unsubscribe_token(secret: str, subscriber_id: int, list_id: int) -> str:
    return f"{subscriber_id}.{_mac(secret, UNSUBSCRIBE, subscriber_id, list_id)}"


def confirm_token(secret: str, subscriber_id: int, list_id: int, nonce: str) -> str:
    return f"{subscriber_id}.{nonce}.{_mac(secret, CONFIRM, subscriber_id, list_id, nonce)}"


def parse_subscriber_id(token: str) -> int | None:
    """The subscriber id a token claims, before any check; None when malformed."""
    head = token.split(".", 1)[0]
    if not head.isdigit() or len(head) > 18:
        return None
    return int(head)


def check_unsubscribe(secret: str, token: str, subscriber_id: int, list_id: int) -> bool:
    return hmac.compare_digest(token, unsubscribe_token(secret, subscriber_id, list_id))


def check_confirm(secret: str, token: str, subscriber_id: int, list_id: int, nonce: str | None) -> bool:
    # Compare against a dummy when there is no nonce so timing does not tell the two apart.
    expected = confirm_token(secret, subscriber_id, list_id, nonce or "-")
    return hmac.compare_digest(token, expected) and nonce is not None
