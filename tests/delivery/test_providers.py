"""Provider selection: priority, weights, breakers, daily caps and warm-up, against real Redis."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from app.delivery import providers as engine
from app.delivery.breaker import Breaker
from app.delivery.settings import EngineSettings
from app.extensions import db
from app.services import providers

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings(app):
    return EngineSettings.from_config(app.config)


@pytest.fixture
def account(make_user):
    return make_user().account_id


def choose(redis_conn, account, settings, now=NOW, rng=None):
    return engine.choose(db.session, redis_conn, account, settings, now=now, rng=rng)


def trip(redis_conn, provider_id, at=NOW):
    """Open a provider's breaker as of ``at``."""
    assert Breaker(redis_conn, f"provider:{provider_id}").trip(at.timestamp())


def test_an_account_without_providers_uses_the_instance_default(redis_conn, account, settings):
    choice = choose(redis_conn, account, settings)

    assert (choice.name, choice.provider_id, choice.smtp_url) == (settings.provider_name, None, settings.smtp_url)
    assert choice.breaker_name == "provider:default"


def test_the_default_is_not_used_while_its_breaker_is_open(redis_conn, account, settings):
    trip(redis_conn, "default")

    assert choose(redis_conn, account, settings) is None
    probe = choose(redis_conn, account, settings, now=NOW + timedelta(seconds=61))
    assert probe.provider_id is None and probe.probe
    assert choose(redis_conn, account, settings, now=NOW + timedelta(seconds=62)) is None


def test_lower_priority_goes_first(redis_conn, account, settings):
    providers.create(account, "backup", "smtp://backup.test:25", priority=5, weight=100)
    main = providers.create(account, "main", "smtp://u:secret@main.test:587?security=starttls", priority=1)

    picks = {choose(redis_conn, account, settings).provider_id for _ in range(20)}

    assert picks == {main.id}
    choice = choose(redis_conn, account, settings)
    assert (choice.name, choice.smtp_url) == ("main", "smtp://u:secret@main.test:587?security=starttls")
    assert "secret" not in repr(choice)


def test_weights_share_one_priority(redis_conn, account, settings):
    heavy = providers.create(account, "heavy", "smtp://heavy.test:25", weight=3)
    light = providers.create(account, "light", "smtp://light.test:25", weight=1)
    rng = random.Random(7)

    picks = Counter(choose(redis_conn, account, settings, rng=rng).provider_id for _ in range(2000))

    assert picks[heavy.id] / 2000 == pytest.approx(0.75, abs=0.04)
    assert picks[light.id] + picks[heavy.id] == 2000


def test_weight_zero_is_a_standby(redis_conn, account, settings):
    active = providers.create(account, "active", "smtp://active.test:25", weight=1)
    standby = providers.create(account, "standby", "smtp://standby.test:25", weight=0)

    assert {choose(redis_conn, account, settings).provider_id for _ in range(30)} == {active.id}
    trip(redis_conn, active.id)
    assert choose(redis_conn, account, settings).provider_id == standby.id


def test_failover_and_failback_through_the_breaker(redis_conn, account, settings):
    main = providers.create(account, "main", "smtp://main.test:25", priority=0)
    backup = providers.create(account, "backup", "smtp://backup.test:25", priority=1)
    trip(redis_conn, main.id)

    assert choose(redis_conn, account, settings).provider_id == backup.id

    later = NOW + timedelta(seconds=61)
    probe = choose(redis_conn, account, settings, now=later)
    assert (probe.provider_id, probe.probe) == (main.id, True)
    assert choose(redis_conn, account, settings, now=later).provider_id == backup.id  # one probe only

    Breaker(redis_conn, probe.breaker_name).record_success()
    assert choose(redis_conn, account, settings, now=later) == engine.Choice("main", main.id, "smtp://main.test:25")


