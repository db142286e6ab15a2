"""Asynchronous bounces (RFC 3464 DSNs) and complaints (RFC 5965 ARF) sent to our return path.

``parse_report`` reads one raw message with the stdlib ``email`` package: the per-recipient
``Action``/``Status``/``Diagnostic-Code`` fields of a ``message/delivery-status`` part, the
``Feedback-Type`` of a ``message/feedback-report`` part, and the original ``Message-ID`` from the
returned message or its headers. A message that is neither falls back to ``flufl.bounce``, which
knows the non-standard formats (qmail, old Exchange, ...) and returns only the addresses that
failed. It never raises: input it cannot read comes back with ``error`` set.

``apply_report`` finds the ``sent_emails`` row the report is about, by the VERP address it was
sent to or else by the original Message-ID, and records what the report says in one transaction,
which it commits:

- a DSN ``failed`` whose status ``classify`` calls a bounce: ``delivered``/``sending`` ->
  ``bounced`` through the ledger, and the address suppressed (``hard_bounce``);
- any other ``failed``: a ``dsn_failed_soft`` event only (policy blocks, full mailboxes and
  expired retries say nothing bad about the address);
- ``delayed``: a ``dsn_delayed`` event only;
- a complaint (``abuse``, ``fraud``, ``virus``): the address suppressed (``complaint``) and a
  ``complained`` event; the status does not change.

A VERP-shaped address whose MAC does not verify is treated as a forgery: nothing changes, and
there is no fallback to the Message-ID. Reports it cannot match change nothing either. Database
errors propagate, so the listener can answer 4xx and the sending MTA retries.
"""

from __future__ import annotations

import email
import logging
from dataclasses import dataclass, field
from email.header import Header
from email.message import Message
from email.parser import HeaderParser

import flufl.bounce
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.delivery import verp
from app.delivery.classify import classify, enhanced_code
from app.delivery.ledger import transition
from app.delivery.suppression import suppress
from app.models import EmailEvent, EmailStatus, Outcome, SentEmail, SuppressionReason
from app.models.base import utcnow
from app.webhooks import outbox

log = logging.getLogger(__name__)

# Feedback types that mean "this recipient does not want this mail". Others (not-spam,
# auth-failure, other) are recorded as reports but suppress nobody.
COMPLAINT_TYPES = frozenset({"abuse", "fraud", "virus"})

_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
_FEEDBACK_TYPES = ("message/feedback-report",)
_ORIGINAL_TYPES = (
    "message/rfc822",
    "message/global",
    "text/rfc822-headers",
    "message/rfc822-headers",
    "message/global-headers",
)
_BASIC_CODE = {"2": 250, "4": 450, "5": 550}


@dataclass(frozen=True)
class RecipientReport:
    """What a report says about one recipient."""

    recipient: str  # Final-Recipient (or Original-Rcpt-To in a complaint); "" when not given
    action: str  # failed | delayed | delivered | relayed | expanded | complained
    status: str | None = None  # RFC 3463 code from the Status field, e.g. "5.1.1"
    diagnostic: str = ""  # Diagnostic-Code without its type, unfolded
    original_recipient: str = ""


@dataclass
class Report:
    kind: str  # "dsn" | "complaint" | "unknown"
    recipients: list[RecipientReport] = field(default_factory=list)
    message_id: str | None = None  # of the original message, with its angle brackets
    feedback_type: str | None = None
    source: str = ""  # "rfc3464" | "rfc5965" | "flufl.bounce"
    user_agent: str = ""
    error: str | None = None  # why the message could not be read as a report


def parse_report(raw: bytes) -> Report:
    """Read one inbound message as a DSN, a complaint, or neither; never raises."""
    try:
        return _parse(raw)
    except Exception as exc:  # input from anyone on the internet: no parser bug may escape
        log.warning("unreadable report: %s: %s", type(exc).__name__, exc)
        return Report("unknown", error=f"{type(exc).__name__}: {exc}")


