"""Query-string parsers for dashboard views."""

from __future__ import annotations

MAX_ID = 2**31 - 1  # the largest value a database integer column holds


def database_id(value: str) -> int:
    """An id or cursor from the query string; ``request.args.get(..., type=database_id)`` turns
    anything else (text, negative, too large for the database) into None, never a 500."""
    number = int(value)
    if not 0 <= number <= MAX_ID:
        raise ValueError(f"{value!r} is not an id")
    return number
