"""``python worker.py`` as a real process delivers a campaign the web side queued."""

from __future__ import annotations

import os
import subprocess
import sys

from app.config import PROJECT_ROOT
from app.extensions import db
from app.services import campaigns
from tests.delivery.fleet import redis_url
from tests.factories import add_subscribers, make_campaign, make_list


def test_worker_process_delivers_a_campaign(app, make_user, smtp_server):
    user = make_user()
    mailing_list = make_list(user.account_id)
    add_subscribers(user.account_id, mailing_list.id, 5)
    campaign = make_campaign(user.account_id, mailing_list.id)
    campaigns.send(user.account_id, campaign.id)

    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": redis_url(app),
        "SMTP_URL": smtp_server.url,
        "RQ_QUEUE": app.config["RQ_QUEUE"],
        "BASE_URL": app.config["BASE_URL"],
        "SECRET_KEY": app.config["SECRET_KEY"],
    }
    result = subprocess.run(
        [sys.executable, "worker.py", "--burst"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == sorted(f"user{i}@example.com" for i in range(5))
    db.session.refresh(campaign)
    assert campaign.status.value == "finished"