def _parse(raw: bytes) -> Report:
    if not isinstance(raw, bytes | bytearray):
        return Report("unknown", error=f"expected bytes, got {type(raw).__name__}")
    if not raw.strip():
        return Report("unknown", error="empty message")
    # compat32 (the default) is what flufl.bounce expects, and it tolerates broken headers.
    msg = email.message_from_bytes(bytes(raw))
    if not msg.keys():
        return Report("unknown", error="no header fields")
    parts = list(_parts(msg))
    original = next((p for p in parts if p.get_content_type() in _ORIGINAL_TYPES), None)
    message_id = _original_message_id(original)
    feedback = next((p for p in parts if p.get_content_type() in _FEEDBACK_TYPES), None)
    if feedback is not None:
        return _complaint(feedback, message_id)
    status = next((p for p in parts if p.get_content_type() in _STATUS_TYPES), None)
    if status is not None:
        return _dsn(status, message_id)
    if msg.get_content_type() == "multipart/report":
        report_type = msg.get_param("report-type") or "none"
        return Report("unknown", error=f"multipart/report (report-type {report_type}) without its report part")
    return _heuristic(msg, message_id)


def _parts(msg: Message):
    """Every part of ``msg``, without descending into attached messages (a bounce of a bounce)."""
    yield msg
    if msg.is_multipart() and msg.get_content_maintype() == "multipart":
        for part in msg.get_payload():
            if isinstance(part, Message):
                yield from _parts(part)


def _dsn(part: Message, message_id: str | None) -> Report:
    blocks = _blocks(part)
    recipients = [_recipient(b) for b in blocks if b.get("Final-Recipient") or b.get("Action")]
    if not recipients:
        return Report("unknown", error="delivery report without per-recipient fields")
    if message_id is None:
        # Gmail names the original in the per-message fields.
        message_id = next(
            (_message_id(b.get("X-Original-Message-ID")) for b in blocks if b.get("X-Original-Message-ID")), None
        )
    return Report("dsn", recipients, message_id, source="rfc3464")


def _recipient(block: Message) -> RecipientReport:
    diagnostic = _field(block, "Diagnostic-Code")
    if ";" in diagnostic:
        diagnostic = diagnostic.split(";", 1)[1].strip()  # drop the diagnostic type ("smtp;")
    status = enhanced_code(_field(block, "Status"))
    return RecipientReport(
        recipient=_address(_field(block, "Final-Recipient")),
        action=_field(block, "Action").split(" ")[0].lower(),
        status=status,
        diagnostic=diagnostic,
        original_recipient=_address(_field(block, "Original-Recipient")),
    )


def _complaint(part: Message, message_id: str | None) -> Report:
    blocks = _blocks(part)
    fields = blocks[0] if blocks else Message()
    feedback_type = _field(fields, "Feedback-Type").lower() or None
    if feedback_type is None:
        return Report("unknown", error="feedback report without Feedback-Type")
    recipients = [
        RecipientReport(recipient=_address(_text(value)), action="complained")
        for value in fields.get_all("Original-Rcpt-To") or []
    ]
    if message_id is None and fields.get("Original-Message-ID"):
        message_id = _message_id(fields.get("Original-Message-ID"))
    return Report(
        "complaint",
        recipients,
        message_id,
        feedback_type=feedback_type,
        source="rfc5965",
        user_agent=_field(fields, "User-Agent"),
    )


def _heuristic(msg: Message, message_id: str | None) -> Report:
    try:
        temporary, permanent = flufl.bounce.all_failures(msg)
    except Exception as exc:  # a heuristic detector tripping over odd input is not our failure
        log.warning("flufl.bounce could not scan a message: %s: %s", type(exc).__name__, exc)
        return Report("unknown", message_id=message_id, error=f"flufl.bounce: {type(exc).__name__}: {exc}")
    recipients = [RecipientReport(_decode(a), "failed") for a in sorted(permanent)]
    recipients += [RecipientReport(_decode(a), "delayed") for a in sorted(temporary - permanent)]
    if not recipients:
        return Report("unknown", message_id=message_id)
    return Report("dsn", recipients, message_id, source="flufl.bounce")


