"""Signed links inside e-mails: subscription confirm and unsubscribe.

A token is ``<subscriber id>.<mac>`` (unsubscribe) or ``<subscriber id>.<nonce>.<mac>``
(confirm), where the MAC is HMAC-SHA256 with the instance SECRET_KEY over (purpose, subscriber,
list[, nonce]), cut to 128 bits. The purpose is inside the MAC, so an unsubscribe token never
confirms and a confirm token never unsubscribes; the list is inside it, so a token for one list
is worth nothing on another. A confirm token also carries the subscriber's current nonce, which
confirming clears, so it works once. An unsubscribe token works for as long as the subscriber
row exists: it sits in e-mails already delivered, so its format can never change.

Tokens are compared in constant time, as bytes (``hmac.compare_digest`` refuses non-ASCII
strings). Anything that is not shaped like a token (too long, non-ASCII, an id no database
integer holds) is refused before any look-up: every forged, mangled or unknown token resolves
to ``None``/``False``, and callers answer it like any unknown token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

CONFIRM = "confirm"
UNSUBSCRIBE = "unsubscribe"
MAC_BYTES = 16  # 128 bits
MAX_ID = 2**31 - 1  # the largest value a database integer column holds
MAX_TOKEN = 100  # a confirm token is at most 10 + 1 + 32 + 1 + 22 characters
_SHAPE = re.compile(r"[0-9]{1,10}(\.[A-Za-z0-9_-]{1,32})?\.[A-Za-z0-9_-]{22}")


def _mac(secret: str, *parts: object) -> str:
    message = ":".join(str(p) for p in parts).encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()[:MAC_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def unsubscribe_token(secret: str, subscriber_id: int, list_id: int) -> str:
    return f"{subscriber_id}.{_mac(secret, UNSUBSCRIBE, subscriber_id, list_id)}"


def confirm_token(secret: str, subscriber_id: int, list_id: int, nonce: str) -> str:
    return f"{subscriber_id}.{nonce}.{_mac(secret, CONFIRM, subscriber_id, list_id, nonce)}"


def parse_subscriber_id(token: str) -> int | None:
    """The subscriber id a token claims, before any check; None when the token is not shaped
    like one of ours (so no look-up is made with it)."""
    if len(token) > MAX_TOKEN or not token.isascii() or not _SHAPE.fullmatch(token):
        return None
    number = int(token.split(".", 1)[0])
    return number if 0 < number <= MAX_ID else None


def check_unsubscribe(secret: str, token: str, subscriber_id: int, list_id: int) -> bool:
    return _same(token, unsubscribe_token(secret, subscriber_id, list_id))


def check_confirm(secret: str, token: str, subscriber_id: int, list_id: int, nonce: str | None) -> bool:
    # Compare against a dummy when there is no nonce so timing does not tell the two apart.
    expected = confirm_token(secret, subscriber_id, list_id, nonce or "-")
    return _same(token, expected) and nonce is not None


def _same(token: str, expected: str) -> bool:
    return hmac.compare_digest(token.encode("utf-8", "surrogatepass"), expected.encode())


def digest(secret: str) -> str:
    """The SHA-256 (hex) a secret is stored and looked up as: API tokens, password-reset links."""
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()
