"""Circuit breakers in real Redis on a fake clock, and their rebuild from recent attempts."""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime, timedelta

import pytest

from app.delivery import breaker
from app.delivery.breaker import Breaker, is_breaker_failure, rebuild_from_attempts
from app.extensions import db
from app.models import DeliveryAttempt, EmailKind, EmailStatus, Outcome, SentEmail
from app.services import providers

T0 = 1_000_000.0


def fail(gate: Breaker, times: int, start: float = T0, step: float = 1.0) -> str:
    state = "closed"
    for i in range(times):
        state = gate.record_failure(now=start + i * step)
    return state


def test_opens_at_the_threshold_within_the_window(redis_conn):
    gate = Breaker(redis_conn, "domain:down.test")

    assert fail(gate, 9) == "closed"
    assert gate.allow(now=T0 + 9) and gate.state(now=T0 + 9) == "closed"
    assert gate.record_failure(now=T0 + 9) == "open"
    assert not gate.allow(now=T0 + 10)
    assert gate.state(now=T0 + 10) == "open"


def test_failures_older_than_the_window_do_not_count(redis_conn):
    gate = Breaker(redis_conn, "domain:flaky.test", threshold=3, window=60)
    fail(gate, 2, start=T0)

    assert gate.record_failure(now=T0 + 61) == "closed"
    assert gate.record_failure(now=T0 + 62) == "closed"  # the one at T0 + 1 has left the window
    assert gate.record_failure(now=T0 + 63) == "open"


def test_a_success_clears_the_failures(redis_conn):
    gate = Breaker(redis_conn, "domain:mixed.test", threshold=3)
    fail(gate, 2)
    gate.record_success()

    assert fail(gate, 2, start=T0 + 5) == "closed"
    assert gate.snapshot(now=T0 + 7).failures == 2


def test_half_open_lets_exactly_one_probe_through_across_workers(redis_conn):
    gate = Breaker(redis_conn, "domain:down.test", threshold=2, cooldown=60)
    fail(gate, 2)  # opened at T0 + 1
    other_worker = Breaker(redis_conn, "domain:down.test", threshold=2, cooldown=60)

    assert not other_worker.allow(now=T0 + 60)
    assert gate.state(now=T0 + 61) == "half_open"
    assert gate.allow(now=T0 + 61)
    assert not other_worker.allow(now=T0 + 61)
    assert not gate.allow(now=T0 + 62)
    assert 0 < redis_conn.ttl(gate.probe_key) <= 60  # a dead prober frees the probe after a cool-down


def test_a_successful_probe_closes_the_breaker(redis_conn):
    gate = Breaker(redis_conn, "provider:1", threshold=2, cooldown=30)
    fail(gate, 2)
    assert gate.allow(now=T0 + 40)

    gate.record_success()

    assert gate.state(now=T0 + 40) == "closed"
    assert all(gate.allow(now=T0 + 40) for _ in range(5))
    assert not redis_conn.exists(gate.open_key, gate.probe_key, gate.failures_key)


def test_a_failed_probe_opens_it_for_another_cooldown(redis_conn):
    gate = Breaker(redis_conn, "provider:1", threshold=2, cooldown=30)
    fail(gate, 2)  # opened at T0 + 1
    assert gate.allow(now=T0 + 40)

    assert gate.record_failure(now=T0 + 41) == "open"

    assert gate.state(now=T0 + 70) == "open"
    assert not gate.allow(now=T0 + 70)
    assert gate.allow(now=T0 + 71)  # a new probe, one cool-down after the failed one


def test_late_failures_while_open_do_not_extend_it(redis_conn):
    gate = Breaker(redis_conn, "domain:down.test", threshold=2, cooldown=30)
    fail(gate, 2)  # opened at T0 + 1
    gate.record_failure(now=T0 + 20)  # a message that was already on its way

    assert gate.allow(now=T0 + 31)


def test_concurrent_half_open_callers_get_one_probe(redis_conn):
    Breaker(redis_conn, "domain:down.test", threshold=1).record_failure(now=T0)
    allowed = []

    def worker():
        allowed.append(Breaker(redis_conn, "domain:down.test", threshold=1).allow(now=T0 + 120))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert allowed.count(True) == 1


