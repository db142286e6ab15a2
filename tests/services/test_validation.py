"""Bad input gets a clear message and changes nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Campaign
from app.services import campaigns, validation
from app.services.errors import ValidationFailed
from tests.factories import make_campaign, make_list


@pytest.mark.parametrize(
    "value",
    [
        "",
        "plain",
        "a@",
        "@b.com",
        "a b@example.com",
        "x@example.com\nBcc: y@example.com",
        "x@example.com\x00",
        "x" * 250 + "@example.com",
    ],
)
def test_bad_addresses_are_refused(value):
    with pytest.raises(ValidationFailed):
        validation.email_address(value)


def test_addresses_are_normalised():
    assert validation.email_address("  Someone@Example.COM ") == "someone@example.com"


@pytest.fixture
def owner(app, make_user):
    return make_user()


@pytest.mark.parametrize(
    "change,field",
    [
        ({"subject": ""}, "subject"),
        ({"subject": "a\r\nBcc: x@example.com"}, "subject"),
        ({"from_name": "Eve\nBcc: x@example.com"}, "from_name"),
        ({"from_email": "nope"}, "from_email"),
        ({"from_email": "a@example.com\r\nBcc: x@example.com"}, "from_email"),
        ({"body": ""}, "body"),
        ({"list_id": 999999}, "list_id"),
        ({"body_format": "pdf"}, "body_format"),
    ],
)
def test_bad_campaigns_are_refused_and_nothing_is_written(owner, change, field):
    mailing_list = make_list(owner.account_id)
    data = {"list_id": mailing_list.id, **change}
    with pytest.raises(ValidationFailed) as info:
        make_campaign(owner.account_id, **data)
    assert info.value.field == field
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Campaign.id))) == 0


def test_oversize_body_is_refused(app, owner):
    mailing_list = make_list(owner.account_id)
    too_big = "x" * (app.config["MAX_BODY_BYTES"] + 1)
    with pytest.raises(ValidationFailed, match="limit"):
        make_campaign(owner.account_id, mailing_list.id, body=too_big)


def test_another_accounts_list_is_refused(app, make_user):
    victim = make_user("victim@example.com")
    intruder = make_user("intruder@example.com")
    their_list = make_list(victim.account_id)
    with pytest.raises(ValidationFailed) as info:
        make_campaign(intruder.account_id, their_list.id)
    assert info.value.field == "list_id"


def test_only_drafts_are_sent_and_only_once(owner, run_jobs):
    mailing_list = make_list(owner.account_id)
    campaign = make_campaign(owner.account_id, mailing_list.id)
    campaigns.send(owner.account_id, campaign.id)
    from app.services.errors import Conflict

    with pytest.raises(Conflict):
        campaigns.send(owner.account_id, campaign.id)


def test_unsubscribed_address_comes_back_only_through_confirmation(owner, run_jobs, smtp_server):
    from app.services import subscribers

    mailing_list = make_list(owner.account_id)
    subscriber = subscribers.add(owner.account_id, mailing_list.id, "back@example.com")
    subscribers.update(owner.account_id, subscriber.id, status="unsubscribed")
    with pytest.raises(ValidationFailed, match="pending"):
        subscribers.update(owner.account_id, subscriber.id, status="confirmed")
    assert subscribers.update(owner.account_id, subscriber.id, status="pending").status.value == "pending"
    run_jobs()
    assert [r.rcpt_tos[0] for r in smtp_server.received] == ["back@example.com"]
    assert "Confirm your subscription" in smtp_server.received[0].message["Subject"]


def test_unknown_status_filters_are_validation_errors(owner):
    from app.services import subscribers

    with pytest.raises(ValidationFailed):
        campaigns.query(owner.account_id, status="bogus")
    with pytest.raises(ValidationFailed):
        subscribers.query(owner.account_id, status="bogus")
