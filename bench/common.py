"""Shared set-up for the benches: a throwaway instance, the sink process, an app, bulk data."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """The counting SMTP sink in its own process, so it does not share our GIL."""

    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "sink.py"), str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout.readline().strip() == "ready"

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?security=none"

    def _ask(self, word: str) -> str:
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def count(self) -> int:
        return int(self._ask("COUNT"))

    def reset(self) -> None:
        self._ask("RESET")

    def stop(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def make_instance() -> str:
    """A fresh instance folder; DATABASE_URL defaults to SQLite inside it (BENCH_DATABASE_URL overrides)."""
    instance = tempfile.mkdtemp(prefix="postroom-bench-")
    os.environ["POSTROOM_INSTANCE"] = instance
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{instance}/bench.db"
    if os.environ.get("BENCH_REDIS_URL"):
        os.environ["REDIS_URL"] = os.environ["BENCH_REDIS_URL"]
    return instance


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(func) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def bench_list(subscribers: int):
    """Push an app context on a fresh schema; return (app, user, mailing list of ``subscribers``)."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.services import accounts, lists
    from tests.factories import bulk_subscribers

    app = create_app()
    app.app_context().push()
    if db.engine.dialect.name == "postgresql":  # a re-run starts from an empty database too
        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade()
    user = accounts.create_user("bench@example.com", "bench password 1")
    mailing_list = lists.create(user.account_id, "Bench")
    bulk_subscribers(user.account_id, mailing_list.id, subscribers)
    return app, user, mailing_list
