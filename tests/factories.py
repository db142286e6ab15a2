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
