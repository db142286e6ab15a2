"""The shared limits one batch obeys: which provider, per-domain and per-provider buckets and breakers.

``Routing`` wraps the provider choice (``providers.choose``), the circuit breakers
(``breaker``) and the token buckets (``ratelimit``) behind three questions the sender asks:
which transport to use, may this recipient's domain be sent to now (or how long to wait), and
what a reply means for the shared state. Without a Redis connection (unit tests of the sender)
it admits everything and always uses the configured default.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable

import redis as redis_lib
from sqlalchemy.orm import Session

from app.delivery import breaker, providers, ratelimit
from app.delivery.classify import Verdict
from app.delivery.settings import EngineSettings
from app.delivery.transport import Reply, SmtpTransport

# A wait shorter than this is slept through; a longer one defers the row.
SLEEP_LIMIT = 1.0
# A batch reuses shared answers for a moment instead of asking Redis for every message:
TOKEN_BLOCK_SECONDS = 0.1  # a bucket grants up to this much of its rate at once (never beyond it)
MAX_TOKEN_BLOCK = 50
REUSE_SECONDS = 1.0  # a closed breaker's yes, a domain's rate, successes and sent counts


class _Reservoir:
    """Tokens taken from a shared bucket in blocks and spent locally.

    The bucket never grants more than its rate, so the limit holds for all workers together;
    tokens a batch took but did not spend are simply lost, which only errs on the slow side.
    """

    def __init__(self, bucket: ratelimit.TokenBucket):
        self.bucket, self.left = bucket, 0
        self.block = max(1, min(bucket.burst, MAX_TOKEN_BLOCK, int(bucket.rate * TOKEN_BLOCK_SECONDS)))
        self.fresh_until = time.monotonic() + REUSE_SECONDS

    def take(self) -> float:
        """0.0 when a token is granted, else the seconds until one would be."""
        if self.left:
            self.left -= 1
            return 0.0
        if self.block > 1 and self.bucket.take(self.block) == 0:
            self.left = self.block - 1
            return 0.0
        return self.bucket.take()


class Routing:
    def __init__(self, session: Session, conn: redis_lib.Redis | None, settings: EngineSettings, account_id: int):
        self.session, self.conn, self.settings, self.account_id = session, conn, settings, account_id
        self.choice: providers.Choice | None = None
        self._provider_tokens: _Reservoir | None = None
        self._domains: dict[str, _Reservoir] = {}
        self._breakers: dict[str, breaker.Breaker] = {}
        self._passed_until: dict[str, float] = {}  # breaker name -> until when its "closed" is reused
        self._report: dict[str, float] = {}  # breaker name -> when a success is reported next
        self._unreported_sent = 0
        self._sent_reported_at = time.monotonic()

    def _breaker(self, name: str) -> breaker.Breaker:
        """One object per breaker for the batch (each registers its Lua scripts once)."""
        if name not in self._breakers:
            self._breakers[name] = breaker.Breaker(self.conn, name)
        return self._breakers[name]

    @property
    def provider_name(self) -> str:
        """The name attempts record: the chosen provider's, or the instance default's."""
        return self.choice.name if self.choice is not None else self.settings.provider_name

    def open(self, factory: Callable[[EngineSettings], SmtpTransport]) -> SmtpTransport | None:
        """A transport for the best provider now, or None when every provider is blocked."""
        if self.conn is None:
            return factory(self.settings)
        self.flush()
        self.choice = providers.choose(self.session, self.conn, self.account_id, self.settings)
        if self.choice is None:
            return None
        if self.choice.probe:  # its first success must close the breaker at once
            self._report[self.choice.breaker_name] = 0.0
        rate = self.choice.max_per_second
        self._provider_tokens = (
            _Reservoir(ratelimit.provider_bucket(self.conn, self.choice.provider_id or "default", rate))
            if rate
            else None
        )
        chosen = dataclasses.replace(self.settings, smtp_url=self.choice.smtp_url, provider_name=self.choice.name)
        return factory(chosen)

    def admit(self, domain: str) -> tuple[float, str]:
        """(0, "") to send now; otherwise the seconds to defer this row and why."""
        if self.conn is None:
            return 0.0, ""
        tokens = self._domain_tokens(domain)
        wait = tokens.take()
        if 0 < wait <= SLEEP_LIMIT:
            time.sleep(wait)
            wait = tokens.take()
        if wait > 0:
            return max(wait, 1.0), f"rate limit for {domain}"
        # The bucket comes first so a row that is refused never holds the half-open probe.
        if not self._breaker_passes(breaker.domain_name(domain)):
            return breaker.COOLDOWN * (1 + random.random() * 0.2), f"circuit breaker open for {domain}"
        if self._provider_tokens is not None:
            while (pause := self._provider_tokens.take()) > 0:
                time.sleep(pause)
        return 0.0, ""

    def _domain_tokens(self, domain: str) -> _Reservoir:
        """The domain's bucket at its effective rate, re-read (slow-downs) every ``REUSE_SECONDS``."""
        tokens = self._domains.get(domain)
        if tokens is None or time.monotonic() >= tokens.fresh_until:
            tokens = _Reservoir(ratelimit.domain_bucket(self.conn, domain, self.settings.domain_limits))
            self._domains[domain] = tokens
        return tokens

    def _breaker_passes(self, name: str) -> bool:
        """Ask the shared breaker, reusing a "closed" for ``REUSE_SECONDS``: a breaker another
        worker opens is obeyed here within a second."""
        now = time.monotonic()
        if self._passed_until.get(name, 0.0) > now:
            return True
        answer = self._breaker(name).admit()
        if answer == breaker.PASS:
            self._passed_until[name] = now + REUSE_SECONDS
        elif answer == breaker.PROBE:
            self._report[name] = 0.0  # the probe's success closes the breaker at once
        return answer != breaker.REFUSED

    def record(self, domain: str, reply: Reply, verdict: Verdict) -> bool:
        """Feed the reply into the shared state; True when the provider must be chosen again."""
        if self.conn is None:
            return False
        domain_name, provider_name = breaker.domain_name(domain), self.choice.breaker_name
        if reply.code is not None and 200 <= reply.code < 300:
            self._succeeded(domain_name)
            self._succeeded(provider_name)
            return self._count_sent()
        if ratelimit.is_rate_limited(reply.code, reply.text):
            ratelimit.slow_down(self.conn, domain)
            self._domains.pop(domain, None)  # the next message takes from the slower bucket
        if verdict.counts_for_breaker:
            self._failed(domain_name)
            return self._failed(provider_name) == breaker.OPEN
        return False

    def _succeeded(self, name: str) -> None:
        """A success closes the breaker and clears its failures; reported at most once a
        ``REUSE_SECONDS`` unless it ends a probe or follows a failure seen here."""
        now = time.monotonic()
        if now >= self._report.get(name, 0.0):
            self._breaker(name).record_success()
            self._report[name] = now + REUSE_SECONDS

    def _failed(self, name: str) -> str:
        self._passed_until.pop(name, None)
        self._report[name] = 0.0
        return self._breaker(name).record_failure()

    def _count_sent(self) -> bool:
        """Count one message against the provider's day; True when its cap is reached.

        A capped provider counts each message at once (the cap is exact); an uncapped one only
        feeds the status page, so its count is sent every ``REUSE_SECONDS`` and by ``flush``.
        """
        self._unreported_sent += 1
        if self.choice.cap_today is None:
            if time.monotonic() - self._sent_reported_at >= REUSE_SECONDS:
                self.flush()
            return False
        sent = self.flush()
        return sent is not None and sent >= self.choice.cap_today

    def flush(self) -> int | None:
        """Send the messages counted here to the provider's shared day total; answer the total."""
        self._sent_reported_at = time.monotonic()
        if not self._unreported_sent or self.choice is None or self.conn is None:
            return None
        count, self._unreported_sent = self._unreported_sent, 0
        return providers.record_sent(self.conn, self.choice, n=count)

    def connect_failed(self) -> None:
        """The chosen provider could not be reached: count it against its breaker."""
        if self.conn is not None and self.choice is not None:
            self._failed(self.choice.breaker_name)
