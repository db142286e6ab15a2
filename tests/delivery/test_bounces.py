"""Asynchronous bounces and complaints: parsed for real, delivered for real over SMTP.

The samples in ``corpus/`` are written as the named MTAs and providers write them. Each refers
to the original message ``ORIGINAL_ID`` sent to ``ORIGINAL_RCPT``; the integration tests swap in
the Message-ID and address of a row they really sent.
"""

from __future__ import annotations

import random
import re
import smtplib
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import inbound
from app.delivery import sender, verp
from app.delivery.bounces import apply_report, parse_report
from app.delivery.settings import EngineSettings
from app.delivery.suppression import is_suppressed
from app.extensions import db
from app.models import CampaignStatus, EmailEvent, EmailStatus, SentEmail, Suppression, SuppressionReason
from app.services import campaigns
from tests.factories import add_subscribers, make_campaign, make_list
from tests.smtp_server import free_port

CORPUS = Path(__file__).parent / "corpus"
ORIGINAL_ID = "<3f2a9c0e4b7d4e8f9a1b2c3d4e5f6a7b@example.com>"
ORIGINAL_RCPT = "user0@example.com"
HARD_BOUNCES = ["postfix_hard_bounce", "exim_hard_bounce", "gmail_hard_bounce", "office365_hard_bounce"]


def sample(name: str) -> bytes:
    return (CORPUS / f"{name}.eml").read_bytes()


def report_for(name: str, row: SentEmail) -> bytes:
    """A corpus sample rewritten to be about ``row``."""
    raw = sample(name).replace(ORIGINAL_ID.encode(), row.message_id.encode())
    return raw.replace(ORIGINAL_RCPT.encode(), row.recipient.encode())


# --- parse_report


@pytest.mark.parametrize(
    "name,kind,source,action,status,diagnostic",
    [
        ("postfix_hard_bounce", "dsn", "rfc3464", "failed", "5.1.1", "User unknown in virtual mailbox table"),
        ("exim_hard_bounce", "dsn", "rfc3464", "failed", "5.0.0", "550 5.1.1 <user0@example.com>"),
        ("gmail_hard_bounce", "dsn", "rfc3464", "failed", "5.1.1", "does not exist"),
        ("office365_hard_bounce", "dsn", "rfc3464", "failed", "5.1.10", "RESOLVER.ADR.RecipientNotFound"),
        ("postfix_delayed", "dsn", "rfc3464", "delayed", "4.4.1", "Connection timed out"),
        ("postfix_policy_failure", "dsn", "rfc3464", "failed", "5.7.1", "zen.spamhaus.org"),
        ("qmail_bounce", "dsn", "flufl.bounce", "failed", None, ""),
    ],
)
def test_parse_dsn(name, kind, source, action, status, diagnostic):
    report = parse_report(sample(name))
    assert (report.kind, report.source, report.error) == (kind, source, None)
    [entry] = report.recipients
    assert (entry.recipient, entry.action, entry.status) == (ORIGINAL_RCPT, action, status)
    assert diagnostic in entry.diagnostic
    assert "\n" not in entry.diagnostic  # folded lines are joined
    if source == "rfc3464":
        assert report.message_id == ORIGINAL_ID


def test_parse_arf_complaint():
    report = parse_report(sample("yahoo_arf_complaint"))
    assert (report.kind, report.source, report.feedback_type) == ("complaint", "rfc5965", "abuse")
    assert report.message_id == ORIGINAL_ID
    assert report.user_agent == "Yahoo!-Mail-Feedback/2.0"
    assert report.recipients == []  # Yahoo leaves out Original-Rcpt-To


def test_parse_arf_with_original_rcpt_to():
    raw = sample("yahoo_arf_complaint").replace(
        b"Original-Mail-From: <news@example.com>\n",
        b"Original-Mail-From: <news@example.com>\nOriginal-Rcpt-To: <someone@aol.com>\n",
    )
    [entry] = parse_report(raw).recipients
    assert (entry.recipient, entry.action) == ("someone@aol.com", "complained")


def test_parse_multi_recipient_dsn():
    raw = sample("postfix_hard_bounce").replace(
        b"\n--4Tq9xY3d1Hz1234.1699984931/mx1.example.net\nContent-Description: Undelivered Message\n",
        b"\nFinal-Recipient: rfc822; other@example.org\nAction: delayed\nStatus: 4.2.2\n"
        b"\n--4Tq9xY3d1Hz1234.1699984931/mx1.example.net\nContent-Description: Undelivered Message\n",
    )
    report = parse_report(raw)
    assert [(e.recipient, e.action, e.status) for e in report.recipients] == [
        (ORIGINAL_RCPT, "failed", "5.1.1"),
        ("other@example.org", "delayed", "4.2.2"),
    ]


