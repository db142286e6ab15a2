"""Real-world replies from the big mailbox providers and the common MTAs and filters.

Each reply is written as ``smtplib`` hands it over: the basic code apart, continuation lines
joined with a newline and stripped of their ``550-`` prefix. Addresses and IPs are documentation
values. The table is the contract: a change to the classifier that moves one of these is a
change to who gets suppressed, and must show up here.
"""

from __future__ import annotations

import pytest

from app.delivery.classify import classify
from app.models import Outcome

D, B, F, T = Outcome.DELIVERED, Outcome.BOUNCED, Outcome.FAILED, Outcome.DEFERRED

# (source, code, text, outcome, suppress, reason, counts_for_breaker)
CORPUS = [
    # --- successes
    ("gmail 250", 250, "2.0.0 OK  1700000000 d2si1234567qkb.123 - gsmtp", D, False, "delivered", False),
    (
        "office365 250",
        250,
        "2.6.0 <abc123@example.com> [InternalId=123456789, Hostname=AM0PR01MB1234.eurprd01.prod.outlook.com] "
        "12345 bytes in 0.123, 97.5 KB/sec Queued mail for delivery",
        D,
        False,
        "delivered",
        False,
    ),
    ("postfix 250", 250, "2.0.0 Ok: queued as 4Tq9xY3d1Hz1234", D, False, "delivered", False),
    ("qmail 250", 250, "ok 1700000000 qp 12345", D, False, "delivered", False),
    # --- Gmail
    (
        "gmail no such user",
        550,
        "5.1.1 The email account that you tried to reach does not exist. Please try\n"
        "5.1.1 double-checking the recipient's email address for typos or\n"
        "5.1.1 unnecessary spaces. For more information, go to\n"
        "5.1.1  https://support.google.com/mail/?p=NoSuchUser d2si1234567qkb.123 - gsmtp",
        B,
        True,
        "bad_mailbox",
        False,
    ),
    (
        "gmail disabled",
        550,
        "5.2.1 The email account that you tried to reach is disabled. Learn more at\n"
        "5.2.1  https://support.google.com/mail/?p=DisabledUser d2si1234567qkb.123 - gsmtp",
        B,
        True,
        "mailbox_disabled",
        False,
    ),
    (
        "gmail over quota (temporary)",
        452,
        "4.2.2 The recipient's inbox is out of storage space. Please direct the\n"
        "4.2.2 recipient to\n"
        "4.2.2  https://support.google.com/mail/?p=OverQuotaTemp d2si1234567qkb.123 - gsmtp",
        T,
        False,
        "mailbox_full",
        False,
    ),
    (
        "gmail over quota (permanent)",
        552,
        "5.2.2 The recipient's inbox is out of storage space and inactive. Please direct\n"
        "5.2.2 the recipient to\n"
        "5.2.2  https://support.google.com/mail/?p=OverQuotaPerm d2si1234567qkb.123 - gsmtp",
        T,
        False,
        "mailbox_full",
        False,
    ),
    (
        "gmail per-user receiving rate",
        450,
        "4.2.1 The user you are trying to contact is receiving mail at a rate that\n"
        "4.2.1 prevents additional messages from being delivered. Please resend your\n"
        "4.2.1 message at a later point. d2si1234567qkb.123 - gsmtp",
        T,
        False,
        "rate_limited",
        False,
    ),
    (
        "gmail 421 4.7.28 rate limit",
        421,
        "4.7.28 [203.0.113.5      15] Our system has detected an unusual rate of\n"
        "4.7.28 unsolicited mail originating from your IP address. To protect our\n"
        "4.7.28 users from spam, mail sent from your IP address has been temporarily\n"
        "4.7.28 rate limited. For more information, go to\n"
        "4.7.28  https://support.google.com/mail/?p=UnsolicitedRateLimitError - gsmtp",
        T,
        False,
        "rate_limited",
        True,
    ),
    (
        "gmail 550 5.7.28 blocked",
        550,
        "5.7.28 [203.0.113.5] Our system has detected an unusual rate of unsolicited\n"
        "5.7.28 mail originating from your IP address. To protect our users from\n"
        "5.7.28 spam, mail sent from your IP address has been blocked. - gsmtp",
        F,
        False,
        "reputation",
        True,
    ),
    (
        "gmail dmarc 5.7.26",
        550,
        "5.7.26 Unauthenticated email from example.com is not accepted due to domain's\n"
        "5.7.26 DMARC policy. Please contact the administrator of example.com domain\n"
        "5.7.26 if this was a legitimate mail. - gsmtp",
        F,
        False,
        "dmarc",
        True,
    ),
    (
        "gmail 5.7.26 unauthenticated",
        550,
        "5.7.26 This mail is unauthenticated, which poses a security risk to the\n"
        "5.7.26 sender and Gmail users, and has been blocked. The sender must\n"
        "5.7.26 authenticate with at least one of SPF or DKIM. - gsmtp",
        F,
        False,
        "dmarc",
        True,
    ),
    (
        "gmail 5.7.1 likely spam",
        550,
        "5.7.1 [203.0.113.5] Our system has detected that this message is\n"
        "5.7.1 likely unsolicited mail. To reduce the amount of spam sent to Gmail,\n"
        "5.7.1 this message has been blocked. - gsmtp",
        F,
        False,
        "spam",
        True,
    ),
    (
        "gmail 421 4.7.0 low reputation",
        421,
        "4.7.0 [203.0.113.5] Our system has detected that this message is\n"
        "4.7.0 suspicious due to the very low reputation of the sending IP address.\n"
        "4.7.0 To best protect our users from spam, the message has been blocked. - gsmtp",
        T,
        False,
        "reputation",
        True,
    ),
    (
        "gmail 421 try again later",
        421,
        "4.7.0 Try again later, closing connection. (EHLO) d2si1234567qkb.123 - gsmtp",
        T,
        False,
        "policy",
        True,
    ),
    # --- Outlook / Office 365 / Exchange
    (
        "office365 5.1.10",
        550,
        "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient user@contoso.com not found by SMTP address lookup",
        B,
        True,
        "null_mx",
        False,
    ),
    (
        "exchange 5.1.1",
        550,
        "5.1.1 RESOLVER.ADR.RecipNotFound; not found",
        B,
        True,
        "bad_mailbox",
        False,
    ),
    (
        "office365 4.7.650 reputation throttling",
        451,
        "4.7.650 The mail server [203.0.113.5] has been temporarily rate limited due to IP reputation. "
        "For e-mail delivery information, see https://postmaster.live.com (S775) "
        "[Name=Protocol Filter Agent][AGT=PFA][MxId=11BA8E4C6D0A1B2C] "
        "[BN1NAM02FT012.eop-nam02.prod.protection.outlook.com]",
        T,
        False,
        "rate_limited",
        True,
    ),
    (
        "office365 4.7.500 server busy",
        451,
        "4.7.500 Server busy. Please try again later from [203.0.113.5]. (S77714) "
        "[Name=Protocol Filter Agent][AGT=PFA][MxId=11BA8E4C6D0A1B2C]",
        T,
        False,
        "rate_limited",
        True,
    ),
    (
        "outlook.com S3150 block list",
        550,
        "5.7.1 Unfortunately, messages from [203.0.113.5] weren't sent. Please contact your Internet "
        "service provider since part of their network is on our block list (S3150). You can also refer "
        "your provider to http://mail.live.com/mail/troubleshooting.aspx#errors.",
        F,
        False,
        "reputation",
        True,
    ),
    (
        "office365 5.7.606 banned ip",
        550,
        "5.7.606 Access denied, banned sending IP [203.0.113.5]. To request removal from this list please "
        "visit https://sender.office.com/ and follow the directions.",
        F,
        False,
        "reputation",
        True,
    ),
    (
        "office365 5.7.509 dmarc reject",
        550,
        "5.7.509 Access denied, sending domain example.com does not pass DMARC verification and has a "
        "DMARC policy of reject.",
        F,
        False,
        "dmarc",
        True,
    ),
    (
        "office365 mailbox quota",
        554,
        "5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded",
        T,
        False,
        "mailbox_full",
        False,
    ),
    (
        "office365 5.4.1 directory-based edge blocking",
        550,
        "5.4.1 Recipient address rejected: Access denied. AS(201806281) "
        "[BN1NAM02FT012.eop-nam02.prod.protection.outlook.com]",
        F,
        False,
        "routing",
        False,
    ),
    (
        "office365 5.4.310 nonexistent domain",
        550,
        "5.4.310 DNS domain example.net does not exist [Message=InfoDomainNonexistent] "
        "[LastAttemptedServerName=example.net]",
        F,
        False,
        "routing",
        False,
    ),
    # --- Yahoo / AOL
    (
        "yahoo mailbox not found",
        552,
        "1 Requested mail action aborted, mailbox not found",
        B,
        True,
        "bad_mailbox",
        False,
    ),
    (
        "yahoo legacy dd",
        554,
        "delivery error: dd This user doesn't have a yahoo.com account (someone@yahoo.com) [0] - "
        "mta1234.mail.ne1.yahoo.com",
        B,
        True,
        "bad_mailbox",
        False,
    ),
    (
        "yahoo TSS04",
        421,
        "4.7.0 [TSS04] Messages from 203.0.113.5 temporarily deferred due to unexpected volume or user "
        "complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
        T,
        False,
        "rate_limited",
        True,
    ),
    (
        "yahoo BL21 spamhaus",
        553,
        "5.7.1 [BL21] Connections will not be accepted from 203.0.113.5, because the ip is in Spamhaus's list; "
        "see https://postmaster.yahooinc.com/error-codes",
        F,
        False,
        "reputation",
        True,
    ),
    (
        "yahoo 5.7.9 policy",
        554,
        "5.7.9 Message not accepted for policy reasons.  See https://postmaster.yahooinc.com/error-codes",
        F,
        False,
        "policy",
        True,
    ),
    (
        "yahoo 5.7.9 unauthenticated",
        550,
        "5.7.9 This mail has been blocked because the sender is unauthenticated. Yahoo requires all senders "
        "to authenticate with either SPF or DKIM.",
        F,
        False,
        "dmarc",
        True,
    ),
    ("yahoo [160] deferral", 451, "Message temporarily deferred - [160]", T, False, "rate_limited", True),
    # --- iCloud
    ("icloud no such user", 550, "5.1.1 <someone@icloud.com>: user does not exist", B, True, "bad_mailbox", False),
    (
        "icloud CS01 policy",
        554,
        "5.7.1 [CS01] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137",
        F,
        False,
        "policy",
        True,
    ),
    ("icloud over quota", 552, "5.2.2 <someone@icloud.com>: user is over quota", T, False, "mailbox_full", False),
    # --- Postfix
    (
        "postfix local user unknown",
        550,
        "5.1.1 <someone@example.com>: Recipient address rejected: User unknown in local recipient table",
        B,
        True,
        "bad_mailbox",
        False,
    ),
    (
        "postfix virtual user unknown",
        550,
        "5.1.1 <someone@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
        B,
        True,
        "bad_mailbox",
        False,
    ),
    (
        "postfix null MX",
        556,
        "5.1.10 <someone@nullmx.example>: Recipient address rejected: "
        "Domain nullmx.example does not accept mail (nullMX)",
        B,
        True,
        "null_mx",
        False,
    ),
    ("postfix bad syntax", 501, "5.1.3 Bad recipient address syntax", B, True, "bad_syntax", False),
    (
        "postfix spamhaus",
        554,
        "5.7.1 Service unavailable; Client host [203.0.113.5] blocked using zen.spamhaus.org; "
        "https://www.spamhaus.org/query/ip/203.0.113.5",
        F,
        False,
        "reputation",
        True,
    ),
    (
        "postfix unverified recipient",
        450,
        "4.1.1 <someone@example.com>: Recipient address rejected: unverified address: "
        "host mx.example.com[198.51.100.7] said: 550 5.1.1 User unknown",
        T,
        False,
        "temporary",
        False,
    ),
    (
        "postfix no reverse dns",
        450,
        "4.7.1 Client host rejected: cannot find your hostname, [203.0.113.5]",
        T,
        False,
        "policy",
        True,
    ),
    (
        "postfix too many connections",
        421,
        "4.7.0 mx.example.com Error: too many connections from 203.0.113.5",
        T,
        False,
        "rate_limited",
        True,
    ),
    (
        "postfix sender rejected with user unknown",
        550,
        "5.1.0 <news@example.org>: Sender address rejected: User unknown in relay recipient table",
        F,
        False,
        "policy",
        False,
    ),
    (
        "postfix need fqdn",
        504,
        "5.5.2 <someone>: Recipient address rejected: need fully-qualified address",
        F,
        False,
        "protocol",
        False,
    ),
    # --- Exim
    ("exim unrouteable", 550, "Unrouteable address", F, False, "routing", False),
    (
        "exim sender callout",
        550,
        "Verification failed for <news@example.org>\nNo Such User Here\nSender verify failed",
        F,
        False,
        "policy",
        True,
    ),
    ("exim quota", 550, "Mailbox quota exceeded", T, False, "mailbox_full", False),
    ("exim spam", 550, "rejected: message looks like spam", F, False, "spam", True),
    ("exim temporary", 451, "Temporary local problem - please try later", T, False, "temporary", False),
    ("exim administrative prohibition", 550, "Administrative prohibition", F, False, "policy", True),
    # --- Sendmail
    ("sendmail user unknown", 550, "5.1.1 <someone@example.com>... User unknown", B, True, "bad_mailbox", False),
    (
        "sendmail host unknown",
        550,
        "5.1.2 <someone@nohost.example>... Host unknown (Name server: nohost.example: host not found)",
        B,
        True,
        "bad_domain",
        False,
    ),
    ("sendmail relaying denied", 550, "5.7.1 <someone@example.com>... Relaying denied", F, False, "policy", True),
    ("sendmail rate", 421, "4.3.2 Connection rate limit exceeded.", T, False, "rate_limited", True),
    ("sendmail read error", 451, "4.4.1 reply: read error from mx.example.com.", T, False, "timeout", True),
    # --- qmail / vpopmail
    ("qmail no mailbox", 511, "sorry, no mailbox here by that name (#5.1.1)", B, True, "bad_mailbox", False),
    (
        "qmail rcpthosts",
        553,
        "sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)",
        F,
        False,
        "policy",
        True,
    ),
    ("qmail temporary", 451, "qq temporary problem (#4.3.0)", T, False, "temporary", False),
    (
        "qmail databytes",
        552,
        "sorry, that message size exceeds my databytes limit (#5.3.4)",
        F,
        False,
        "too_large",
        False,
    ),
    # --- Zoho
    ("zoho no such user", 550, "5.1.1 User does not exist - <someone@zohomail.com>", B, True, "bad_mailbox", False),
    ("zoho dmarc", 554, "5.7.1 Email rejected per DMARC policy for example.com", F, False, "dmarc", True),
    ("zoho policy", 554, "5.7.7 Email policy violation detected", F, False, "policy", True),
    # --- GMX / web.de (1&1)
    ("gmx mailbox unavailable", 550, "Requested action not taken: mailbox unavailable", F, False, "unknown", False),
    (
        "gmx policy restrictions",
        554,
        "Transaction failed\nReject due to policy restrictions.\n"
        "For explanation visit https://postmaster.gmx.net/en/case?c=r0102&i=ip&v=203.0.113.5&r=1ABCDE",
        F,
        False,
        "policy",
        True,
    ),
    (
        "gmx 421 nemesis",
        421,
        "gmx.net (mxgmx117) Nemesis ESMTP Service not available\nService unavailable\n"
        "Reject due to policy restrictions.\nFor explanation visit https://postmaster.gmx.net/en/case",
        T,
        False,
        "policy",
        True,
    ),
    (
        "web.de storage",
        552,
        "Requested mail action aborted: exceeded storage allocation",
        T,
        False,
        "mailbox_full",
        False,
    ),
    # --- Mimecast
    (
        "mimecast invalid recipient",
        550,
        "Invalid Recipient - https://community.mimecast.com/docs/DOC-1369#550 [AbCdEfGh.us123]",
        B,
        True,
        "bad_mailbox",
        False,
    ),
    (
        "mimecast anti-spoofing",
        550,
        "Rejected by header based Anti-Spoofing policy: news@example.org - "
        "https://community.mimecast.com/docs/DOC-1369#550 [AbCdEfGh.us123]",
        F,
        False,
        "policy",
        True,
    ),
    (
        "mimecast internal resource",
        451,
        "Internal resource temporarily unavailable - https://community.mimecast.com/docs/DOC-1369#451",
        T,
        False,
        "temporary",
        False,
    ),
    # --- Proofpoint
    (
        "proofpoint blocked",
        554,
        "5.7.1 Blocked - see https://ipcheck.proofpoint.com/?ip=203.0.113.5",
        F,
        False,
        "policy",
        True,
    ),
    (
        "proofpoint dnsbl",
        550,
        "5.7.0 Blocked - see https://support.proofpoint.com/dnsbl-lookup.cgi?ip=203.0.113.5",
        F,
        False,
        "reputation",
        True,
    ),
    # --- Barracuda and other block lists
    (
        "barracuda reputation",
        554,
        "Service unavailable; Client host [203.0.113.5] blocked using Barracuda Reputation; "
        "http://www.barracudanetworks.com/reputation/?r=1&ip=203.0.113.5",
        F,
        False,
        "reputation",
        True,
    ),
    ("spamcop listed", 550, "5.7.1 Rejected: 203.0.113.5 listed at bl.spamcop.net", F, False, "reputation", True),
    # --- greylisting
    (
        "postgrey",
        450,
        "4.2.0 <someone@example.com>: Recipient address rejected: Greylisted, "
        "see http://postgrey.schweikert.ch/help/example.com.html",
        T,
        False,
        "greylisted",
        False,
    ),
    ("greylist with delay", 451, "4.7.1 Greylisted, please try again in 300 seconds", T, False, "greylisted", False),
    (
        "greylisting in action",
        451,
        "4.7.1 Greylisting in action, please come back later",
        T,
        False,
        "greylisted",
        False,
    ),
    # --- enhanced code decides over the text
    (
        "5.7.1 recipient access denied",
        550,
        "5.7.1 <someone@example.com>: Recipient address rejected: Access denied",
        F,
        False,
        "policy",
        True,
    ),
    ("mismatched class ignored", 550, "4.1.1 user unknown", B, True, "bad_mailbox", False),
    ("too large", 552, "5.3.4 Message size exceeds fixed limit", F, False, "too_large", False),
    # --- no reply at all
    (
        "connection lost",
        None,
        "connection lost before the message was sent: Connection unexpectedly closed",
        T,
        False,
        "timeout",
        True,
    ),
    (
        "no reply after data",
        None,
        "no reply after the end of DATA; outcome unknown: timed out",
        T,
        False,
        "timeout",
        True,
    ),
    ("421 on connect", 421, "Service not available, closing transmission channel", T, False, "temporary", True),
]


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 60
    assert len({case[0] for case in CORPUS}) == len(CORPUS), "sources must be unique test ids"


@pytest.mark.parametrize(
    "code,text,outcome,suppress,reason,breaker",
    [case[1:] for case in CORPUS],
    ids=[case[0] for case in CORPUS],
)
def test_real_world_reply(code, text, outcome, suppress, reason, breaker):
    verdict = classify(code, text)
    assert (verdict.outcome, verdict.suppress, verdict.reason, verdict.counts_for_breaker) == (
        outcome,
        suppress,
        reason,
        breaker,
    )


@pytest.mark.parametrize("case", CORPUS, ids=[case[0] for case in CORPUS])
def test_only_address_failures_suppress(case):
    """DELIVERY.md: nobody is suppressed for a sender-side problem."""
    verdict = classify(case[1], case[2])
    assert verdict.suppress == (verdict.outcome == Outcome.BOUNCED)
    if verdict.suppress:
        assert verdict.reason in {"bad_mailbox", "bad_domain", "bad_syntax", "null_mx", "mailbox_disabled"}