def test_a_provider_at_its_daily_cap_is_skipped_and_all_blocked_is_none(redis_conn, account, settings):
    capped = providers.create(account, "capped", "smtp://capped.test:25", daily_cap=2)
    other = providers.create(account, "other", "smtp://other.test:25", priority=1)

    first = choose(redis_conn, account, settings)
    assert (first.provider_id, first.cap_today) == (capped.id, 2)
    assert engine.record_sent(redis_conn, first, now=NOW) == 1
    assert engine.record_sent(redis_conn, first, now=NOW) == 2
    assert choose(redis_conn, account, settings).provider_id == other.id

    trip(redis_conn, other.id)
    assert choose(redis_conn, account, settings) is None
    tomorrow = NOW + timedelta(days=1)
    assert choose(redis_conn, account, settings, now=tomorrow).provider_id == capped.id


def test_record_sent_counts_per_provider_and_utc_day(redis_conn, account):
    choice = engine.Choice("relay", 12, "smtp://relay.test")

    engine.record_sent(redis_conn, choice, now=NOW, n=3)
    engine.record_sent(redis_conn, engine.Choice("default", None, "smtp://x"), now=NOW)

    key = "postroom:provider:12:sent:20261124"
    assert int(redis_conn.get(key)) == 3
    assert 2 * 86400 - 5 <= redis_conn.ttl(key) <= 2 * 86400
    assert int(redis_conn.get("postroom:provider:default:sent:20261124")) == 1
    assert engine.sent_today(redis_conn, [12, None, 13], NOW) == {12: 3, None: 1, 13: 0}


def test_the_warmup_schedule_caps_each_day_then_the_daily_cap_applies(app, account):
    provider = providers.create(account, "new-ip", "smtp://new.test:25", warmup="50,100,200", daily_cap=150)
    provider.warmup_started_at = NOW - timedelta(days=1, hours=13)  # started the day before yesterday
    db.session.commit()

    day = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
    assert providers.today_cap(provider, day) == 50
    assert engine.warmup_day(provider, day) == engine.Warmup(day=1, days=3, cap=50)
    assert providers.today_cap(provider, day + timedelta(hours=2)) == 100
    assert engine.warmup_day(provider, NOW) == engine.Warmup(day=3, days=3, cap=150)  # never above daily_cap
    assert engine.warmup_day(provider, NOW + timedelta(days=1)) is None
    assert providers.today_cap(provider, NOW + timedelta(days=1)) == 150

    provider.daily_cap = None
    assert providers.today_cap(provider, NOW) == 200
    assert providers.today_cap(provider, NOW + timedelta(days=30)) is None


def test_warmup_caps_are_enforced_by_choose(redis_conn, account, settings):
    warming = providers.create(account, "warming", "smtp://warming.test:25", warmup=[1, 5])
    steady = providers.create(account, "steady", "smtp://steady.test:25", priority=1)
    today = warming.warmup_started_at

    choice = choose(redis_conn, account, settings, now=today)
    assert (choice.provider_id, choice.cap_today) == (warming.id, 1)
    engine.record_sent(redis_conn, choice, now=today)
    assert choose(redis_conn, account, settings, now=today).provider_id == steady.id
    assert choose(redis_conn, account, settings, now=today + timedelta(days=1)).cap_today == 5


def test_disabled_providers_are_never_chosen(redis_conn, account, settings):
    providers.create(account, "off", "smtp://off.test:25", enabled=False)
    on = providers.create(account, "on", "smtp://on.test:25", priority=9)

    assert choose(redis_conn, account, settings).provider_id == on.id
    providers.update(account, on.id, enabled=False)
    assert choose(redis_conn, account, settings).provider_id is None  # none enabled: the default


def test_another_accounts_providers_are_never_chosen(redis_conn, account, settings, make_user):
    other = make_user("other@example.com").account_id
    providers.create(other, "theirs", "smtp://theirs.test:25")

    assert choose(redis_conn, account, settings).provider_id is None
