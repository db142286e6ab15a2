"""Limits on guessing: failed logins, wrong two-factor codes, password-reset e-mails.

A limit allows at most ``limit`` events per key in any ``window`` seconds (a sliding window, not
a fixed one: there is no boundary at which twice the limit gets through). ``reserve`` counts an
attempt *before* it is checked and refuses it, with TooManyAttempts, when any of its limits is
full; ``release`` takes the attempt back once it succeeded. An attempt in flight therefore counts
already, so a burst of parallel guesses cannot slip past the limit, and a success never clears
the failures that came before it (not the account's, not the address's).

The counts live in the app's Redis, keyed by what is limited (a typed e-mail address, whether
an account has it or not; a client address; a user id), never by session or cookie: a new
session or a new cookie starts nothing afresh, and a new client address does not reset the
account's count. When Redis cannot be reached the attempt goes through and a warning is logged:
a limit slows guessing down, it must not lock everyone out.

Redis keys: ``postroom:throttle:<scope>:<who>`` (a sorted set of attempt times, expiring with
its window) and ``postroom:throttle:<scope>:<who>:refused`` (set while refusing, so a refusal
is recorded in the audit log once per lockout, not once per request).
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
from dataclasses import dataclass, field

import redis
from flask import current_app

from app.services.errors import ServiceError

log = logging.getLogger(__name__)
PREFIX = "postroom:throttle"

# KEYS: the limits' keys. ARGV: the attempt's id, then limit and window of each key.
# Returns {0} when the attempt was counted, else {seconds to wait, 1-based index of the full key}.
_RESERVE = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local wait, full = 0, 0
for i, key in ipairs(KEYS) do
  local limit, window = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count >= limit then
    local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    local seconds = math.ceil(tonumber(oldest[2]) + window - now)
    if seconds > wait then wait, full = seconds, i end
  end
end
if full > 0 then return {math.max(wait, 1), full} end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[1])
  redis.call('EXPIRE', key, tonumber(ARGV[2 * i + 1]))
end
return {0}
"""


class TooManyAttempts(ServiceError):
    """Refused before checking anything: a limit is full. ``retry_after`` is in seconds."""

    code = "too_many_attempts"
    status = 429

    def __init__(self, retry_after: int, what: str = "failed attempts", scope: str = "", first: bool = True):
        minutes = max(1, math.ceil(retry_after / 60))
        unit = "minute" if minutes == 1 else "minutes"
        super().__init__(f"Too many {what}; try again in {minutes} {unit}.")
        self.retry_after = retry_after
        self.scope = scope
        self.first = first  # the first refusal of this lockout (the one worth an audit event)


@dataclass(frozen=True)
class Limit:
    scope: str
    who: str
    limit: int
    window: int

    @property
    def key(self) -> str:
        return f"{PREFIX}:{self.scope}:{self.who}"


@dataclass
class Attempt:
    """A counted attempt; ``release`` it when it succeeded."""

    member: str
    keys: list[str] = field(default_factory=list)


def reserve(limits: list[Limit], what: str = "failed attempts") -> Attempt:
    """Count one attempt against every limit, or raise TooManyAttempts without counting it."""
    limits = [limit for limit in limits if limit.limit > 0 and limit.who]
    attempt = Attempt(secrets.token_hex(8), [limit.key for limit in limits])
    if not limits:
        return attempt
    conn = current_app.extensions["redis"]
    args: list = [attempt.member]
    for limit in limits:
        args += [limit.limit, limit.window]
    try:
        answer = conn.register_script(_RESERVE)(keys=attempt.keys, args=args)
        if int(answer[0]) == 0:
            return attempt
        wait, full = int(answer[0]), limits[int(answer[1]) - 1]
        first = bool(conn.set(f"{full.key}:refused", 1, nx=True, ex=wait))
    except redis.RedisError as exc:
        log.warning("throttle: Redis unavailable, letting the attempt through (%s)", exc)
        return Attempt(attempt.member)
    raise TooManyAttempts(wait, what, full.scope, first)


def release(attempt: Attempt) -> None:
    """Take back a successful attempt: it was not a failure."""
    if not attempt.keys:
        return
    conn = current_app.extensions["redis"]
    try:
        pipe = conn.pipeline(transaction=False)
        for key in attempt.keys:
            pipe.zrem(key, attempt.member)
        pipe.execute()
    except redis.RedisError as exc:
        log.warning("throttle: Redis unavailable, could not release an attempt (%s)", exc)


def _address(email: str) -> str:
    """A typed address as a key part: hashed, so any input (long, odd characters) makes a short key."""
    return hashlib.sha256(email.strip().lower().encode("utf-8", "replace")).hexdigest()[:32]


def login_limits(email: str, ip: str) -> list[Limit]:
    """Failed logins (and wrong current passwords) per typed address and per client address."""
    config = current_app.config
    window = config["LOGIN_FAILURE_WINDOW"]
    return [
        Limit("login-address", _address(email), config["LOGIN_MAX_FAILURES"], window),
        Limit("login-ip", ip, config["LOGIN_MAX_FAILURES_PER_IP"], window),
    ]


def totp_limits(user_id: int) -> list[Limit]:
    """Wrong two-factor codes per user, whatever session or address they come from."""
    config = current_app.config
    return [Limit("totp-user", str(user_id), config["TOTP_MAX_FAILURES"], config["LOGIN_FAILURE_WINDOW"])]


def reset_limits(email: str, ip: str) -> list[Limit]:
    """Password-reset requests per typed address and per client address, per hour."""
    config = current_app.config
    return [
        Limit("reset-address", _address(email), config["PASSWORD_RESET_MAX_PER_ADDRESS"], 3600),
        Limit("reset-ip", ip, config["PASSWORD_RESET_MAX_PER_IP"], 3600),
    ]
