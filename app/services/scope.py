"""The tenancy rule in one place: an object of another account does not exist."""

from __future__ import annotations

from typing import TypeVar

import sqlalchemy as sa

from app.extensions import db
from app.services.errors import NotFound

M = TypeVar("M")


def owned(model: type[M], account_id: int, object_id: int, noun: str, *options) -> M:
    """The account's ``model`` row with this id, or NotFound (also for another account's id)."""
    row = db.session.scalar(
        sa.select(model).where(model.id == object_id, model.account_id == account_id).options(*options)
    )
    if row is None:
        raise NotFound(f"{noun} {object_id} not found")
    return row
