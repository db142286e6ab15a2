"""Small builders for test data, going through the services like real callers do."""

from __future__ import annotations

from app.models import SubscriberStatus
from app.services import campaigns, lists, subscribers


def make_list(account_id: int, name: str = "Newsletter", double_opt_in: bool = True):
    return lists.create(account_id, name, "", double_opt_in)


def add_subscribers(
    account_id: int,
    list_id: int,
    count: int,
    domain: str = "example.com",
    status: SubscriberStatus | str = SubscriberStatus.CONFIRMED,
) -> list:
    return [
        subscribers.add(account_id, list_id, f"user{i}@{domain}", f"User {i}", SubscriberStatus(status).value)
        for i in range(count)
    ]


def make_campaign(account_id: int, list_id: int | None = None, **overrides):
    data = {
        "list_id": list_id,
        "subject": "Hello there",
        "from_email": "news@example.com",
        "from_name": "The News",
        "body_format": "markdown",
        "body": "# Hi\n\nThis is **news**.",
    }
    data.update(overrides)
    return campaigns.create(account_id, data)


def bulk_subscribers(account_id: int, list_id: int, count: int, domain: str = "example.com") -> None:
    """Many confirmed subscribers in one statement (for fault and load tests)."""
    import sqlalchemy as sa

    from app.extensions import db
    from app.models import Subscriber
    from app.models.base import utcnow

    now = utcnow()
    db.session.execute(
        sa.insert(Subscriber),
        [
            {
                "account_id": account_id,
                "list_id": list_id,
                "email": f"r{i}@{domain}",
                "name": "",
                "status": SubscriberStatus.CONFIRMED,
                "created_at": now,
                "confirmed_at": now,
            }
            for i in range(count)
        ],
    )
    db.session.commit()
