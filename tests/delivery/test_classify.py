"""Replies are classified by RFC 3463 enhanced code, not by their first digit alone."""

from __future__ import annotations

import pytest

from app.delivery.classify import classify
from app.models import Outcome

CASES = [
    (250, "2.0.0 OK queued as 12345", Outcome.DELIVERED, False),
    (550, "5.1.1 <x@example.com>: Recipient address rejected: User unknown", Outcome.BOUNCED, True),
    (550, "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", Outcome.BOUNCED, True),
    (553, "5.1.3 Invalid address syntax", Outcome.BOUNCED, True),
    (550, "5.2.1 The email account that you tried to reach is disabled", Outcome.BOUNCED, True),
    (552, "5.2.2 The email account that you tried to reach is over quota", Outcome.DEFERRED, False),
    (550, "5.7.1 Service unavailable; client host blocked using Spamhaus", Outcome.FAILED, False),
    (554, "5.7.26 Unauthenticated email is not accepted from this domain (DMARC)", Outcome.FAILED, False),
    (421, "4.7.0 Try again later, closing connection", Outcome.DEFERRED, False),
    (451, "4.7.1 Greylisted, please try again in 300 seconds", Outcome.DEFERRED, False),
    (550, "Requested action not taken: mailbox unavailable", Outcome.FAILED, False),
    (None, "connection lost before the server replied", Outcome.DEFERRED, False),
]


@pytest.mark.parametrize("code,text,outcome,suppress", CASES)
def test_classify(code, text, outcome, suppress):
    verdict = classify(code, text)
    assert (verdict.outcome, verdict.suppress) == (outcome, suppress)


def test_enhanced_code_is_extracted():
    assert classify(550, "5.1.1 user unknown").enhanced_code == "5.1.1"
    assert classify(250, "OK").enhanced_code is None


def test_qmail_trailing_code_is_extracted():
    assert classify(511, "sorry, no mailbox here by that name (#5.1.1)").enhanced_code == "5.1.1"


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("4.7.1 Greylisted, please try again in 300 seconds", 300),
        ("4.7.1 Please retry in 5 minutes", 300),
        ("4.3.2 Too many connections, try again after 2 min", 120),
        ("4.7.0 Rate limited; retry after 60s", 60),
        ("4.7.1 Greylisted for 90 seconds", 90),
        ("4.7.1 Try again in 1 hour", 3600),
        ("4.7.1 Greylisting in action, please come back in 00:05:00", 300),
        ("4.7.0 Try again later, closing connection.", None),
        ("4.7.28 ... has been temporarily rate limited. For more information, go to", None),
    ],
)
def test_retry_after_is_read_from_the_text(text, seconds):
    assert classify(451, text).retry_after == seconds


def test_a_delivered_reply_has_no_retry_after():
    assert classify(250, "2.0.0 OK, try again in 5 minutes if you like").retry_after is None


@pytest.mark.parametrize(
    "code,text,reason,breaker",
    [
        (250, "2.0.0 OK", "delivered", False),
        (550, "5.1.1 user unknown", "bad_mailbox", False),
        (552, "5.2.2 mailbox full", "mailbox_full", False),
        (550, "5.7.1 blocked using zen.spamhaus.org", "reputation", True),
        (554, "5.7.26 DMARC", "dmarc", True),
        (421, "4.7.28 unusual rate of unsolicited mail", "rate_limited", True),
        (451, "4.7.650 temporarily rate limited due to IP reputation", "rate_limited", True),
        (450, "4.2.0 Greylisted, see http://postgrey.schweikert.ch/", "greylisted", False),
        (421, "4.7.1 greylisted", "greylisted", False),
        (451, "4.3.0 local error", "temporary", False),
        (421, "Service not available", "temporary", True),
        (None, "timed out", "timeout", True),
    ],
)
def test_reason_and_breaker(code, text, reason, breaker):
    verdict = classify(code, text)
    assert (verdict.reason, verdict.counts_for_breaker) == (reason, breaker)


def test_phrases_change_the_outcome_only_where_the_code_is_unspecific():
    # No enhanced code, or a catch-all X.Y.0: the text may tell a bounce or a full mailbox.
    assert classify(550, "No such user here").outcome == Outcome.BOUNCED
    assert classify(550, "5.0.0 <x@example.com>: User unknown").outcome == Outcome.BOUNCED
    assert classify(552, "Mailbox full").outcome == Outcome.DEFERRED
    # A policy block never turns into a bounce, whatever it says.
    assert classify(550, "5.7.0 user unknown").outcome == Outcome.FAILED
    # A specific code keeps its meaning.
    assert classify(550, "5.1.6 user unknown, mailbox has moved").outcome == Outcome.FAILED
    # Ambiguous texts fail without suppressing.
    assert classify(550, "Requested action not taken: mailbox unavailable").suppress is False
    # The reply is about our sender address, not the recipient.
    assert classify(550, "Sender address rejected: User unknown").suppress is False
