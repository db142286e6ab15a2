"""Write opens and clicks to the database, a batch at a time, in the caller's transaction.

``write`` classifies each hit (``machine``), inserts the ``email_opens`` / ``email_clicks`` rows,
adds the e-mail's timeline lines and emits the webhooks, all in the caller's transaction: a
rollback leaves none of them. The timeline gets ``opened`` for an e-mail's first open (and again
for its first open by a person when a machine's came first) and ``clicked`` for every click.
Webhooks follow the same rule: ``email.opened`` at most twice per e-mail (its first open, then
its first by a person if that came later), each with ``machine``; ``email.clicked`` for every
click, with its ``url``. Status does not change: these are timeline lines, not transitions.

A hit naming an e-mail that does not exist, or a link of another campaign, is dropped. A batch
costs a fixed handful of queries whatever its size.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.models import EmailClick, EmailEvent, EmailOpen, SentEmail, TrackedLink, WebhookEndpoint
from app.tracking import machine
from app.webhooks import outbox

OPEN, CLICK = "open", "click"


@dataclass(frozen=True)
class Hit:
    """One fetch of a pixel or a tracked link, as the public route saw it."""

    kind: str
    email_id: int
    link_id: int | None
    at: datetime
    method: str
    user_agent: str
    ip_prefix: str

    def dumps(self) -> str:
        fields = [self.kind, self.email_id, self.link_id, self.at.timestamp(), self.method, self.user_agent]
        return json.dumps([*fields, self.ip_prefix], separators=(",", ":"))

    @classmethod
    def loads(cls, raw: bytes | str) -> Hit:
        """Raises ValueError (or TypeError) on anything ``dumps`` did not write."""
        kind, email_id, link_id, at, method, user_agent, ip_prefix = json.loads(raw)
        if kind not in (OPEN, CLICK) or not isinstance(email_id, int) or (kind == CLICK) != isinstance(link_id, int):
            raise ValueError(f"not a tracking hit: {raw!r}")
        when = datetime.fromtimestamp(float(at), UTC)
        return cls(kind, email_id, link_id, when, str(method)[:8], printable(str(user_agent)), str(ip_prefix)[:45])


def printable(text: str, limit: int = 200) -> str:
    """Text as stored: printable characters only (PostgreSQL refuses NUL), cut to ``limit``."""
    return "".join(ch for ch in text[: limit * 2] if ch.isprintable())[:limit]


@dataclass
class _Row:
    """A classified hit with what its e-mail says about it."""

    hit: Hit
    email: sa.Row
    reason: str | None
    url: str = ""
    id: int | None = None  # an already stored click's id (burst detection reads those too)

    @property
    def machine(self) -> bool:
        return self.reason is not None


def write(session: Session, hits: list[Hit]) -> int:
    """Store ``hits``; answer how many were kept. The caller commits."""
    emails = _emails(session, {h.email_id for h in hits})
    link_ids = {h.link_id for h in hits if h.kind == CLICK}
    links = _links(session, link_ids) if link_ids else {}
    opens, clicks = [], []
    for hit in sorted(hits, key=lambda h: h.at):
        email = emails.get(hit.email_id)
        if email is None:
            continue
        if hit.kind == OPEN:
            opens.append(_Row(hit, email, machine.open_reason(hit.method, hit.user_agent, hit.ip_prefix)))
            continue
        link = links.get(hit.link_id)
        if link is None or link.campaign_id != email.campaign_id:
            continue
        reason = machine.click_reason(hit.method, hit.user_agent, hit.at, email.sent_at)
        clicks.append(_Row(hit, email, reason, link.url))
    if clicks:
        _mark_bursts(session, clicks)
    events = _first_opens(session, opens) + [(row, "clicked") for row in clicks]
    _insert(session, opens, clicks)
    if events:
        session.execute(
            sa.insert(EmailEvent),
            [{"email_id": r.email.id, "type": kind, "at": r.hit.at, "detail": _detail(r)} for r, kind in events],
        )
        _emit(session, events)
    return len(opens) + len(clicks)


def _emails(session: Session, ids: set[int]) -> dict[int, sa.Row]:
    rows = session.execute(
        sa.select(
            SentEmail.id,
            SentEmail.account_id,
            SentEmail.campaign_id,
            SentEmail.subscriber_id,
            SentEmail.message_id,
            SentEmail.recipient,
            SentEmail.status,
            SentEmail.sent_at,
        ).where(SentEmail.id.in_(ids), SentEmail.campaign_id.is_not(None))
    )
    return {row.id: row for row in rows}


def _links(session: Session, ids: set[int]) -> dict[int, sa.Row]:
    rows = session.execute(
        sa.select(TrackedLink.id, TrackedLink.campaign_id, TrackedLink.url).where(TrackedLink.id.in_(ids))
    )
    return {row.id: row for row in rows}


def _mark_bursts(session: Session, clicks: list[_Row]) -> None:
    """Mark ``burst`` every click with a click on another link of its message within BURST_SECONDS.

    Clicks stored by earlier batches count too, and are marked when a new click makes them a
    burst (their webhook, already sent, said what was known then).
    """
    window = timedelta(seconds=machine.BURST_SECONDS)
    earliest = min(r.hit.at for r in clicks) - window
    by_email: dict[int, list[_Row]] = defaultdict(list)
    for row in clicks:
        by_email[row.email.id].append(row)
    stored = session.execute(
        sa.select(EmailClick.id, EmailClick.email_id, EmailClick.link_id, EmailClick.at, EmailClick.reason).where(
            EmailClick.email_id.in_(list(by_email)), EmailClick.at >= earliest
        )
    )
    for old in stored:
        hit = Hit(CLICK, old.email_id, old.link_id, old.at, "GET", "", "")
        by_email[old.email_id].append(_Row(hit, by_email[old.email_id][0].email, old.reason, id=old.id))
    newly_machine: list[int] = []
    for rows in by_email.values():
        rows.sort(key=lambda r: r.hit.at)
        for i, row in enumerate(rows):
            if row.reason is None and _another_link_near(rows, i, window):
                row.reason = machine.BURST
                if row.id is not None:
                    newly_machine.append(row.id)
    if newly_machine:
        session.execute(
            sa.update(EmailClick)
            .where(EmailClick.id.in_(newly_machine))
            .values(machine=True, reason=machine.BURST)
            .execution_options(synchronize_session=False)
        )


def _another_link_near(rows: list[_Row], i: int, window: timedelta) -> bool:
    """Whether a click on another link lies within ``window`` of ``rows[i]`` (rows sorted by time)."""
    at, link_id = rows[i].hit.at, rows[i].hit.link_id
    for step in (-1, 1):
        j = i + step
        while 0 <= j < len(rows) and abs(rows[j].hit.at - at) <= window:
            if rows[j].hit.link_id != link_id:
                return True
            j += step
    return False


def _first_opens(session: Session, opens: list[_Row]) -> list[tuple[_Row, str]]:
    """The opens that are an e-mail's first, or its first by a person after a machine's."""
    if not opens:
        return []
    seen: dict[int, set[bool]] = defaultdict(set)  # e-mail id -> machine flags of its stored opens
    stored = session.execute(
        sa.select(EmailOpen.email_id, EmailOpen.machine)
        .where(EmailOpen.email_id.in_({r.email.id for r in opens}))
        .group_by(EmailOpen.email_id, EmailOpen.machine)
    )
    for email_id, was_machine in stored:
        seen[email_id].add(bool(was_machine))
    first = []
    for row in opens:
        flags = seen[row.email.id]
        if not flags or (not row.machine and False not in flags):
            first.append((row, "opened"))
        flags.add(row.machine)
    return first


def _insert(session: Session, opens: list[_Row], clicks: list[_Row]) -> None:
    def values(row: _Row) -> dict:
        hit = row.hit
        return {
            "email_id": hit.email_id,
            "campaign_id": row.email.campaign_id,
            "at": hit.at,
            "machine": row.machine,
            "reason": row.reason,
            "user_agent": hit.user_agent,
            "ip_prefix": hit.ip_prefix,
        }

    if opens:
        session.execute(sa.insert(EmailOpen), [values(row) for row in opens])
    if clicks:
        session.execute(sa.insert(EmailClick), [values(row) | {"link_id": row.hit.link_id} for row in clicks])


def _detail(row: _Row) -> str:
    if row.hit.kind == CLICK:
        return (f"{row.url} (machine: {row.reason})" if row.machine else row.url)[:1024]
    return f"by a machine: {row.reason}" if row.machine else "by a person"


def _emit(session: Session, events: list[tuple[_Row, str]]) -> None:
    """``email.opened`` / ``email.clicked`` for accounts with an endpoint that wants them."""
    accounts = {row.email.account_id for row, _ in events}
    wanted: dict[int, set[str]] = defaultdict(set)
    endpoints = session.execute(
        sa.select(WebhookEndpoint.account_id, WebhookEndpoint.events).where(
            WebhookEndpoint.account_id.in_(accounts), WebhookEndpoint.enabled == sa.true()
        )
    )
    for account_id, types in endpoints:
        wanted[account_id].update(types or ())
    for row, kind in events:
        event_type = f"email.{kind}"
        if event_type not in wanted[row.email.account_id]:
            continue
        extra = {"machine": row.machine, "machine_reason": row.reason, f"{kind}_at": row.hit.at.isoformat()}
        if row.hit.kind == CLICK:
            extra |= {"url": row.url, "link_id": row.hit.link_id}
        outbox.email_event(session, row.email, event_type, extra, now=row.hit.at)
