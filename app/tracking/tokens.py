"""Signed ids inside tracked URLs: ``/t/o/<email>.<sig>.gif`` and ``/t/c/<email>.<position>.<sig>``.

A token names an e-mail and, for a click, the position of one of its campaign's tracked links
(``tracked_links.position``), never a URL: the server looks the link up. Each e-mail has one
signature stream, SHAKE-256 over a tracking key (derived from ``SECRET_KEY`` for this purpose
alone) and the e-mail id; its first 72 bits sign the open, the next 72 bits link position 0,
and so on. So one hash call signs the pixel and every link of a message, which keeps
per-recipient rendering cheap, and a token is valid only for the e-mail and the link it was
issued for. Every forged, mangled or unknown token parses to ``None``; comparisons take
constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

SIG = 12  # characters: 9 bytes (72 bits) of the stream, base64url without padding
MAX_LINKS = 1000  # tracked links per campaign; a token naming a later position is refused
PIXEL = -1  # the open's slot among link positions


def tracking_key(secret: str) -> bytes:
    """The tracking key: SECRET_KEY never signs two kinds of thing with the same key."""
    return hmac.digest(secret.encode(), b"postroom tracking tokens v1", "sha256")


def _stream(key: bytes, email_id: int, signatures: int) -> str:
    digest = hashlib.shake_256(key + b"track:" + str(email_id).encode()).digest(9 * signatures)
    return base64.urlsafe_b64encode(digest).decode()


def issue(key: bytes, email_id: int, positions: Iterable[int], opens: bool) -> dict[int, str]:
    """The tokens of one e-mail: ``PIXEL`` for the open (when ``opens``), and each link position.

    ``positions`` must be in ascending order (the last one sizes the signature stream).
    """
    positions = positions if isinstance(positions, list) else list(positions)
    stream = _stream(key, email_id, positions[-1] + 2 if positions else 1)
    head = str(email_id)
    issued = {p: f"{head}.{p}.{stream[SIG * p + SIG : SIG * p + 2 * SIG]}" for p in positions}
    if opens:
        issued[PIXEL] = f"{head}.{stream[:SIG]}"
    return issued


def open_token(key: bytes, email_id: int) -> str:
    return issue(key, email_id, (), opens=True)[PIXEL]


def click_token(key: bytes, email_id: int, position: int) -> str:
    return issue(key, email_id, (position,), opens=False)[position]


def _number(text: str, limit: int) -> int | None:
    if not text.isdigit() or len(text) > 18 or (text.startswith("0") and text != "0"):
        return None
    value = int(text)
    return value if value < limit else None


def parse_open(key: bytes, token: str) -> int | None:
    """The e-mail id an open token was issued for, or None."""
    parts = token.split(".")
    if len(parts) != 2 or (email_id := _number(parts[0], 10**18)) is None:
        return None
    return email_id if _same(parts[1], open_token(key, email_id).rpartition(".")[2]) else None


def parse_click(key: bytes, token: str) -> tuple[int, int] | None:
    """The (e-mail id, link position) a click token was issued for, or None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    email_id, position = _number(parts[0], 10**18), _number(parts[1], MAX_LINKS)
    if email_id is None or position is None:
        return None
    expected = click_token(key, email_id, position).rpartition(".")[2]
    return (email_id, position) if _same(parts[2], expected) else None


def _same(given: str, expected: str) -> bool:
    # Bytes: compare_digest refuses str with non-ASCII characters, which a URL may carry.
    return hmac.compare_digest(given.encode(), expected.encode())
