"""VERP return paths: the envelope sender that tells us which e-mail a bounce is about.

``return_path`` gives ``bounces+<email_id>-<mac>@<domain>``, where ``mac`` is the first 10
base32 characters (50 bits) of an HMAC-SHA256 over the id keyed with the instance secret, so
nobody can make up a bounce for an e-mail whose return path they have not seen. ``parse``
returns the id only when the MAC verifies (compared in constant time), and None for anything
else. Local parts are compared case-insensitively, because some MTAs lower-case them; the
domain is not checked, so changing the bounce domain does not orphan bounces already in flight.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

PREFIX = "bounces"
MAC_LENGTH = 10
# Domain separation: the same SECRET_KEY also signs sessions and link tokens.
_LABEL = b"postroom-verp-v1:"
_LOCAL = re.compile(rf"^{PREFIX}\+([0-9]{{1,18}})-([a-z2-7]{{{MAC_LENGTH}}})$")


def _mac(secret: str, email_id: int) -> str:
    digest = hmac.new(secret.encode(), _LABEL + str(email_id).encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:MAC_LENGTH]


def return_path(secret: str, email_id: int, domain: str) -> str:
    """The VERP envelope sender for one ``sent_emails`` row."""
    if not secret:
        raise ValueError("a VERP return path needs a non-empty secret")
    if email_id <= 0:
        raise ValueError(f"e-mail id must be positive, got {email_id!r}")
    if not domain or "@" in domain:
        raise ValueError(f"not a domain: {domain!r}")
    return f"{PREFIX}+{email_id}-{_mac(secret, email_id)}@{domain}"


def _local_part(address: str) -> str | None:
    address = (address or "").strip().strip("<>").strip()
    local, at, _ = address.rpartition("@")
    return local.lower() if at else None


def looks_like(address: str) -> bool:
    """Whether ``address`` has the shape of a VERP return path, valid or not."""
    local = _local_part(address)
    return local is not None and local.startswith(f"{PREFIX}+")


def parse(secret: str, address: str) -> int | None:
    """The e-mail id a VERP address stands for, or None unless its MAC verifies."""
    local = _local_part(address)
    match = _LOCAL.match(local) if local is not None else None
    if match is None or not secret:
        return None
    email_id = int(match.group(1))
    if email_id <= 0 or not hmac.compare_digest(_mac(secret, email_id), match.group(2)):
        return None
    return email_id
