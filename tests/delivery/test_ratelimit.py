"""Token buckets in real Redis: shared by every worker, atomic, refilled on a fake clock."""

from __future__ import annotations

import threading

import pytest

from app.delivery import ratelimit
from app.delivery.ratelimit import TokenBucket

T0 = 1_000_000.0


def test_grants_the_burst_then_says_how_long_to_wait(redis_conn):
    bucket = TokenBucket(redis_conn, "provider:1", rate_per_second=10, burst=5)

    assert [bucket.take(now=T0) for _ in range(5)] == [0.0] * 5
    assert bucket.take(now=T0) == pytest.approx(0.1)
    assert bucket.take(now=T0 + 0.05) == pytest.approx(0.05)
    assert bucket.take(now=T0 + 0.1) == 0.0


def test_a_refused_take_takes_nothing(redis_conn):
    bucket = TokenBucket(redis_conn, "provider:1", rate_per_second=1, burst=3)
    bucket.take(now=T0)  # 2 left

    assert bucket.take(3, now=T0) == pytest.approx(1.0)
    assert bucket.take(2, now=T0) == 0.0
    assert bucket.take(now=T0) == pytest.approx(1.0)


def test_refill_never_exceeds_the_burst(redis_conn):
    bucket = TokenBucket(redis_conn, "domain:example.com", rate_per_second=2, burst=4)
    for _ in range(4):
        bucket.take(now=T0)

    later = T0 + 3600
    assert [bucket.take(now=later) for _ in range(5)] == [0.0] * 4 + [pytest.approx(0.5)]


def test_the_average_rate_holds_over_time(redis_conn):
    bucket = TokenBucket(redis_conn, "domain:example.com", rate_per_second=20, burst=20)
    granted = 0
    for step in range(1001):  # ten seconds in 10 ms steps, asking far more often than allowed
        now = T0 + step / 100
        granted += sum(bucket.take(now=now) == 0.0 for _ in range(3))

    assert granted == pytest.approx(20 + 20 * 10, abs=1)


def test_workers_share_one_bucket_by_name(redis_conn):
    one = TokenBucket(redis_conn, "provider:7", 1, 2)
    other = TokenBucket(redis_conn, "provider:7", 1, 2)

    assert one.take(now=T0) == 0.0
    assert other.take(now=T0) == 0.0
    assert one.take(now=T0) > 0
    assert TokenBucket(redis_conn, "provider:8", 1, 2).take(now=T0) == 0.0


def test_concurrent_takers_never_get_more_than_the_burst(redis_conn):
    bucket = TokenBucket(redis_conn, "domain:busy.example", rate_per_second=5, burst=25)
    granted = []

    def worker():
        mine = TokenBucket(redis_conn, "domain:busy.example", 5, 25)
        granted.extend(1 for _ in range(20) if mine.take(now=T0) == 0.0)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(granted) == 25
    assert bucket.take(now=T0) > 0


def test_keys_live_under_postroom_bucket_and_expire(redis_conn):
    TokenBucket(redis_conn, "provider:3", rate_per_second=0.5, burst=10).take()

    key = "postroom:bucket:provider:3"
    assert redis_conn.exists(key)
    assert 0 < redis_conn.ttl(key) <= 10 / 0.5 + 1


def test_the_redis_clock_is_used_without_now(redis_conn):
    # One token a minute: the second take must wait, however slowly a loaded machine gets to it
    # (at 1000 per second a millisecond between the two takes refilled the bucket).
    bucket = TokenBucket(redis_conn, "provider:4", rate_per_second=1 / 60, burst=1)

    assert bucket.take() == 0.0
    assert 59 < bucket.take() <= 60


@pytest.mark.parametrize(
    ("rate", "burst", "message"),
    [(0, 1, "rate_per_second"), (-1, 1, "-1"), (float("inf"), 1, "inf"), (1, 0, "burst"), (1, 1.5, "1.5")],
)
def test_bad_settings_are_refused_naming_the_value(redis_conn, rate, burst, message):
    with pytest.raises(ValueError, match=message):
        TokenBucket(redis_conn, "provider:1", rate, burst)


def test_taking_more_than_the_burst_is_an_error(redis_conn):
    with pytest.raises(ValueError, match="between 1 and the burst"):
        TokenBucket(redis_conn, "provider:1", 1, 3).take(4)


def test_parse_domain_limits():
    assert ratelimit.parse_domain_limits("gmail.com=20, Outlook.com=10 ,*=40,") == {
        "gmail.com": 20.0,
        "outlook.com": 10.0,
        "*": 40.0,
    }
    assert ratelimit.parse_domain_limits("") == {}
    assert ratelimit.parse_domain_limits(None) == {}


