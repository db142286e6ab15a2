"""VERP end to end: the envelope sender names the row, and a DSN sent back to it finds the row."""

from __future__ import annotations

import smtplib
from pathlib import Path

import sqlalchemy as sa

from app import inbound
from app.delivery import verp
from app.extensions import db
from app.models import EmailStatus, SentEmail
from app.services import campaigns
from tests.factories import add_subscribers, make_campaign, make_list
from tests.smtp_server import free_port

CORPUS = Path(__file__).parent / "corpus"


def test_late_bounce_to_the_verp_address(app, make_user, run_jobs, smtp_server):
    app.config["BOUNCE_DOMAIN"] = "bounces.example.com"
    try:
        user = make_user()
        mailing_list = make_list(user.account_id)
        add_subscribers(user.account_id, mailing_list.id, 2)
        campaign = make_campaign(user.account_id, mailing_list.id)
        campaigns.send(user.account_id, campaign.id)
        run_jobs()
    finally:
        app.config["BOUNCE_DOMAIN"] = None
    row = db.session.scalar(sa.select(SentEmail).where(SentEmail.recipient == "user0@example.com"))
    received = smtp_server.to("user0@example.com")[0]
    assert received.mail_from == verp.return_path(app.config["SECRET_KEY"], row.id, "bounces.example.com")
    assert row.status == EmailStatus.DELIVERED

    # The remote MTA later bounces it to the return path; the DSN names another Message-ID,
    # so only the VERP address can lead to the row.
    dsn = (CORPUS / "postfix_hard_bounce.eml").read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    port = free_port()
    listener = inbound.start(app, f"127.0.0.1:{port}")
    try:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.sendmail("MAILER-DAEMON@mx.example.net", [received.mail_from], dsn)
    finally:
        listener.stop()
    db.session.expire_all()
    row = db.session.get(SentEmail, row.id)
    assert row.status == EmailStatus.BOUNCED
    assert [e.type for e in row.events][-1] == "bounced"


def test_server_asked_wait_is_honoured(app, make_user, run_jobs, smtp_server):
    user = make_user()
    mailing_list = make_list(user.account_id)
    add_subscribers(user.account_id, mailing_list.id, 1)
    smtp_server.handler.replies["user0@example.com"] = "450 4.2.0 Mailbox busy, try again in 3600 seconds"
    campaign = make_campaign(user.account_id, mailing_list.id)
    campaigns.send(user.account_id, campaign.id)
    run_jobs()
    row = db.session.scalar(sa.select(SentEmail))
    assert row.status == EmailStatus.DEFERRED
    wait = (row.next_attempt_at - row.attempts[0].started_at).total_seconds()
    assert 3600 <= wait < 3700  # longer than the schedule's first 300 s