def test_parse_global_delivery_status():
    raw = sample("postfix_hard_bounce").replace(b"message/delivery-status", b"message/global-delivery-status")
    report = parse_report(raw)
    assert report.kind == "dsn"
    assert [(e.recipient, e.status) for e in report.recipients] == [(ORIGINAL_RCPT, "5.1.1")]


def test_an_auto_reply_is_not_a_report():
    report = parse_report(sample("vacation_autoreply"))
    assert (report.kind, report.error) == ("unknown", None)


@pytest.mark.parametrize(
    "raw",
    [sample("malformed"), b"", b"   \r\n", b"\x00\xff\xfe" * 100, "not bytes", b"Content-Type: multipart/report"],
    ids=["malformed", "empty", "blank", "binary", "str", "report-without-parts"],
)
def test_unreadable_input_is_reported_not_raised(raw):
    report = parse_report(raw)
    assert report.kind == "unknown" and report.error


def test_no_truncation_or_corruption_of_a_sample_raises():
    rng = random.Random(1234)
    for name in [p.stem for p in CORPUS.glob("*.eml")]:
        raw = sample(name)
        for cut in range(0, len(raw), 97):
            parse_report(raw[:cut])
        for _ in range(30):
            noisy = bytearray(raw)
            for _ in range(20):
                noisy[rng.randrange(len(noisy))] = rng.randrange(256)
            parse_report(bytes(noisy))


def test_a_failing_fallback_detector_is_contained(monkeypatch):
    import flufl.bounce

    def explode(msg):
        raise RuntimeError("detector bug")

    monkeypatch.setattr(flufl.bounce, "all_failures", explode)
    report = parse_report(sample("qmail_bounce"))
    assert report.kind == "unknown"


# --- apply_report, end to end over real SMTP


@pytest.fixture
def listener(app):
    """The inbound listener on a free loopback port; yields a function that delivers to it."""
    port = free_port()
    controller = inbound.start(app, f"127.0.0.1:{port}")

    def deliver(rcpt: str, raw: bytes) -> tuple[int, bytes]:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.ehlo()
            assert smtp.mail("<>")[0] == 250
            assert smtp.rcpt(rcpt)[0] == 250
            reply = smtp.data(re.sub(rb"\r?\n", b"\r\n", raw))  # on the wire, lines end in CRLF
        db.session.expire_all()
        return reply

    deliver.port = port
    yield deliver
    controller.stop()


def send_campaign(make_user, run_jobs, email="owner@example.com", count=1, account=None) -> list[SentEmail]:
    """Send a campaign for real to ``count`` subscribers; return its rows, all delivered."""
    user = make_user(email, account=account)
    mailing_list = make_list(user.account_id)
    add_subscribers(user.account_id, mailing_list.id, count, domain=f"{user.account_id}.example.com")
    campaign = make_campaign(user.account_id, mailing_list.id)
    campaigns.send(user.account_id, campaign.id)
    run_jobs()
    rows = list(db.session.scalars(sa.select(SentEmail).where(SentEmail.campaign_id == campaign.id)))
    assert [r.status for r in rows] == [EmailStatus.DELIVERED] * count
    return rows


def return_path(app, row: SentEmail) -> str:
    return verp.return_path(app.config["SECRET_KEY"], row.id, "example.com")


def events(row: SentEmail) -> list[str]:
    return list(
        db.session.scalars(sa.select(EmailEvent.type).where(EmailEvent.email_id == row.id).order_by(EmailEvent.id))
    )


def suppression(row: SentEmail) -> Suppression | None:
    return db.session.scalar(
        sa.select(Suppression).where(Suppression.account_id == row.account_id, Suppression.email == row.recipient)
    )


@pytest.mark.parametrize("name", HARD_BOUNCES)
def test_late_hard_bounce_turns_delivered_into_bounced(app, make_user, run_jobs, listener, name):
    [row] = send_campaign(make_user, run_jobs)

    code, _ = listener(return_path(app, row), report_for(name, row))

    assert code == 250
    db.session.refresh(row)
    assert row.status == EmailStatus.BOUNCED
    assert events(row)[-1] == "bounced"
    assert "5.1.1" in row.reason or "5.1.10" in row.reason
    assert suppression(row).reason == SuppressionReason.HARD_BOUNCE
    assert campaigns.stats(row.campaign_id)["bounced"] == 1


def test_a_bounce_is_matched_by_message_id_without_verp(app, make_user, run_jobs, listener):
    rows = send_campaign(make_user, run_jobs, count=3)
    target = rows[1]

    code, _ = listener("bounces@example.com", report_for("gmail_hard_bounce", target))

    assert code == 250
    assert [r.status for r in db.session.scalars(sa.select(SentEmail).order_by(SentEmail.id))] == [
        EmailStatus.DELIVERED,
        EmailStatus.BOUNCED,
        EmailStatus.DELIVERED,
    ]
    assert is_suppressed(db.session, target.account_id, target.recipient)