@pytest.mark.parametrize("raw", ["gmail.com", "gmail.com=", "=5", "gmail.com=0", "gmail.com=fast", "a.com=inf"])
def test_parse_domain_limits_names_the_bad_entry(raw):
    with pytest.raises(ValueError, match="DOMAIN_RATE_LIMITS"):
        ratelimit.parse_domain_limits(raw)


def test_domain_buckets_use_the_configured_rates(redis_conn):
    limits = ratelimit.parse_domain_limits("gmail.com=20,outlook.com=2.5")

    gmail = ratelimit.domain_bucket(redis_conn, "Gmail.com", limits)
    other = ratelimit.domain_bucket(redis_conn, "example.org", limits)
    slow = ratelimit.domain_bucket(redis_conn, "outlook.com", limits)

    assert (gmail.key, gmail.rate, gmail.burst) == ("postroom:bucket:domain:gmail.com", 20.0, 20)
    assert (other.rate, other.burst) == (ratelimit.DEFAULT_DOMAIN_RATE, 50)
    assert (slow.rate, slow.burst) == (2.5, 3)
    assert ratelimit.domain_bucket(redis_conn, "x.org", {"*": 7}).rate == 7


def test_slow_down_halves_a_domain_for_the_cooling_period(redis_conn):
    limits = {"gmail.com": 20.0}

    assert ratelimit.slow_down(redis_conn, "gmail.com") == 0.5
    assert ratelimit.effective_rate(redis_conn, "gmail.com", limits) == 10.0
    assert ratelimit.domain_bucket(redis_conn, "gmail.com", limits).rate == 10.0
    assert ratelimit.effective_rate(redis_conn, "yahoo.com", limits) == ratelimit.DEFAULT_DOMAIN_RATE
    ttl = redis_conn.ttl("postroom:slowdown:gmail.com")
    assert ratelimit.COOLING_SECONDS - 5 <= ttl <= ratelimit.COOLING_SECONDS

    assert ratelimit.slow_down(redis_conn, "gmail.com") == 0.25
    for _ in range(5):
        ratelimit.slow_down(redis_conn, "gmail.com")
    assert ratelimit.effective_rate(redis_conn, "gmail.com", limits) == 20.0 * ratelimit.MIN_FACTOR

    redis_conn.delete("postroom:slowdown:gmail.com")  # the cooling period is over
    assert ratelimit.effective_rate(redis_conn, "gmail.com", limits) == 20.0


def test_a_slowed_bucket_holds_no_more_than_its_new_burst(redis_conn):
    limits = {"gmail.com": 20.0}
    ratelimit.domain_bucket(redis_conn, "gmail.com", limits).take(now=T0)  # 19 tokens saved up
    ratelimit.slow_down(redis_conn, "gmail.com")

    bucket = ratelimit.domain_bucket(redis_conn, "gmail.com", limits)
    assert sum(bucket.take(now=T0) == 0.0 for _ in range(20)) == 10


@pytest.mark.parametrize(
    ("code", "text", "expected"),
    [
        (421, "4.7.28 Our system has detected an unusual rate of unsolicited mail", True),
        (450, "4.2.1 The user you are trying to contact is receiving mail at a rate that prevents", True),
        (421, "4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume", True),
        (451, "4.7.650 The mail server has been temporarily rate limited due to IP reputation", True),
        (421, "Too many concurrent SMTP connections", True),
        (451, "4.7.1 Greylisted, please try again later", False),
        (450, "4.2.2 Mailbox full", False),
        (550, "5.7.1 rate limit exceeded", False),
        (None, "timed out", False),
    ],
)
def test_rate_limit_replies_are_recognised(code, text, expected):
    assert ratelimit.is_rate_limited(code, text) is expected


def test_buckets_lists_the_live_buckets_refilled_to_now(redis_conn):
    TokenBucket(redis_conn, "domain:a.example", 10, 10).take(10, now=T0)
    TokenBucket(redis_conn, "provider:9", 1, 5).take(now=T0)

    states = {b.name: b for b in ratelimit.buckets(redis_conn, now=T0 + 0.5)}

    assert set(states) == {"domain:a.example", "provider:9"}
    assert (states["domain:a.example"].rate, states["domain:a.example"].burst) == (10.0, 10)
    assert states["domain:a.example"].tokens == pytest.approx(5.0)
    assert states["provider:9"].tokens == pytest.approx(4.5)
    assert [b.name for b in ratelimit.buckets(redis_conn, ["provider:9", "provider:404"], now=T0)] == ["provider:9"]
