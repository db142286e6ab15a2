"""Fault tests: real worker processes killed by SIGKILL, Redis wiped, servers that hang up.

After each, DELIVERY.md's ledger check passes: one row per eligible recipient, every row
terminal, every delivered row received, nothing sent to a suppressed address, and duplicates
only for kills inside the accepted-but-unrecorded window.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from email import message_from_bytes, policy

import pytest
import sqlalchemy as sa

from app.delivery import breaker, failpoints
from app.delivery.suppression import suppress
from app.extensions import db
from app.models import EmailEvent, SentEmail, SuppressionReason
from app.services import campaigns
from tests.delivery.fleet import Fleet, ledger_check, open_rows, wait_for
from tests.delivery.fleet import finished as _finished
from tests.factories import bulk_subscribers, make_campaign, make_list

pytestmark = pytest.mark.faults


@pytest.fixture
def campaign_of(app, make_user):
    def make(recipients: int, suppressed: int = 0):
        user = make_user()
        mailing_list = make_list(user.account_id)
        bulk_subscribers(user.account_id, mailing_list.id, recipients)
        for i in range(suppressed):
            suppress(db.session, user.account_id, f"r{i}@example.com", SuppressionReason.HARD_BOUNCE)
        db.session.commit()
        return make_campaign(user.account_id, mailing_list.id)

    return make


@pytest.mark.parametrize(
    "place,kills,duplicates,commit_every",
    [
        ("after_claim", 3, 0, 20),  # nothing reached the server
        ("before_data", 3, 0, 20),  # MAIL and RCPT only: no message
        ("after_250_before_commit", 2, 2, 1),  # one transaction per message: one duplicate per kill
        ("mid_fanout", 1, 0, 20),  # fan-out resumes idempotently
    ],
)
def test_kill_at_each_failpoint(app, campaign_of, smtp_server, tmp_path, place, kills, duplicates, commit_every):
    campaign = campaign_of(300, suppressed=5)
    fleet = Fleet(
        app, smtp_server, tmp_path, failpoints=f"{place}={kills}", FANOUT_CHUNK=100, DELIVERY_COMMIT_EVERY=commit_every
    )
    campaigns.send(campaign.account_id, campaign.id)
    fleet.start(2)
    try:
        assert wait_for(_finished(campaign), timeout=60, fleet=fleet), fleet.logs()
    finally:
        fleet.stop()
    assert failpoints.kills(str(tmp_path), place) == kills  # every planned kill happened
    figures = ledger_check(campaign, smtp_server, max_duplicates=duplicates)
    assert figures["duplicates"] == duplicates and figures["rows"] == 295


def test_kill_with_outcomes_written_in_groups(app, campaign_of, smtp_server, tmp_path):
    """With ``DELIVERY_COMMIT_EVERY`` 10, a kill after a 250 re-sends at most the ten messages whose
    outcomes were waiting to be written, and each one says so on its timeline."""
    campaign = campaign_of(300)
    fleet = Fleet(app, smtp_server, tmp_path, failpoints="after_250_before_commit=2", DELIVERY_COMMIT_EVERY=10)
    campaigns.send(campaign.account_id, campaign.id)
    fleet.start(2)
    try:
        assert wait_for(_finished(campaign), timeout=60, fleet=fleet), fleet.logs()
    finally:
        fleet.stop()
    assert failpoints.kills(str(tmp_path), "after_250_before_commit") == 2
    figures = ledger_check(campaign, smtp_server, max_duplicates=2 * 10)
    assert figures["duplicates"] >= 2  # at least the message each kill interrupted
    received = Counter(message_from_bytes(r.data, policy=policy.default)["Message-ID"] for r in smtp_server.received)
    twice = [message_id for message_id, count in received.items() if count > 1]
    rows = db.session.scalars(sa.select(SentEmail).where(SentEmail.message_id.in_(twice))).all()
    assert len(rows) == len(twice)
    for row in rows:  # visible: the sweep took the row back from the dead worker, then it was sent again
        assert "lease_expired" in [event.type for event in row.events], row.message_id
        assert row.attempt_count == 1  # the lost attempt was never recorded: the timeline says why


def test_storm_of_random_kills(app, campaign_of, smtp_server, tmp_path):
    campaign = campaign_of(2000, suppressed=10)
    fleet = Fleet(app, smtp_server, tmp_path, DELIVERY_BATCH_SIZE=100)
    campaigns.send(campaign.account_id, campaign.id)
    fleet.start(2)
    try:
        finished = _finished(campaign)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and fleet.kills < 12:
            time.sleep(random.uniform(0.3, 0.9))
            db.session.rollback()
            if finished():
                break
            fleet.kill_random()
            fleet.keep_alive()
        assert wait_for(finished, timeout=90, fleet=fleet), fleet.logs()
    finally:
        fleet.stop()
    # Each kill can cost at most the messages whose outcomes were waiting to be written.
    assert fleet.kills >= 3, "the storm ended before it could kill"
    figures = ledger_check(campaign, smtp_server, max_duplicates=fleet.kills * app.config["DELIVERY_COMMIT_EVERY"])
    print(f"storm: {fleet.kills} kills, {figures}")


def test_redis_wiped_mid_campaign(app, campaign_of, smtp_server, tmp_path, redis_conn):
    campaign = campaign_of(1000)
    fleet = Fleet(app, smtp_server, tmp_path, DELIVERY_BATCH_SIZE=25)
    campaigns.send(campaign.account_id, campaign.id)
    fleet.start(2)
    try:
        assert wait_for(lambda: len(smtp_server.received) >= 300, timeout=60, interval=0.05), fleet.logs()
        # The embedded server is ours alone: FLUSHALL. A shared server (CI's) gets FLUSHDB on our db.
        redis_conn.flushall() if hasattr(redis_conn, "socket_file") else redis_conn.flushdb()
        assert wait_for(_finished(campaign), timeout=60, fleet=fleet), fleet.logs()
    finally:
        fleet.stop()
    ledger_check(campaign, smtp_server, max_duplicates=0)


def test_same_send_job_twice_at_once(app, campaign_of, smtp_server, tmp_path):
    from app.jobs import queue

    campaign = campaign_of(400)
    campaigns.send(campaign.account_id, campaign.id)
    campaigns.fan_out(campaign.id)
    for _ in range(4):  # the same job, several times over
        queue.deliver_campaign(campaign.id)
    fleet = Fleet(app, smtp_server, tmp_path)
    fleet.start(2)
    try:
        assert wait_for(_finished(campaign), timeout=60, fleet=fleet), fleet.logs()
    finally:
        fleet.stop()
    ledger_check(campaign, smtp_server, max_duplicates=0)


def test_server_hangs_up_after_the_final_dot(app, make_user, smtp_server, run_jobs, redis_conn):
    """The server stores the message then closes without replying: we retry, and say so."""
    from app.jobs import queue

    user = make_user()
    mailing_list = make_list(user.account_id)
    bulk_subscribers(user.account_id, mailing_list.id, 20, domain="example.com")
    bulk_subscribers(user.account_id, mailing_list.id, 10, domain="flaky.example.com")
    campaign = make_campaign(user.account_id, mailing_list.id)
    smtp_server.handler.hang_up_after_data = {f"r{i}@flaky.example.com" for i in range(10)}
    app.config["DELIVERY_RETRY_SCHEDULE"] = [1]
    try:
        campaigns.send(campaign.account_id, campaign.id)
        run_jobs()
        assert open_rows(campaign.id) == 10
        # Ten silent hang-ups in a row open that domain's breaker; the other domain is unharmed.
        assert breaker.domain_breaker(redis_conn, "flaky.example.com").state() == breaker.OPEN
        for key in redis_conn.scan_iter("postroom:breaker:*"):  # let the cool-down pass
            redis_conn.delete(key)
        time.sleep(1.2)
        queue.maintenance()
        run_jobs()
    finally:
        app.config["DELIVERY_RETRY_SCHEDULE"] = [300, 600, 1200, 2400, 4800, 9600, 14400]
    figures = ledger_check(campaign, smtp_server, max_duplicates=10)
    assert figures["duplicates"] == 10  # every drop is a counted duplicate with one Message-ID
    unknown = db.session.query(EmailEvent).filter(EmailEvent.type == "unknown_outcome").count()
    assert unknown == 10