def test_concurrent_failures_are_all_counted(redis_conn):
    def worker(n):
        gate = Breaker(redis_conn, "domain:busy.test", threshold=1000)
        for i in range(25):
            gate.record_failure(now=T0 + n * 0.001 + i * 0.01)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Breaker(redis_conn, "domain:busy.test").snapshot(now=T0 + 1).failures == 200


def test_snapshots_list_breakers_with_state_and_forget_healed_ones(redis_conn):
    down = Breaker(redis_conn, "domain:down.test", threshold=2, cooldown=60)
    fail(down, 2)
    flaky = Breaker(redis_conn, "provider:3")
    flaky.record_failure(now=T0)
    healed = Breaker(redis_conn, "domain:healed.test")
    healed.record_failure(now=T0)
    healed.record_success()

    states = {s.name: s for s in breaker.snapshots(redis_conn, now=T0 + 10)}

    assert set(states) == {"domain:down.test", "provider:3"}
    assert (states["domain:down.test"].state, states["domain:down.test"].failures) == ("open", 2)
    assert states["domain:down.test"].retry_at == T0 + 1 + 60
    assert (states["domain:down.test"].kind, states["domain:down.test"].target) == ("domain", "down.test")
    assert (states["provider:3"].state, states["provider:3"].failures) == ("closed", 1)
    assert not redis_conn.sismember(breaker.REGISTRY, "domain:healed.test")


