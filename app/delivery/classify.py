"""Turn one SMTP reply into an outcome, keyed on RFC 3463 enhanced status codes.

Every reply goes through ``classify``. The enhanced code decides when present; the basic code
only when it is absent. Address failures bounce (and suppress), policy and reputation blocks
fail without suppressing, and anything transient defers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.models.enums import Outcome

_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")

# (class, subject, detail) prefixes, most specific first. None matches anything.
_RULES: list[tuple[tuple[str, str | None, str | None], Outcome, bool]] = [
    # Mailbox full is transient in practice even when reported as permanent.
    (("5", "2", "2"), Outcome.DEFERRED, False),
    (("5", "1", "1"), Outcome.BOUNCED, True),  # bad destination mailbox
    (("5", "1", "2"), Outcome.BOUNCED, True),  # bad destination system
    (("5", "1", "3"), Outcome.BOUNCED, True),  # bad destination mailbox syntax
    (("5", "1", "10"), Outcome.BOUNCED, True),  # null MX
    (("5", "2", "1"), Outcome.BOUNCED, True),  # mailbox disabled
    (("5", "7", None), Outcome.FAILED, False),  # policy / reputation: never the address's fault
    (("5", None, None), Outcome.FAILED, False),
    (("4", None, None), Outcome.DEFERRED, False),
    (("2", None, None), Outcome.DELIVERED, False),
]


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    enhanced_code: str | None
    suppress: bool


def enhanced_code(text: str) -> str | None:
    """The RFC 3463 code at the start of a reply text, like ``5.1.1``, or None."""
    match = _ENHANCED.match(text or "")
    return ".".join(match.groups()) if match else None


def classify(code: int | None, text: str) -> Verdict:
    """Classify a reply; ``code`` None means no reply at all (timeout, dropped connection)."""
    enhanced = enhanced_code(text)
    if code is None:
        return Verdict(Outcome.DEFERRED, enhanced, False)
    parts = enhanced.split(".") if enhanced and enhanced[0] == str(code)[0] else None
    if parts is None:
        parts = [str(code)[0], None, None]
    for (klass, subject, detail), outcome, suppress in _RULES:
        if klass == parts[0] and subject in (None, parts[1]) and detail in (None, parts[2]):
            return Verdict(outcome, enhanced, suppress)
    # 1xx/3xx where a final reply was due: treat as a protocol error worth retrying.
    return Verdict(Outcome.DEFERRED, enhanced, False)