def test_the_same_bounce_twice_changes_things_once(app, make_user, run_jobs, listener):
    [row] = send_campaign(make_user, run_jobs)
    raw = report_for("postfix_hard_bounce", row)

    listener(return_path(app, row), raw)
    listener(return_path(app, row), raw)

    assert events(row).count("bounced") == 1
    assert db.session.scalar(sa.select(sa.func.count(Suppression.id))) == 1


def test_delayed_dsn_changes_nothing_but_adds_an_event(app, make_user, run_jobs, listener):
    [row] = send_campaign(make_user, run_jobs)

    code, _ = listener(return_path(app, row), report_for("postfix_delayed", row))

    assert code == 250
    db.session.refresh(row)
    assert row.status == EmailStatus.DELIVERED
    assert events(row)[-1] == "dsn_delayed"
    assert suppression(row) is None


def test_policy_failure_is_an_event_only(app, make_user, run_jobs, listener):
    [row] = send_campaign(make_user, run_jobs)

    listener(return_path(app, row), report_for("postfix_policy_failure", row))

    db.session.refresh(row)
    assert row.status == EmailStatus.DELIVERED
    assert events(row)[-1] == "dsn_failed_soft"
    detail = db.session.scalar(sa.select(EmailEvent.detail).where(EmailEvent.type == "dsn_failed_soft"))
    assert detail.startswith("reputation:") and "spamhaus" in detail
    assert suppression(row) is None


def test_non_standard_bounce_is_recorded_but_suppresses_nobody(app, make_user, run_jobs, listener):
    # flufl.bounce finds the failed address in a qmail bounce, but no status code: without one
    # we cannot tell a bad address from a policy block, so nobody is suppressed.
    [row] = send_campaign(make_user, run_jobs)

    listener(return_path(app, row), report_for("qmail_bounce", row))

    db.session.refresh(row)
    assert row.status == EmailStatus.DELIVERED
    assert events(row)[-1] == "dsn_failed_soft"
    assert suppression(row) is None


def test_complaint_suppresses_with_reason_complaint(app, make_user, run_jobs, listener):
    [row] = send_campaign(make_user, run_jobs)
    raw = report_for("yahoo_arf_complaint", row)

    assert listener("fbl@example.com", raw)[0] == 250
    assert listener("fbl@example.com", raw)[0] == 250  # FBLs repeat themselves

    db.session.refresh(row)
    assert row.status == EmailStatus.DELIVERED
    assert events(row).count("complained") == 1
    assert suppression(row).reason == SuppressionReason.COMPLAINT


def test_not_spam_feedback_suppresses_nobody(app, make_user, run_jobs, listener):
    [row] = send_campaign(make_user, run_jobs)
    raw = report_for("yahoo_arf_complaint", row).replace(b"Feedback-Type: abuse", b"Feedback-Type: not-spam")

    listener("fbl@example.com", raw)

    assert suppression(row) is None
    assert "complained" not in events(row)


def test_forged_verp_address_changes_nothing(app, make_user, run_jobs, listener):
    [row] = send_campaign(make_user, run_jobs)
    before = events(row)
    forged = verp.return_path("not-the-secret", row.id, "example.com")

    # The report names the right Message-ID too: a forged address is not rescued by it.
    code, _ = listener(forged, report_for("postfix_hard_bounce", row))

    assert code == 250
    db.session.refresh(row)
    assert row.status == EmailStatus.DELIVERED
    assert events(row) == before
    assert suppression(row) is None


def test_another_accounts_message_cannot_be_steered(app, make_user, run_jobs, listener):
    [victim] = send_campaign(make_user, run_jobs, "victim@example.com")
    [own] = send_campaign(make_user, run_jobs, "attacker@example.com")
    assert victim.account_id != own.account_id
    victim_before = events(victim)

    # (a) a VERP address for the victim's e-mail, with a MAC the attacker made up
    listener(verp.return_path("guessed", victim.id, "example.com"), report_for("postfix_hard_bounce", victim))
    # (b) the attacker's own valid return path, carrying the victim's Message-ID and address
    listener(return_path(app, own), report_for("postfix_hard_bounce", victim))
    # (c) a complaint to the attacker's own return path about the victim's message
    listener(return_path(app, own), report_for("yahoo_arf_complaint", victim))

    db.session.refresh(victim)
    assert victim.status == EmailStatus.DELIVERED
    assert events(victim) == victim_before
    assert suppression(victim) is None
    # The valid return path decided: only the attacker's own row was touched.
    db.session.refresh(own)
    assert own.status == EmailStatus.BOUNCED
    assert suppression(own).reason == SuppressionReason.HARD_BOUNCE


