"""A batch reuses shared answers for a moment instead of asking Redis per message, and stays safe.

Tokens are taken in blocks but never beyond the shared rate; a closed breaker's "yes" is reused
for at most ``REUSE_SECONDS``; a probe's success, and a success after a failure, reach the
breaker at once; an uncapped provider's sent count reaches Redis by the batch's ``flush``.
"""

from __future__ import annotations

import dataclasses
import threading
import time

from app.delivery import breaker, providers, ratelimit, routing
from app.delivery.classify import classify
from app.delivery.routing import Routing, _Reservoir
from app.delivery.settings import EngineSettings
from app.delivery.transport import Reply

OK = Reply(250, "2.0.0 Ok: queued")
BLOCKED = Reply(550, "5.7.1 Service unavailable; client host blocked")


def _routing(app, **limits) -> Routing:
    settings = dataclasses.replace(EngineSettings.from_config(app.config), domain_limits=limits)
    route = Routing(None, app.extensions["redis"], settings, account_id=0)
    route.choice = providers.Choice("default", None, settings.smtp_url)
    return route


def test_blocks_of_tokens_never_exceed_the_shared_rate(redis_conn):
    bucket = ratelimit.TokenBucket(redis_conn, "domain:blocks.test", 20, 20)
    granted = [0, 0]
    deadline = time.monotonic() + 1.0

    def spend(slot: int) -> None:
        tokens = _Reservoir(ratelimit.TokenBucket(redis_conn, bucket.name, bucket.rate, bucket.burst))
        assert tokens.block == 2
        while time.monotonic() < deadline:
            if tokens.take() == 0:
                granted[slot] += 1
            else:
                time.sleep(0.005)

    workers = [threading.Thread(target=spend, args=(slot,)) for slot in (0, 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    # A full bucket (20) plus one second of refill (20), shared by both; and both got some.
    assert sum(granted) <= 40 + 1
    assert sum(granted) >= 30
    assert min(granted) > 0


def test_a_breaker_opened_by_another_worker_is_obeyed_within_the_reuse_time(app, redis_conn, monkeypatch):
    monkeypatch.setattr(routing, "REUSE_SECONDS", 0.2)
    route = _routing(app)
    assert route.admit("elsewhere.test") == (0.0, "")
    breaker.domain_breaker(redis_conn, "elsewhere.test").trip(time.time())
    assert route.admit("elsewhere.test") == (0.0, "")  # the reused "closed", at most 0.2 s old
    time.sleep(0.25)
    wait, why = route.admit("elsewhere.test")
    assert wait >= breaker.COOLDOWN and "circuit breaker open" in why


def test_a_probe_that_succeeds_closes_the_breaker_at_once(app, redis_conn):
    gate = breaker.domain_breaker(redis_conn, "healing.test")
    gate.trip(time.time() - breaker.COOLDOWN - 1)
    assert gate.state() == breaker.HALF_OPEN
    route = _routing(app)
    assert route.admit("healing.test") == (0.0, "")
    route.record("healing.test", OK, classify(OK.code, OK.text))
    assert gate.state() == breaker.CLOSED


def test_a_success_after_a_failure_clears_the_failures_at_once(app, redis_conn):
    route = _routing(app)
    gate = breaker.domain_breaker(redis_conn, "flaky.test")
    route.record("flaky.test", OK, classify(OK.code, OK.text))
    route.record("flaky.test", BLOCKED, classify(BLOCKED.code, BLOCKED.text))
    assert gate.snapshot().failures == 1
    route.record("flaky.test", OK, classify(OK.code, OK.text))  # within a second of the first success
    assert gate.snapshot().failures == 0


def test_an_uncapped_providers_count_reaches_redis_by_the_flush(app, redis_conn):
    route = _routing(app)
    for _ in range(5):
        assert route.record("count.test", OK, classify(OK.code, OK.text)) is False
    assert route.flush() == providers.sent_today(redis_conn, [None])[None] == 5
    assert route.flush() is None  # nothing new to send


def test_a_rate_limit_reply_slows_the_domain_for_the_next_message(app, redis_conn):
    route = _routing(app, **{"slowed.test": 40})
    assert route.admit("slowed.test") == (0.0, "")
    assert route._domains["slowed.test"].bucket.rate == 40
    reply = Reply(421, "4.7.28 Our system has detected an unusual rate of mail; try again later")
    route.record("slowed.test", reply, classify(reply.code, reply.text))
    assert route.admit("slowed.test") == (0.0, "")
    assert route._domains["slowed.test"].bucket.rate == 20
