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


class Routing:
    def __init__(self, session: Session, conn: redis_lib.Redis | None, settings: EngineSettings, account_id: int):
        self.session, self.conn, self.settings, self.account_id = session, conn, settings, account_id
        self.choice: providers.Choice | None = None
        self._provider_bucket = None
        self._breakers: dict[str, breaker.Breaker] = {}

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
        self.choice = providers.choose(self.session, self.conn, self.account_id, self.settings)
        if self.choice is None:
            return None
        rate = self.choice.max_per_second
        self._provider_bucket = (
            ratelimit.provider_bucket(self.conn, self.choice.provider_id or "default", rate) if rate else None
        )
        chosen = dataclasses.replace(self.settings, smtp_url=self.choice.smtp_url, provider_name=self.choice.name)
        return factory(chosen)

    def admit(self, domain: str) -> tuple[float, str]:
        """(0, "") to send now; otherwise the seconds to defer this row and why."""
        if self.conn is None:
            return 0.0, ""
        bucket = ratelimit.domain_bucket(self.conn, domain, self.settings.domain_limits)
        wait = bucket.take()
        if 0 < wait <= SLEEP_LIMIT:
            time.sleep(wait)
            wait = bucket.take()
        if wait > 0:
            return max(wait, 1.0), f"rate limit for {domain}"
        # The bucket comes first so a row that is refused never holds the half-open probe.
        if not self._breaker(breaker.domain_name(domain)).allow():
            return breaker.COOLDOWN * (1 + random.random() * 0.2), f"circuit breaker open for {domain}"
        if self._provider_bucket is not None:
            while (pause := self._provider_bucket.take()) > 0:
                time.sleep(pause)
        return 0.0, ""

    def record(self, domain: str, reply: Reply, verdict: Verdict) -> bool:
        """Feed the reply into the shared state; True when the provider must be chosen again."""
        if self.conn is None:
            return False
        domain_gate = self._breaker(breaker.domain_name(domain))
        provider_gate = self._breaker(self.choice.breaker_name)
        if reply.code is not None and 200 <= reply.code < 300:
            domain_gate.record_success()
            provider_gate.record_success()
            sent = providers.record_sent(self.conn, self.choice)
            return self.choice.cap_today is not None and sent >= self.choice.cap_today
        if ratelimit.is_rate_limited(reply.code, reply.text):
            ratelimit.slow_down(self.conn, domain)
        if verdict.counts_for_breaker:
            domain_gate.record_failure()
            return provider_gate.record_failure() == breaker.OPEN
        return False

    def connect_failed(self) -> None:
        """The chosen provider could not be reached: count it against its breaker."""
        if self.conn is not None and self.choice is not None:
            self._breaker(self.choice.breaker_name).record_failure()
