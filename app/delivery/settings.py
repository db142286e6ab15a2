"""The engine's view of configuration, read once from the app config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from app.delivery.ratelimit import parse_domain_limits


@dataclass(frozen=True)
class EngineSettings:
    base_url: str
    secret_key: str
    smtp_url: str
    provider_name: str
    mail_from: str
    batch_size: int = 500
    commit_every: int = 20
    lease_seconds: int = 60
    retry_schedule: tuple[int, ...] = (300, 600, 1200, 2400, 4800, 9600, 14400)
    max_age: int = 259200
    smtp_timeout: float = 30.0
    bounce_domain: str | None = None
    domain_limits: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping) -> EngineSettings:
        dev = config["SMTP_URL"] is None
        return cls(
            base_url=config["BASE_URL"],
            secret_key=config["SECRET_KEY"],
            smtp_url=config["SMTP_URL"] or f"smtp://{config['DEV_CATCHER_ADDRESS']}?security=none",
            provider_name="dev-catcher" if dev else "default",
            mail_from=config["MAIL_FROM"],
            batch_size=config["DELIVERY_BATCH_SIZE"],
            commit_every=config.get("DELIVERY_COMMIT_EVERY", 20),
            lease_seconds=config["DELIVERY_LEASE_SECONDS"],
            retry_schedule=tuple(config["DELIVERY_RETRY_SCHEDULE"]),
            max_age=config["DELIVERY_MAX_AGE"],
            smtp_timeout=config["SMTP_TIMEOUT"],
            bounce_domain=config.get("BOUNCE_DOMAIN"),
            domain_limits=parse_domain_limits(config.get("DOMAIN_RATE_LIMITS")),
        )
