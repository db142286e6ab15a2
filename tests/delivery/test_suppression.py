"""The suppression list the engine consults: adds are idempotent, expired rows are renewed."""

from __future__ import annotations

from datetime import timedelta

from app.delivery.suppression import is_suppressed, suppress
from app.extensions import db
from app.models import Suppression, SuppressionReason
from app.models.base import utcnow


def test_add_is_idempotent_and_case_insensitive(app, make_user):
    account = make_user().account_id
    assert suppress(db.session, account, "Someone@Example.com", SuppressionReason.MANUAL)
    assert not suppress(db.session, account, "someone@example.com", SuppressionReason.HARD_BOUNCE)
    db.session.commit()
    assert is_suppressed(db.session, account, "SOMEONE@example.com")
    assert db.session.query(Suppression).one().reason == SuppressionReason.MANUAL


def test_expired_row_is_renewed_by_a_new_bounce(app, make_user):
    account = make_user().account_id
    suppress(
        db.session, account, "a@example.com", SuppressionReason.HARD_BOUNCE, expires_at=utcnow() - timedelta(days=1)
    )
    db.session.commit()
    assert not is_suppressed(db.session, account, "a@example.com")
    assert suppress(db.session, account, "a@example.com", SuppressionReason.COMPLAINT, "complained")
    db.session.commit()
    row = db.session.query(Suppression).one()
    db.session.refresh(row)
    assert row.reason == SuppressionReason.COMPLAINT and row.expires_at is None
    assert is_suppressed(db.session, account, "a@example.com")


def test_suppressions_are_per_account(app, make_user):
    one, two = make_user("one@example.com").account_id, make_user("two@example.com").account_id
    suppress(db.session, one, "x@example.com", SuppressionReason.MANUAL)
    db.session.commit()
    assert is_suppressed(db.session, one, "x@example.com") and not is_suppressed(db.session, two, "x@example.com")
