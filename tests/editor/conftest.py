"""Editor fixtures: the documented API client of tests/api, and a list whose subscribers have attributes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Subscriber
from tests.api.conftest import api, owner  # noqa: F401
from tests.factories import add_subscribers, make_list


def set_attributes(subscriber_id: int, attributes: dict) -> None:
    db.session.execute(sa.update(Subscriber).where(Subscriber.id == subscriber_id).values(attributes=attributes))
    db.session.commit()


@pytest.fixture
def audience(owner):  # noqa: F811 (the imported fixture, requested by name)
    """owner@example.com's account (with an API token), its list "Friends" and three confirmed
    subscribers, two with custom attributes."""
    user = owner
    mailing_list = make_list(user.account_id, "Friends")
    people = add_subscribers(user.account_id, mailing_list.id, 3)
    set_attributes(people[0].id, {"plan": "gold", "city": "Paris"})
    set_attributes(people[1].id, {"plan": "silver"})
    return {"user": user, "list": mailing_list, "subscribers": people}
