"""Turn one SMTP reply into an outcome, keyed on RFC 3463 enhanced status codes.

Every reply goes through ``classify``, and so does every asynchronous DSN (``bounces.py``), so one
table decides. The enhanced code decides when present; the basic code only when it is absent.
Address failures bounce (and suppress), policy and reputation blocks fail without suppressing,
and anything transient defers. A small table of well-known phrases may name the reason more
precisely; it may change the outcome only when the code says nothing specific (no enhanced
code, or a catch-all ``X.Y.0``), and never for a 5.7.x policy block.

A ``Verdict`` also says why (``reason``, a short machine word), how long the server asked us to
wait (``retry_after``, seconds, or None), and whether the reply says something about the
receiving domain's health that the circuit breaker should count (``counts_for_breaker``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.models.enums import Outcome

_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
# qmail and vpopmail put the code at the end: "511 sorry, no mailbox here by that name (#5.1.1)".
_QMAIL_ENHANCED = re.compile(r"\(#([245])\.(\d{1,3})\.(\d{1,3})\)")

# Phrases, lower-case, in order of precedence: the first group with a match names the reason.
# Sender-side complaints come before "no such user", because Exim's sender callout answers
# "Verification failed for <our-sender> / No Such User Here / Sender verify failed", and that
# is our problem, not the recipient's.
_PHRASES: list[tuple[str, tuple[str, ...]]] = [
    ("dmarc", ("dmarc", "unauthenticated", "spf", "dkim")),
    (
        "policy",
        (
            "sender verify",
            "sender verification",
            "verification failed for",
            "sender address rejected",
            "relaying denied",
            "relay access denied",
            "administrative prohibition",
        ),
    ),
    ("greylisted", ("greylist", "graylist", "grey-list", "gray-list", "grey list", "gray list")),
    (
        "rate_limited",
        (
            "rate limit",
            "rate-limit",
            "ratelimit",
            "too many",
            "too much mail",
            "unusual rate",
            "receiving mail at a rate",
            "unexpected volume",
            "temporarily deferred",
            "server busy",
            "throttl",
            "sending quota",
            "sending limit",
            "slow down",
        ),
    ),
    (
        "mailbox_full",
        (
            "mailbox full",
            "mailbox is full",
            "over quota",
            "quota exceeded",
            "mailbox quota",
            "exceeded storage allocation",
            "out of storage",
        ),
    ),
    (
        "bad_mailbox",
        (
            "user unknown",
            "unknown user",
            "no such user",
            "unknown recipient",
            "recipient unknown",
            "no such recipient",
            "no such mailbox",
            "mailbox not found",
            "no mailbox here",
            "recipient not found",
            "invalid recipient",
            "does not exist",
            "doesn't exist",
            "user doesn't have",
        ),
    ),
    (
        "reputation",
        (
            "reputation",
            "spamhaus",
            "spamcop",
            "barracuda",
            "sorbs",
            "dnsbl",
            "rbl",
            "blocklist",
            "block list",
            "blacklist",
            "black list",
            "blocked using",
            "listed",
            "banned",
            "from this ip",
        ),
    ),
    ("spam", ("spam", "unsolicited", "junk", "content rejected", "content filter", "bulk mail")),
    ("routing", ("unrouteable", "unroutable", "no route")),
    ("policy", ("policy", "prohibit", "denied", "blocked", "not allowed", "not permitted")),
]

# Which reasons the phrases may pick for a rule.
_PERMANENT_REFINE = frozenset(
    {"dmarc", "policy", "rate_limited", "mailbox_full", "bad_mailbox", "reputation", "spam", "routing"}
)
_POLICY_REFINE = frozenset({"dmarc", "policy", "rate_limited", "reputation", "spam"})
_TRANSIENT_REFINE = frozenset({"dmarc", "policy", "greylisted", "rate_limited", "mailbox_full", "reputation", "spam"})
_NONE: frozenset[str] = frozenset()

# A phrase may change a 5xx outcome only where the code is unspecific.
_OUTCOME_BY_PHRASE = {
    "bad_mailbox": (Outcome.BOUNCED, True),
    "mailbox_full": (Outcome.DEFERRED, False),
}


@dataclass(frozen=True)
class _Rule:
    code: str  # an enhanced-code prefix: "5.1.1", "5.7", "4"
    outcome: Outcome
    suppress: bool
    reason: str
    refine: frozenset[str] = _NONE


# Most specific first; the first rule whose prefix matches the reply's code decides.
_RULES: list[_Rule] = [
    _Rule("2", Outcome.DELIVERED, False, "delivered"),
    # Mailbox full is transient in practice even when reported as permanent.
    _Rule("5.2.2", Outcome.DEFERRED, False, "mailbox_full"),
    _Rule("4.2.2", Outcome.DEFERRED, False, "mailbox_full"),
    _Rule("5.1.1", Outcome.BOUNCED, True, "bad_mailbox"),
    _Rule("5.1.2", Outcome.BOUNCED, True, "bad_domain"),
    _Rule("5.1.3", Outcome.BOUNCED, True, "bad_syntax"),
    _Rule("5.1.10", Outcome.BOUNCED, True, "null_mx"),
    _Rule("5.2.1", Outcome.BOUNCED, True, "mailbox_disabled"),
    # Policy and reputation: never the address's fault, so never suppressed.
    _Rule("5.7.26", Outcome.FAILED, False, "dmarc"),
    _Rule("5.7.28", Outcome.FAILED, False, "reputation"),
    _Rule("5.7", Outcome.FAILED, False, "policy", _POLICY_REFINE),
    _Rule("5.2.3", Outcome.FAILED, False, "too_large"),
    _Rule("5.3.4", Outcome.FAILED, False, "too_large"),
    # Routing and DNS: may be our own resolver's fault, so it fails without suppressing.
    _Rule("5.4", Outcome.FAILED, False, "routing"),
    _Rule("5.5", Outcome.FAILED, False, "protocol"),
    _Rule("5", Outcome.FAILED, False, "unknown", _PERMANENT_REFINE),
    _Rule("4.7.28", Outcome.DEFERRED, False, "rate_limited"),
    _Rule("4.4", Outcome.DEFERRED, False, "timeout"),
    _Rule("4.7", Outcome.DEFERRED, False, "policy", _TRANSIENT_REFINE),
    _Rule("4", Outcome.DEFERRED, False, "temporary", _TRANSIENT_REFINE),
]

# Reasons that speak about the receiving side's view of us, not about one recipient.
_BREAKER_REASONS = frozenset({"policy", "reputation", "spam", "dmarc", "rate_limited", "timeout"})

_UNITS = {"s": 1, "m": 60, "h": 3600}
_RETRY_AFTER = re.compile(
    r"\b(?:try|retry|come back|wait|greylisted|deferred)\b[^.;\n]{0,30}?\b(?:in|after|for)\s+"
    r"(\d{1,7})\s*(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h)\b",
    re.IGNORECASE,
)
_RETRY_CLOCK = re.compile(
    r"\b(?:try|retry|come back)\b[^.;\n]{0,30}?\bin\s+(\d{1,2}):(\d{2}):(\d{2})\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    enhanced_code: str | None
    suppress: bool
    reason: str = "unknown"
    retry_after: int | None = None
    counts_for_breaker: bool = False


def enhanced_code(text: str) -> str | None:
    """The RFC 3463 code of a reply text, like ``5.1.1``, or None.

    Looked for at the start of the text, then in qmail's trailing ``(#5.1.1)`` form.
    """
    text = text or ""
    match = _ENHANCED.match(text) or _QMAIL_ENHANCED.search(text)
    return ".".join(match.groups()) if match else None


def retry_after(text: str) -> int | None:
    """Seconds the server asked us to wait ("try again in 5 minutes"), or None."""
    text = text or ""
    match = _RETRY_AFTER.search(text)
    if match:
        return int(match.group(1)) * _UNITS[match.group(2)[0].lower()]
    match = _RETRY_CLOCK.search(text)
    if match:
        hours, minutes, seconds = (int(g) for g in match.groups())
        return hours * 3600 + minutes * 60 + seconds
    return None


def classify(code: int | None, text: str) -> Verdict:
    """Classify a reply; ``code`` None means no reply at all (timeout, dropped connection)."""
    text = text or ""
    enhanced = enhanced_code(text)
    if code is None:
        return Verdict(Outcome.DEFERRED, enhanced, False, "timeout", retry_after(text), True)
    klass = str(code)[0]
    # An enhanced code whose class contradicts the basic code is ignored (RFC 3463 section 2).
    parts = enhanced.split(".") if enhanced and enhanced[0] == klass else [klass]
    rule = _rule_for(parts)
    if rule is None:
        # 1xx/3xx where a final reply was due: treat as a protocol error worth retrying.
        return Verdict(Outcome.DEFERRED, enhanced, False, "unknown", retry_after(text), False)
    outcome, suppress, reason = rule.outcome, rule.suppress, rule.reason
    unspecific = len(parts) == 1 or parts[2] == "0"
    for phrase_reason in _phrase_reasons(text, rule.refine):
        if klass == "5" and phrase_reason in _OUTCOME_BY_PHRASE:
            if not unspecific:
                continue  # a specific code keeps its outcome, and a reason that agrees with it
            outcome, suppress = _OUTCOME_BY_PHRASE[phrase_reason]
        reason = phrase_reason
        break
    wait = None if outcome == Outcome.DELIVERED else retry_after(text)
    return Verdict(outcome, enhanced, suppress, reason, wait, _counts_for_breaker(code, parts, reason))


def _rule_for(parts: list[str]) -> _Rule | None:
    for rule in _RULES:
        prefix = rule.code.split(".")
        if parts[: len(prefix)] == prefix:
            return rule
    return None


def _phrase_reasons(text: str, allowed: frozenset[str]):
    """The reasons whose phrases appear in ``text``, in order of precedence, among ``allowed``."""
    if not allowed:
        return
    haystack = " ".join(text.lower().split())
    for reason, phrases in _PHRASES:
        if reason in allowed and any(phrase in haystack for phrase in phrases):
            yield reason


def _counts_for_breaker(code: int, parts: list[str], reason: str) -> bool:
    # Address and mailbox statuses (X.1.X, X.2.X) speak about one recipient, not the domain, and
    # greylisting is per sender/recipient pair: neither says the domain is turning us away.
    if len(parts) > 1 and parts[1] in ("1", "2"):
        return False
    if reason == "greylisted":
        return False
    return reason in _BREAKER_REASONS or code == 421
