"""Send-log rows and timelines refresh themselves (HTMX) while the e-mail can still change."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from app.delivery.ledger import transition
from app.extensions import db
from app.models import EmailStatus, SentEmail
from app.models.base import utcnow
from app.services import campaigns
from tests.factories import add_subscribers, make_campaign, make_list


def _queued_email(user) -> SentEmail:
    mailing_list = make_list(user.account_id)
    add_subscribers(user.account_id, mailing_list.id, 1)
    campaign = make_campaign(user.account_id, mailing_list.id)
    campaigns.send(user.account_id, campaign.id)
    campaigns.fan_out(campaign.id)
    return db.session.scalars(sa.select(SentEmail)).one()


def test_a_row_on_its_way_polls_and_a_final_one_stops(client, auth, make_user):
    user = make_user()
    auth.login()
    email = _queued_email(user)
    page = client.get("/emails").text
    assert f'hx-get="/emails/{email.id}/row"' in page
    row = client.get(f"/emails/{email.id}/row").text
    assert f'id="email-{email.id}"' in row and "every 2s" in row
    transition(db.session, [email.id], EmailStatus.CANCELLED, "cancelled")
    db.session.commit()
    row = client.get(f"/emails/{email.id}/row").text
    assert "hx-get" not in row and "cancelled" in row


def test_a_timeline_gains_events_then_stops_refreshing(client, auth, make_user):
    user = make_user()
    auth.login()
    email = _queued_email(user)
    assert "every 2s" in client.get(f"/emails/{email.id}").text
    transition(db.session, [email.id], EmailStatus.SENDING, "claimed")
    transition(
        db.session, [email.id], EmailStatus.DELIVERED, "delivered", detail="250 ok", values={"sent_at": utcnow()}
    )
    db.session.commit()
    detail = client.get(f"/emails/{email.id}/detail").text
    assert "claimed" in detail and "250 ok" in detail
    assert "every 15s" in detail  # delivered today: opens, clicks and late bounces may still come
    db.session.execute(
        sa.update(SentEmail).where(SentEmail.id == email.id).values(sent_at=utcnow() - timedelta(days=2))
    )
    db.session.commit()
    assert "hx-get" not in client.get(f"/emails/{email.id}/detail").text


def test_another_accounts_row_is_not_found(client, auth, make_user):
    owner = make_user()
    email = _queued_email(owner)
    make_user("other@example.com")
    auth.login("other@example.com")
    assert client.get(f"/emails/{email.id}/row").status_code == 404
    assert client.get(f"/emails/{email.id}/detail").status_code == 404