def test_open_breakers_close_by_themselves_when_idle_for_long(redis_conn):
    gate = Breaker(redis_conn, "domain:down.test", threshold=1)
    gate.record_failure(now=T0)

    assert 0 < redis_conn.ttl(gate.open_key) <= breaker.OPEN_TTL


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "name"),
        ({"threshold": 0}, "threshold"),
        ({"threshold": 2.5}, "2.5"),
        ({"window": 0}, "window"),
        ({"cooldown": -1}, "-1"),
    ],
)
def test_bad_settings_are_refused_naming_the_value(redis_conn, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Breaker(redis_conn, **{"name": "domain:x.test", **kwargs})


@pytest.mark.parametrize(
    ("outcome", "code", "enhanced", "counts"),
    [
        (Outcome.DEFERRED, None, None, True),  # no reply: refused, timed out, dropped
        (Outcome.DEFERRED, 421, "4.3.2", True),
        (Outcome.DEFERRED, 451, "4.4.1", True),  # network
        (Outcome.FAILED, 550, "5.7.1", True),  # policy
        (Outcome.DEFERRED, 450, "4.7.1", True),
        (Outcome.DEFERRED, 452, "4.2.2", False),  # mailbox full
        (Outcome.BOUNCED, 550, "5.1.1", False),  # unknown user
        (Outcome.FAILED, 554, None, False),
        (Outcome.DELIVERED, 250, "2.0.0", False),
        ("failed", None, None, True),
    ],
)
def test_which_attempts_count_against_a_breaker(outcome, code, enhanced, counts):
    assert is_breaker_failure(outcome, code, enhanced) is counts


# Rebuilding from delivery_attempts at worker start

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _email(account_id: int, recipient: str) -> SentEmail:
    email = SentEmail(
        account_id=account_id,
        recipient=recipient,
        kind=EmailKind.TRANSACTIONAL,
        status=EmailStatus.DEFERRED,
        message_id=f"<{secrets.token_hex(8)}@test>",
        created_at=NOW - timedelta(hours=1),
        updated_at=NOW,
    )
    db.session.add(email)
    db.session.flush()
    return email


def _attempts(account_id, recipient, count, *, ago=60, provider="default", code=None, enhanced=None,
              outcome=Outcome.DEFERRED, rows_per_attempt=1):  # fmt: skip
    """``count`` e-mails to ``recipient``, each with one attempt ``ago`` seconds before NOW."""
    for _ in range(count):
        email = _email(account_id, recipient)
        for _ in range(rows_per_attempt):
            db.session.add(
                DeliveryAttempt(
                    email_id=email.id,
                    number=1,
                    started_at=NOW - timedelta(seconds=ago),
                    provider=provider,
                    host="mx.test:25",
                    smtp_code=code,
                    enhanced_code=enhanced,
                    response="no answer",
                    outcome=outcome,
                    duration_ms=5,
                )
            )
    db.session.commit()


@pytest.fixture
def account(make_user):
    return make_user().account_id


def _state(redis_conn, name: str) -> str:
    return Breaker(redis_conn, name).state(now=NOW.timestamp())


def test_rebuild_opens_the_domains_that_were_failing(app, redis_conn, account):
    _attempts(account, "a@down.test", 12, ago=30)
    _attempts(account, "b@policy.test", 10, ago=30, code=550, enhanced="5.7.1", outcome=Outcome.FAILED)
    _attempts(account, "c@fine.test", 3, ago=30)
    _attempts(account, "d@users.test", 15, ago=30, code=550, enhanced="5.1.1", outcome=Outcome.BOUNCED)

    opened = rebuild_from_attempts(db.session, redis_conn, now=NOW)

    assert opened["domain:down.test"] == 12 and opened["domain:policy.test"] == 10
    assert "domain:fine.test" not in opened and "domain:users.test" not in opened
    assert _state(redis_conn, "domain:down.test") == "open"
    assert _state(redis_conn, "domain:fine.test") == "closed"


def test_rebuild_counts_each_attempt_once_however_many_rows_record_it(app, redis_conn, account):
    _attempts(account, "a@twice.test", 6, ago=30, rows_per_attempt=2)

    assert rebuild_from_attempts(db.session, redis_conn, now=NOW) == {}
    assert _state(redis_conn, "domain:twice.test") == "closed"


def test_rebuild_ignores_old_failures_and_failures_before_a_success(app, redis_conn, account):
    _attempts(account, "a@old.test", 20, ago=900)
    _attempts(account, "a@recovered.test", 20, ago=120)
    _attempts(account, "b@recovered.test", 1, ago=60, code=250, enhanced="2.0.0", outcome=Outcome.DELIVERED)

    assert rebuild_from_attempts(db.session, redis_conn, now=NOW) == {}


def test_rebuild_opens_as_of_the_last_failure(app, redis_conn, account):
    _attempts(account, "a@long-ago.test", 10, ago=300)

    rebuild_from_attempts(db.session, redis_conn, now=NOW)

    # The cool-down has passed since: one probe may go at once.
    assert _state(redis_conn, "domain:long-ago.test") == "half_open"
    assert Breaker(redis_conn, "domain:long-ago.test").allow(now=NOW.timestamp())


def test_rebuild_leaves_breakers_already_open_alone(app, redis_conn, account):
    gate = Breaker(redis_conn, "domain:down.test", threshold=1)
    gate.record_failure(now=NOW.timestamp())
    _attempts(account, "a@down.test", 12, ago=300)

    assert rebuild_from_attempts(db.session, redis_conn, now=NOW) == {}
    assert gate.snapshot(now=NOW.timestamp()).opened_at == NOW.timestamp()


def test_rebuild_opens_providers_by_account_and_the_instance_default(app, redis_conn, account, make_user):
    relay = providers.create(account, "relay-a", "smtp://relay.test:25")
    other = make_user("other@example.com").account_id
    providers.create(other, "relay-a", "smtp://other-relay.test:25")
    _attempts(account, "a@one.test", 6, ago=30, provider="relay-a")
    _attempts(account, "b@two.test", 6, ago=30, provider="relay-a")
    _attempts(other, "c@three.test", 4, ago=30, provider="relay-a")
    _attempts(account, "d@four.test", 6, ago=30, provider="default", code=421, enhanced="4.3.2")
    _attempts(other, "e@five.test", 6, ago=30, provider="default", code=421)

    opened = rebuild_from_attempts(db.session, redis_conn, now=NOW, default_provider="default")

    assert opened == {f"provider:{relay.id}": 12, "provider:default": 12}