@pytest.mark.parametrize(
    "raw",
    [
        sample("malformed"),
        b"\x00\xff\xfe garbage\r\n" * 50,
        b"Subject: hello\r\n\r\nnot a report at all\r\n",
        sample("vacation_autoreply"),
    ],
    ids=["malformed", "binary", "plain", "auto-reply"],
)
def test_unreadable_or_irrelevant_input_is_answered_250_and_changes_nothing(app, make_user, run_jobs, listener, raw):
    [row] = send_campaign(make_user, run_jobs)
    before = events(row)

    code, _ = listener(return_path(app, row), raw)

    assert code == 250
    db.session.refresh(row)
    assert row.status == EmailStatus.DELIVERED
    assert events(row) == before
    assert db.session.scalar(sa.select(sa.func.count(Suppression.id))) == 0


def test_unmatched_report_is_answered_250(app, listener):
    code, _ = listener("bounces@example.com", sample("postfix_hard_bounce"))
    assert code == 250


def test_a_failure_on_our_side_asks_the_sender_to_retry(app, listener, monkeypatch):
    def down(*args):
        raise RuntimeError("database is down")

    monkeypatch.setattr(inbound, "apply_report", down)
    code, _ = listener("bounces@example.com", sample("postfix_hard_bounce"))
    assert code == 451


def test_oversized_messages_and_too_many_recipients_are_refused(app, listener):
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as smtp:
        smtp.ehlo()
        smtp.mail("<>")
        codes = [smtp.rcpt(f"bounces+{i}@example.com")[0] for i in range(inbound.MAX_RECIPIENTS + 1)]
        assert codes[:-1] == [250] * inbound.MAX_RECIPIENTS and codes[-1] == 452
        line = b"x" * 998 + b"\r\n"
        code, _ = smtp.data(b"Subject: big\r\n\r\n" + line * (inbound.MAX_MESSAGE_BYTES // len(line) + 1))
        assert code == 552


# --- apply_report on rows that are not delivered


def test_a_hard_bounce_for_a_deferred_row_suppresses_and_records(app, make_user, run_jobs, smtp_server):
    user = make_user()
    mailing_list = make_list(user.account_id)
    add_subscribers(user.account_id, mailing_list.id, 1)
    smtp_server.handler.replies["user0@example.com"] = "451 4.7.1 try again later"
    campaign = make_campaign(user.account_id, mailing_list.id)
    campaigns.send(user.account_id, campaign.id)
    run_jobs()
    row = db.session.scalar(sa.select(SentEmail))
    assert row.status == EmailStatus.DEFERRED

    actions = apply_report(
        db.session, app.config["SECRET_KEY"], return_path(app, row), report_for("exim_hard_bounce", row)
    )

    db.session.refresh(row)
    assert row.status == EmailStatus.DEFERRED  # the ledger has no deferred -> bounced
    assert events(row)[-1] == "dsn_failed_hard"
    assert is_suppressed(db.session, row.account_id, row.recipient)  # so the retry will not send
    assert any("status unchanged" in a for a in actions)


def test_a_hard_bounce_for_a_row_being_sent_bounces_it(app, make_user):
    user = make_user()
    mailing_list = make_list(user.account_id)
    add_subscribers(user.account_id, mailing_list.id, 1)
    campaign = make_campaign(user.account_id, mailing_list.id)
    campaign.status = CampaignStatus.SENDING
    db.session.commit()
    campaigns.fan_out(campaign.id)
    sender.claim(db.session, EngineSettings.from_config(app.config), campaign_id=campaign.id)
    row = db.session.scalar(sa.select(SentEmail))
    assert row.status == EmailStatus.SENDING

    apply_report(db.session, app.config["SECRET_KEY"], return_path(app, row), report_for("office365_hard_bounce", row))

    db.session.refresh(row)
    assert (row.status, row.lease_token) == (EmailStatus.BOUNCED, None)


def test_apply_report_says_what_it_did(app, make_user, run_jobs):
    [row] = send_campaign(make_user, run_jobs)
    secret = app.config["SECRET_KEY"]

    assert apply_report(db.session, secret, "x@example.com", sample("malformed")) == ["unparseable report"]
    [line] = apply_report(db.session, secret, "bounces+1-aaaaaaaaaa@example.com", report_for("gmail_hard_bounce", row))
    assert "forged" in line
    lines = apply_report(db.session, secret, return_path(app, row), report_for("gmail_hard_bounce", row))
    assert lines == [
        f"e-mail {row.id} (matched by VERP address, rfc3464): delivered -> bounced (bad_mailbox, 5.1.1)",
        f"e-mail {row.id} (matched by VERP address, rfc3464): suppressed {row.recipient} (hard_bounce)",
    ]
