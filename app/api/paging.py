"""Keyset pages for the API's collections: newest first, ``cursor`` is the last id already seen."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from app.api.schemas import PageQuery
from app.services import emails


def page(rows: list, last_id: int | None, present: Callable = lambda row: row) -> dict:
    """The answer's shape: ``data`` and the ``next_cursor`` (None on the last page)."""
    return {"data": [present(row) for row in rows], "next_cursor": None if last_id is None else str(last_id)}


def fetch(stmt: sa.Select, entity, query: PageQuery) -> tuple[list, int | None]:
    """The rows of one page of an id-descending statement, and the cursor of the next."""
    if query.cursor is not None:
        stmt = stmt.where(entity.id < query.cursor)
    return emails.page(stmt.limit(query.limit + 1), query.limit)


def keyset(stmt: sa.Select, entity, query: PageQuery, present: Callable = lambda row: row) -> dict:
    return page(*fetch(stmt, entity, query), present)
