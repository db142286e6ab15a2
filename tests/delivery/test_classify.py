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
