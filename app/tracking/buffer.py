"""The write buffer between the public tracking routes and the database.

A pixel or click request only appends its hit to a Redis list and answers; the flush job
(``app.jobs.tracking``) drains the list into the database in batches, one transaction each, so
a burst of opens never competes with the sender for the database. When Redis is unavailable
the request writes its hit directly instead: a hit is never dropped for that, and the request
never fails for it.

Redis keys: ``postroom:tracking:hits`` (the list, oldest first) and ``postroom:tracking:flush``
(held by the one drain running, so two never write the same hits). A drain reads a batch,
commits it, then trims it off the list: a drain that dies before its commit leaves the batch for
the next one; one that dies between its commit and the trim (a moment) writes that batch twice.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass

import redis
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from app.tracking import store
from app.tracking.store import Hit

log = logging.getLogger(__name__)
HITS = "postroom:tracking:hits"
FLUSH_LOCK = "postroom:tracking:flush"
BATCH = 500
LOCK_SECONDS = 300  # longer than a drain's budget, so a live drain never loses its lock
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def push(conn: redis.Redis, session: Session, hit: Hit) -> bool:
    """Queue ``hit``; answer whether the flush job should be rung (an empty buffer got its first
    hit, or another full batch is waiting). Without Redis the hit is written here and now."""
    try:
        waiting = conn.rpush(HITS, hit.dumps())
    except redis.RedisError as exc:
        log.warning("tracking buffer unavailable (%s); writing the %s directly", exc, hit.kind)
        write_now(session, hit)
        return False
    return waiting == 1 or waiting % BATCH == 0


def _write(session: Session, hits: list[Hit]) -> int:
    """One transaction for the batch; if the database refuses a hit in it, the others one by one,
    so a single bad hit cannot hold the buffer up. Any other error propagates (the job fails and
    the hits wait in Redis for the next drain)."""
    try:
        written = store.write(session, hits)
        session.commit()
        return written
    except (IntegrityError, DataError) as exc:
        session.rollback()
        log.warning("a tracking batch was refused (%s); writing its hits one at a time", exc)
    written = 0
    for hit in hits:
        try:
            written += store.write(session, [hit])
            session.commit()
        except (IntegrityError, DataError) as exc:
            session.rollback()
            log.error("dropping a tracking %s the database refuses: %s", hit.kind, exc)
    return written


def write_now(session: Session, hit: Hit) -> None:
    """Write one hit in its own transaction; a database failure is logged, never raised."""
    try:
        store.write(session, [hit])
        session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        log.error("tracking %s for e-mail %s lost: %s", hit.kind, hit.email_id, exc)


def waiting(conn: redis.Redis) -> int:
    return conn.llen(HITS)


@dataclass
class Drained:
    written: int = 0
    more: bool = False  # hits were left because the budget ran out


def drain(session: Session, conn: redis.Redis, budget: float = 60.0, batch: int = BATCH) -> Drained:
    """Write buffered hits, a batch per transaction, for up to ``budget`` seconds.

    Answers at once (nothing written) when another drain holds the lock: that one writes them.
    """
    result = Drained()
    token = secrets.token_hex(8)
    if not conn.set(FLUSH_LOCK, token, nx=True, ex=LOCK_SECONDS):
        return result
    deadline = time.monotonic() + budget
    try:
        while True:
            raw = conn.lrange(HITS, 0, batch - 1)
            if not raw:
                return result
            if time.monotonic() > deadline:
                result.more = True
                return result
            hits = []
            for item in raw:
                try:
                    hits.append(Hit.loads(item))
                except (ValueError, TypeError):
                    log.warning("dropping a malformed tracking hit: %r", item[:200])
            result.written += _write(session, hits)
            conn.ltrim(HITS, len(raw), -1)
    finally:
        conn.register_script(_RELEASE)(keys=[FLUSH_LOCK], args=[token])