def _blocks(part: Message) -> list[Message]:
    """The header blocks of a delivery-status or feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, str):
        # Not split up by the parser (an encoded part, or a type it does not know).
        return _text_blocks((part.get_payload(decode=True) or b"").decode("utf-8", "replace"))
    blocks: list[Message] = []
    for sub in payload or []:
        if not isinstance(sub, Message):
            continue
        blocks.append(sub)
        # message/global-delivery-status is parsed as one message: the first block is its
        # header, the other blocks its body.
        body = sub.get_payload()
        if isinstance(body, str) and body.strip():
            blocks.extend(_text_blocks(body))
    return blocks


def _text_blocks(text: str) -> list[Message]:
    chunks = text.replace("\r\n", "\n").split("\n\n")
    return [b for b in (HeaderParser().parsestr(c.strip("\n") + "\n") for c in chunks if c.strip()) if b.keys()]


def _original_message_id(part: Message | None) -> str | None:
    if part is None:
        return None
    if part.get_content_maintype() == "message" and part.is_multipart():
        inner = part.get_payload(0)
        return _message_id(inner.get("Message-ID")) if isinstance(inner, Message) else None
    text = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
    return _message_id(HeaderParser().parsestr(text, headersonly=True).get("Message-ID"))


def _message_id(value) -> str | None:
    text = " ".join(_text(value).split())
    start = text.find("<")
    end = text.find(">", start + 1)
    if start >= 0 and end > start + 1:
        return text[start : end + 1]
    if text and " " not in text:
        return f"<{text}>"
    return None


def _field(block: Message, name: str) -> str:
    return " ".join(_text(block.get(name)).split())


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Header):
        value = str(value)
    # compat32 keeps undecodable bytes as surrogates; make them harmless.
    return str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _address(value: str) -> str:
    """``rfc822; <User@Example.com>`` -> ``User@Example.com``."""
    if ";" in value:
        value = value.split(";", 1)[1]
    return value.strip().strip("<>").strip()


def _decode(address: bytes) -> str:
    return address.decode("ascii", "replace")


# --- recording a report


def apply_report(session: Session, secret: str, rcpt_to: str, raw: bytes) -> list[str]:
    """Record what one inbound report says; return one line per action taken, for the log."""
    report = parse_report(raw)
    if report.error is not None:
        return ["unparseable report"]
    if report.kind == "unknown":
        return [f"not a bounce or complaint report (to {rcpt_to}); nothing changed"]
    email_row, how = _find(session, secret, rcpt_to or "", report)
    if email_row is None:
        session.commit()
        return [how]
    if report.kind == "complaint":
        actions = _apply_complaint(session, email_row, report)
    else:
        actions = _apply_dsn(session, email_row, report)
    session.commit()
    return [f"e-mail {email_row.id} ({how}, {report.source}): {action}" for action in actions]


def _find(session: Session, secret: str, rcpt_to: str, report: Report) -> tuple[SentEmail | None, str]:
    """The row a report is about, and how it was found (or why none was)."""
    if verp.looks_like(rcpt_to):
        # A VERP-shaped address that does not verify is a forgery (or from before a secret
        # change): trusting the Message-ID inside it instead would let anyone steer it.
        email_id = verp.parse(secret, rcpt_to)
        if email_id is None:
            return None, f"forged or stale VERP address {rcpt_to!r}; nothing changed"
        row = session.get(SentEmail, email_id)
        if row is None:
            return None, f"VERP address for e-mail {email_id}, which does not exist; nothing changed"
        return row, "matched by VERP address"
    if report.message_id:
        row = session.execute(sa.select(SentEmail).where(SentEmail.message_id == report.message_id)).scalar()
        if row is not None:
            return row, "matched by Message-ID"
    return (
        None,
        f"no e-mail matches this report (to {rcpt_to}, Message-ID {report.message_id or 'none'}); nothing changed",
    )


def _entries_for(row: SentEmail, report: Report) -> list[RecipientReport]:
    """The report's entries about this row's recipient; all of them when none names it.

    We send one envelope recipient per message, so an entry that names another address is
    about a forward or alias of it.
    """
    mine = row.recipient.lower()
    named = [e for e in report.recipients if mine in (e.recipient.lower(), e.original_recipient.lower())]
    return named or report.recipients


def _apply_dsn(session: Session, row: SentEmail, report: Report) -> list[str]:
    entries = _entries_for(row, report)
    failed = [e for e in entries if e.action == "failed"]
    delayed = [e for e in entries if e.action == "delayed"]
    if failed:
        return _apply_failure(session, row, failed[0])
    if delayed:
        entry = delayed[0]
        _event(session, row, "dsn_delayed", _describe(entry))
        return [f"delayed ({entry.status or 'no status'}); event only"]
    actions = sorted({e.action or "none" for e in entries})
    return [f"DSN action {', '.join(actions)} needs nothing; nothing changed"]


def _apply_failure(session: Session, row: SentEmail, entry: RecipientReport) -> list[str]:
    status, text = _status_and_text(entry)
    code = _BASIC_CODE.get((status or "5")[0], 550)
    verdict = classify(code, f"{status or ''} {text}".strip())
    detail = _describe(entry)
    if verdict.outcome != Outcome.BOUNCED:
        _event(session, row, "dsn_failed_soft", f"{verdict.reason}: {detail}")
        return [f"failed softly ({verdict.reason}, {status or 'no status'}); event only"]
    before = row.status
    moved = transition(
        session,
        [row.id],
        EmailStatus.BOUNCED,
        "bounced",
        detail=detail,
        values={"reason": detail[:1024], "lease_token": None, "lease_expires_at": None},
        # The remote server's own code when the diagnostic gives it, else the status's class.
        facts={
            "smtp_code": int(entry.diagnostic[:3]) if entry.diagnostic[:3].isdigit() else code,
            "enhanced_code": status,
        },
    )
    actions = []
    if moved:
        actions.append(f"{before.value} -> bounced ({verdict.reason}, {status})")
    elif before == EmailStatus.BOUNCED:
        actions.append("already bounced")
    else:
        # The ledger allows bounced only from sending or delivered; the suppression below keeps
        # a deferred row from being sent again.
        _event(session, row, "dsn_failed_hard", f"{verdict.reason}: {detail}")
        actions.append(f"hard bounce ({verdict.reason}) while {before.value}; status unchanged, event added")
    if verdict.suppress:
        added = suppress(session, row.account_id, row.recipient, SuppressionReason.HARD_BOUNCE, detail)
        actions.append(f"{'suppressed' if added else 'already suppressed'} {row.recipient} (hard_bounce)")
    return actions


def _status_and_text(entry: RecipientReport) -> tuple[str | None, str]:
    """The status to classify by, and the server's text without its basic code.

    Some MTAs (Exim) report a catch-all status like 5.0.0 and put the remote server's specific
    code in the diagnostic; the specific one wins when it agrees in class (and subject).
    """
    text = entry.diagnostic
    if len(text) >= 4 and text[:3].isdigit() and text[3] in " -":
        text = text[4:].lstrip()
    specific = enhanced_code(text)
    status = entry.status
    if specific and (
        status is None
        or (
            status.endswith(".0") and specific[0] == status[0] and status.split(".")[1] in ("0", specific.split(".")[1])
        )
    ):
        status = specific
    if specific and text.startswith(specific):
        text = text[len(specific) :].lstrip()
    return status, text


def _apply_complaint(session: Session, row: SentEmail, report: Report) -> list[str]:
    kind = report.feedback_type or "unknown"
    if kind not in COMPLAINT_TYPES:
        return [f"feedback type {kind} is not a complaint; nothing changed"]
    detail = f"{kind} report" + (f" from {report.user_agent}" if report.user_agent else "")
    added = suppress(session, row.account_id, row.recipient, SuppressionReason.COMPLAINT, detail)
    actions = [f"{'suppressed' if added else 'already suppressed'} {row.recipient} (complaint)"]
    seen = session.execute(
        sa.select(EmailEvent.id).where(EmailEvent.email_id == row.id, EmailEvent.type == "complained").limit(1)
    ).first()
    if seen is None:
        _event(session, row, "complained", detail)
        outbox.email_event(session, row, "email.complained", {"feedback_type": kind, "reason": detail})
        actions.append("complained event added")
    return actions


def _describe(entry: RecipientReport) -> str:
    return f"DSN {entry.action} {entry.status or '-'} {entry.recipient}: {entry.diagnostic}".strip()


def _event(session: Session, row: SentEmail, kind: str, detail: str) -> None:
    session.add(EmailEvent(email_id=row.id, type=kind, at=utcnow(), detail=detail[:1024]))
