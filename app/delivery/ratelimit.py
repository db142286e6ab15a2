"""Token buckets shared by every worker through Redis, one per provider and per recipient domain.

``TokenBucket.take`` grants ``n`` tokens (answering 0.0) or grants nothing and answers how many
seconds to wait; the refill and the take run in one Lua script, so any number of workers on any
number of machines together never exceed ``burst`` at once nor ``rate`` on average. Time comes
from the Redis server (``TIME``) unless the caller passes ``now``, so workers with skewed clocks
still share one clock.

A receiving domain that answers a rate-limit reply (421/450/451 saying so) can be slowed down:
``slow_down`` halves its effective rate (down to 1/8) for ``COOLING_SECONDS``; each further
rate-limit reply halves it again and restarts the cooling period.

Redis keys this module owns:

- ``postroom:bucket:<name>``: hash ``tokens``, ``ts`` (last refill, epoch seconds), ``rate``,
  ``burst``; ``<name>`` is ``provider:<id>`` or ``domain:<domain>``. Expires once it would
  be full again (a missing bucket is a full one).
- ``postroom:slowdown:<domain>``: the domain's rate factor (0.5, 0.25 or 0.125); expires after
  ``COOLING_SECONDS``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import redis

BUCKET_PREFIX = "postroom:bucket:"
SLOWDOWN_PREFIX = "postroom:slowdown:"
DEFAULT_DOMAIN_RATE = 50.0
COOLING_SECONDS = 600
MIN_FACTOR = 0.125

_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens, ts = burst, now
elseif now > ts then
  tokens, ts = tokens + (now - ts) * rate, now
end
tokens = math.min(tokens, burst)
local wait = 0
-- a hair of tolerance: float sums of elapsed time must not refuse a token that is due
if tokens >= n - 1e-9 then
  tokens = math.max(0, tokens - n)
else
  wait = (n - tokens) / rate
end
local function exact(x) return string.format('%.17g', x) end
redis.call('HSET', KEYS[1], 'tokens', exact(tokens), 'ts', exact(ts), 'rate', exact(rate), 'burst', burst)
redis.call('EXPIRE', KEYS[1], math.ceil((burst - tokens) / rate) + 1)
return string.format('%.17g', wait)
"""

_SLOW_DOWN = """
local factor = tonumber(redis.call('GET', KEYS[1]) or '1') * 0.5
factor = math.max(factor, tonumber(ARGV[1]))
redis.call('SET', KEYS[1], tostring(factor), 'EX', tonumber(ARGV[2]))
return tostring(factor)
"""

# Receiving servers' words for "you are sending too fast" (Gmail 4.7.28, Yahoo TSS04, Outlook).
_RATE_LIMIT_TEXT = re.compile(
    r"\brate\b|ratelimit|\blimit|too many|throttl|volume|slow(ing)? down|4\.7\.28|TSS0\d", re.IGNORECASE
)
RATE_LIMIT_CODES = (421, 450, 451)


def _now_arg(now: float | None) -> str:
    return "" if now is None else repr(float(now))


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up, shared under ``postroom:bucket:<name>``."""

    def __init__(self, redis: redis.Redis, name: str, rate_per_second: float, burst: int):
        if not rate_per_second > 0 or math.isinf(rate_per_second):
            raise ValueError(f"rate_per_second must be a positive number, got {rate_per_second!r}")
        if int(burst) != burst or burst < 1:
            raise ValueError(f"burst must be a whole number of at least 1, got {burst!r}")
        if not name:
            raise ValueError(f"a bucket needs a name, got {name!r}")
        self.redis, self.name = redis, name
        self.key = BUCKET_PREFIX + name
        self.rate, self.burst = float(rate_per_second), int(burst)
        self._take = redis.register_script(_TAKE)

    def take(self, n: int = 1, now: float | None = None) -> float:
        """Take ``n`` tokens: 0.0 when granted, else the seconds until they would be (none taken)."""
        if n < 1 or n > self.burst:
            raise ValueError(f"n must be between 1 and the burst ({self.burst}), got {n!r}")
        wait = self._take(keys=[self.key], args=[repr(self.rate), self.burst, n, _now_arg(now)])
        return float(wait)

    def __repr__(self) -> str:
        return f"TokenBucket({self.name!r}, rate={self.rate}, burst={self.burst})"


def burst_for(rate: float) -> int:
    """One second's worth of tokens: a bucket never sends more than ``2 * rate`` in any second."""
    return max(1, math.ceil(rate))


def provider_bucket(redis: redis.Redis, provider_id: int | str, rate: float) -> TokenBucket:
    return TokenBucket(redis, f"provider:{provider_id}", rate, burst_for(rate))


def parse_domain_limits(raw: str | None) -> dict[str, float]:
    """Parse ``DOMAIN_RATE_LIMITS`` like ``"gmail.com=20,outlook.com=10"`` (messages a second).

    ``*=N`` sets the rate of every other domain (``DEFAULT_DOMAIN_RATE`` otherwise). Raises
    ValueError naming the entry at fault.
    """
    limits: dict[str, float] = {}
    for entry in (raw or "").split(","):
        if not entry.strip():
            continue
        domain, sep, value = entry.partition("=")
        domain = domain.strip().lower().rstrip(".")
        try:
            rate = float(value)
        except ValueError:
            rate = float("nan")
        if not sep or not domain or not rate > 0 or math.isinf(rate):
            raise ValueError(f"DOMAIN_RATE_LIMITS entries look like gmail.com=20 (a positive rate), got {entry!r}")
        limits[domain] = rate
    return limits


def base_rate(domain: str, limits: Mapping[str, float]) -> float:
    """The configured rate of ``domain``, before any slow-down."""
    return limits.get(domain.lower(), limits.get("*", DEFAULT_DOMAIN_RATE))


def slowdown_factor(redis: redis.Redis, domain: str) -> float:
    value = redis.get(SLOWDOWN_PREFIX + domain.lower())
    return float(value) if value is not None else 1.0


def effective_rate(redis: redis.Redis, domain: str, limits: Mapping[str, float]) -> float:
    """The domain's rate now: the configured one, halved per recent rate-limit reply."""
    return base_rate(domain, limits) * slowdown_factor(redis, domain)


def domain_bucket(redis: redis.Redis, domain: str, limits: Mapping[str, float]) -> TokenBucket:
    """The shared bucket of one recipient domain, at its effective rate."""
    rate = effective_rate(redis, domain, limits)
    return TokenBucket(redis, f"domain:{domain.lower()}", rate, burst_for(rate))


def slow_down(redis: redis.Redis, domain: str, cooling: int = COOLING_SECONDS) -> float:
    """Halve ``domain``'s rate for ``cooling`` seconds (again if already slowed); return the factor."""
    script = redis.register_script(_SLOW_DOWN)
    return float(script(keys=[SLOWDOWN_PREFIX + domain.lower()], args=[MIN_FACTOR, int(cooling)]))


def is_rate_limited(code: int | None, text: str) -> bool:
    """Whether a reply asks us to send more slowly (a 421/450/451 that says so)."""
    return code in RATE_LIMIT_CODES and bool(_RATE_LIMIT_TEXT.search(text or ""))


@dataclass(frozen=True)
class BucketState:
    name: str
    rate: float
    burst: int
    tokens: float


def buckets(redis: redis.Redis, names: list[str] | None = None, now: float | None = None) -> list[BucketState]:
    """The live buckets (all, or those ``names``), with their tokens refilled up to ``now``."""
    if now is None:
        seconds, micros = redis.time()
        now = seconds + micros / 1_000_000
    if names is None:
        keys = sorted(k.decode() if isinstance(k, bytes) else k for k in redis.scan_iter(BUCKET_PREFIX + "*", 500))
    else:
        keys = [BUCKET_PREFIX + name for name in names]
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.hmget(key, "tokens", "ts", "rate", "burst")
    states = []
    for key, (tokens, ts, rate, burst) in zip(keys, pipe.execute(), strict=True):
        if None in (tokens, ts, rate, burst):
            continue
        rate, burst = float(rate), int(float(burst))
        level = min(burst, float(tokens) + max(0.0, now - float(ts)) * rate)
        states.append(BucketState(key.removeprefix(BUCKET_PREFIX), rate, burst, round(level, 3)))
    return states
