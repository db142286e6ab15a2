"""Deliver a batch of ``sent_emails`` rows over one reused SMTP connection.

A batch is claimed with a lease (``queued -> sending``), then each row is checked against the
suppression list, rendered, sent and classified. Outcomes are recorded (attempt + transition)
in short transactions of at most ``commit_every`` messages, none older than
``COMMIT_SECONDS``: the window in which an accepted message is not yet recorded is that group,
so a worker killed inside it re-sends at most that many (each shows ``lease_expired`` on its
timeline); ``DELIVERY_COMMIT_EVERY=1`` makes it one message. Rows whose lease has been taken
over by the sweeper are not written over (the compare-and-set includes the lease token).
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from email.utils import parseaddr

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import links
from app.delivery import failpoints, personalise, suppression, verp
from app.delivery.classify import classify
from app.delivery.headers import HeaderInjectionError
from app.delivery.ledger import settle, settle_delivered, transition
from app.delivery.personalise import TemplateProblem
from app.delivery.render import CompiledMessage, Content, build_message
from app.delivery.routing import Routing
from app.delivery.settings import EngineSettings
from app.delivery.suppression import suppress
from app.delivery.transport import ConnectFailed, ConnectionLost, Reply, SmtpSettings, SmtpTransport
from app.models import (
    Campaign,
    CampaignStatus,
    DeliveryAttempt,
    EmailEvent,
    EmailKind,
    EmailStatus,
    MailingList,
    Outcome,
    SentEmail,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
)
from app.models.base import utcnow
from app.tracking import plan as tracking

TransportFactory = Callable[[EngineSettings], SmtpTransport]
GATE_SECONDS = 1.0  # how stale a batch's view of "paused / cancelled" may be
COMMIT_SECONDS = 0.25  # the longest a sent message's outcome waits to be written

_STATUS_FOR = {
    Outcome.DELIVERED: EmailStatus.DELIVERED,
    Outcome.BOUNCED: EmailStatus.BOUNCED,
    Outcome.FAILED: EmailStatus.FAILED,
    Outcome.DEFERRED: EmailStatus.DEFERRED,
}


_INSERT_ATTEMPT = sa.insert(DeliveryAttempt.__table__)
_UNLEASED = {"lease_token": None, "lease_expires_at": None}


def default_transport(settings: EngineSettings) -> SmtpTransport:
    return SmtpTransport(SmtpSettings.from_url(settings.smtp_url), timeout=settings.smtp_timeout)


@dataclass
class BatchResult:
    claimed: int = 0
    delivered: int = 0
    more: bool = False


def claim(
    session: Session,
    settings: EngineSettings,
    *,
    campaign_id: int | None = None,
    email_ids: list[int] | None = None,
    now: datetime | None = None,
) -> tuple[str, list[int]]:
    """Lease up to ``batch_size`` queued rows; commit; return (lease token, claimed ids)."""
    now = now or utcnow()
    stmt = sa.select(SentEmail.id).where(
        SentEmail.status == EmailStatus.QUEUED,
        sa.or_(SentEmail.next_attempt_at.is_(None), SentEmail.next_attempt_at <= now),
    )
    if campaign_id is not None:
        stmt = stmt.where(SentEmail.campaign_id == campaign_id)
    if email_ids is not None:
        stmt = stmt.where(SentEmail.id.in_(email_ids))
    stmt = stmt.order_by(SentEmail.id).limit(settings.batch_size)
    if session.get_bind().dialect.name == "postgresql":
        # Concurrent claimers skip each other's rows instead of queueing on the locks.
        stmt = stmt.with_for_update(skip_locked=True)
    candidates = list(session.execute(stmt).scalars())
    if email_ids is not None and candidates:
        # A batch goes through one account's providers: other accounts' rows wait for their own job.
        account = session.execute(sa.select(SentEmail.account_id).where(SentEmail.id == candidates[0])).scalar()
        candidates = list(
            session.execute(
                sa.select(SentEmail.id).where(SentEmail.id.in_(candidates), SentEmail.account_id == account)
            ).scalars()
        )
    token = secrets.token_hex(8)
    claimed = transition(
        session,
        candidates,
        EmailStatus.SENDING,
        "claimed",
        from_statuses=[EmailStatus.QUEUED],
        values={"lease_token": token, "lease_expires_at": now + timedelta(seconds=settings.lease_seconds)},
        now=now,
    )
    session.commit()
    if claimed:
        failpoints.hit("after_claim")
    return token, claimed


class _Lease:
    """Keeps a batch's lease alive while it is being sent, so only dead workers lose theirs."""

    def __init__(self, session: Session, settings: EngineSettings, token: str):
        self.session, self.settings, self.token = session, settings, token
        self.renewed = time.monotonic()

    def renew_if_due(self) -> None:
        """Extend the lease of the rows still held (in the caller's transaction) every third of it."""
        if time.monotonic() - self.renewed < self.settings.lease_seconds / 3:
            return
        self.session.execute(
            sa.update(SentEmail)
            .where(SentEmail.lease_token == self.token, SentEmail.status == EmailStatus.SENDING)
            .values(lease_expires_at=utcnow() + timedelta(seconds=self.settings.lease_seconds))
            .execution_options(synchronize_session=False)
        )
        self.renewed = time.monotonic()


class _CampaignGate:
    """Answers "may this campaign still send?", asking the database at most once a second."""

    def __init__(self, session: Session, campaign_id: int | None):
        self.session, self.campaign_id = session, campaign_id
        self.checked, self.open = 0.0, True

    def allows(self) -> bool:
        if self.campaign_id is None:
            return True
        if time.monotonic() - self.checked >= GATE_SECONDS:
            status = self.session.execute(sa.select(Campaign.status).where(Campaign.id == self.campaign_id)).scalar()
            self.open, self.checked = status == CampaignStatus.SENDING, time.monotonic()
        return self.open


@dataclass(frozen=True)
class _Row:
    """What sending needs of one ``sent_emails`` row, read once per batch (we hold its lease)."""

    id: int
    account_id: int
    campaign_id: int | None
    subscriber_id: int | None
    recipient: str
    kind: EmailKind
    message_id: str
    attempt_count: int
    created_at: datetime


class _Batch:
    """The claimed rows with the facts checked just before sending, read in three queries.

    Reading them per message would cost a query each time: every commit expires what the
    session had loaded.
    """

    def __init__(self, session: Session, ids: list[int]):
        columns = [getattr(SentEmail, f.name) for f in fields(_Row)]
        self.rows = {
            r.id: _Row(**r._mapping) for r in session.execute(sa.select(*columns).where(SentEmail.id.in_(ids)))
        }
        account_id = next(iter(self.rows.values())).account_id
        now = utcnow()
        recipients = {r.recipient for r in self.rows.values()}
        self.suppressed = set(
            session.scalars(
                sa.select(Suppression.email).where(
                    Suppression.account_id == account_id,
                    Suppression.email.in_(recipients),
                    suppression.active(now),
                )
            )
        )
        subscriber_ids = {r.subscriber_id for r in self.rows.values() if r.kind == EmailKind.CAMPAIGN}
        found = session.execute(sa.select(Subscriber.id, Subscriber.status).where(Subscriber.id.in_(subscriber_ids)))
        self.statuses = {subscriber_id: status for subscriber_id, status in found}

    def blocked(self, row: _Row) -> str | None:
        """Why this row must not be sent (checked again at send time, not only at fan-out), or None."""
        if row.recipient in self.suppressed:
            return "address is on the suppression list"
        if row.kind == EmailKind.CAMPAIGN:
            status = self.statuses.get(row.subscriber_id)
            if status != SubscriberStatus.CONFIRMED:
                return f"subscriber is {status.value if status else 'gone'}"
        return None


@dataclass
class _Outcome:
    """What one sent (or skipped) row's record will write."""

    email: _Row
    target: EmailStatus
    detail: str
    values: dict
    attempt: dict | None = None
    unknown: str | None = None  # the reply text when the outcome is unknown (no reply after DATA)
    suppress: bool = False


class _Records:
    """The outcomes of a batch's messages, written together in one short transaction.

    Held in memory, not in an open transaction, so the database's write lock is taken only for
    the moment of writing them (SQLite has one per database).
    """

    def __init__(self, session: Session, token: str, lease: _Lease, limit: int):
        self.session, self.token, self.lease, self.limit = session, token, lease, max(1, limit)
        self.pending: list[_Outcome] = []
        self.oldest = 0.0
        self.delivered = 0

    def add(self, outcome: _Outcome) -> None:
        if not self.pending:
            self.oldest = time.monotonic()
        self.pending.append(outcome)
        if len(self.pending) >= self.limit:
            self.write()

    def write_if_stale(self) -> None:
        """Write what waits before the next message could keep it waiting (a slow reply, a pause)."""
        if self.pending and time.monotonic() - self.oldest >= COMMIT_SECONDS:
            self.write()

    def write(self) -> None:
        if not self.pending:
            return
        session, pending = self.session, self.pending
        attempts = [o.attempt for o in pending if o.attempt is not None]
        if attempts:
            session.execute(_INSERT_ATTEMPT, attempts)
        # The common case, messages the server accepted, is one UPDATE for the group.
        accepted = {o.email.id: o.detail for o in pending if o.target == EmailStatus.DELIVERED}
        self.delivered += len(settle_delivered(session, accepted, self.token))
        for o in pending:
            email = o.email
            if email.id in accepted:
                continue
            if o.unknown is not None:
                session.add(EmailEvent(email_id=email.id, type="unknown_outcome", at=utcnow(), detail=o.unknown))
            facts = None
            if o.attempt is not None:  # the reply's codes for the webhook event, without a query
                facts = {"smtp_code": o.attempt["smtp_code"], "enhanced_code": o.attempt["enhanced_code"]}
            moved = settle(
                session, email.id, self.token, o.target, o.target.value, detail=o.detail, values=o.values, facts=facts
            )
            if moved and o.suppress:
                suppress(session, email.account_id, email.recipient, SuppressionReason.HARD_BOUNCE, o.detail)
            self.delivered += moved and o.target == EmailStatus.DELIVERED
        self.lease.renew_if_due()
        session.commit()
        self.pending = []


class _Contents:
    """Builds each row's ``Content``, loading each campaign and list once per batch."""

    def __init__(self, session: Session, settings: EngineSettings):
        self.session = session
        self.settings = settings
        # Plain values, not the ORM object: each commit would expire it and cost a reload.
        self._campaigns: dict[int, tuple[int, str, CompiledMessage]] = {}
        self._recipients = personalise.Recipients(session)  # read only for a personalised campaign

    def message(self, email: _Row, date: datetime) -> tuple[str, bytes]:
        """The envelope sender's base address and the bytes to send for this row."""
        if email.kind == EmailKind.CAMPAIGN:
            list_id, from_email, compiled = self._compiled(email.campaign_id)
            token = links.unsubscribe_token(self.settings.secret_key, email.subscriber_id, list_id)
            url = f"{self.settings.base_url}/u/{token}"
            recipient = None
            if compiled.personal is not None:
                recipient = self._recipients.get(email.id, email.campaign_id, email.subscriber_id)
            return from_email, compiled.render(email.recipient, email.message_id, date, url, email.id, recipient)
        if email.kind == EmailKind.TRANSACTIONAL:
            from app.delivery import transactional

            return transactional.message(self.session, email.id, email.recipient, email.message_id, date)
        if email.kind == EmailKind.PASSWORD_RESET:
            from app.delivery import password_reset

            content = password_reset.content(self.session, self.settings, email.id)
        else:
            content = self._confirmation(email)
        return content.from_email, build_message(content, email.recipient, email.message_id, date)

    def _compiled(self, campaign_id: int) -> tuple[int, str, CompiledMessage]:
        """Each campaign is rendered once per batch; recipients only fill in their own parts."""
        if campaign_id not in self._campaigns:
            campaign = self.session.get(Campaign, campaign_id)
            content = Content(campaign.subject, campaign.from_email, campaign.from_name, campaign.html, campaign.text)
            compiled = CompiledMessage(
                content, tracking.for_campaign(self.session, campaign, self.settings), campaign.mailing_list.name
            )
            self._campaigns[campaign_id] = (campaign.list_id, campaign.from_email, compiled)
        return self._campaigns[campaign_id]

    def _confirmation(self, email: _Row) -> Content:
        if email.kind != EmailKind.CONFIRMATION:
            raise ValueError(f"e-mail {email.id} has kind {email.kind!r}, which has no renderer yet")
        subscriber = self.session.get(Subscriber, email.subscriber_id)
        mailing_list = self.session.get(MailingList, subscriber.list_id)
        token = links.confirm_token(
            self.settings.secret_key, subscriber.id, mailing_list.id, subscriber.confirm_nonce or "-"
        )
        url = f"{self.settings.base_url}/c/{token}"
        name, address = parseaddr(self.settings.mail_from)
        text = (
            f'Please confirm that you want to receive e-mail from "{mailing_list.name}".\n\n'
            f"Open this link and press the button to confirm:\n{url}\n\n"
            "If you did not ask for this, ignore this message: nothing will be sent to you.\n"
        )
        html = (
            f"<p>Please confirm that you want to receive e-mail from "
            f"<strong>{_escape(mailing_list.name)}</strong>.</p>"
            f'<p><a href="{url}">Confirm my subscription</a></p>'
            "<p>If you did not ask for this, ignore this message: nothing will be sent to you.</p>"
        )
        subject = f"Confirm your subscription to {mailing_list.name}"
        return Content(subject, address, name, html, text)


def _escape(value: str) -> str:
    from markupsafe import escape

    return str(escape(value))


def _retry_delay(settings: EngineSettings, attempt_number: int) -> float:
    schedule = settings.retry_schedule
    base = schedule[min(attempt_number - 1, len(schedule) - 1)]
    # Jitter only upwards: the schedule is a floor ("no sooner than").
    return base * (1 + random.random() * 0.1)


def deliver_batch(
    session: Session,
    settings: EngineSettings,
    *,
    campaign_id: int | None = None,
    email_ids: list[int] | None = None,
    transport_factory: TransportFactory = default_transport,
    conn: redis.Redis | None = None,
) -> BatchResult:
    """Claim one batch and deliver it; ``more`` tells whether queued rows remain.

    With a Redis connection the batch obeys the shared limits (``routing``): provider choice
    and failover, per-domain and per-provider token buckets and circuit breakers.
    """
    result = BatchResult()
    if campaign_id is not None:
        status = session.execute(sa.select(Campaign.status).where(Campaign.id == campaign_id)).scalar()
        if status != CampaignStatus.SENDING:
            return result
    token, ids = claim(session, settings, campaign_id=campaign_id, email_ids=email_ids)
    result.claimed = len(ids)
    if ids:
        account_id = session.execute(sa.select(SentEmail.account_id).where(SentEmail.id == ids[0])).scalar()
        routing = Routing(session, conn, settings, account_id)
        result.delivered = _send_batch(session, settings, routing, transport_factory, ids, token, campaign_id)
    if campaign_id is not None:
        result.more = _has_queued(session, campaign_id)
    return result


MAX_FAILOVERS = 2  # further providers tried in one batch after a failed connect


def _send_batch(
    session: Session,
    settings: EngineSettings,
    routing: Routing,
    factory: TransportFactory,
    ids: list[int],
    token: str,
    campaign_id: int | None,
) -> int:
    """Send the claimed rows in order over as few connections as the providers allow."""
    contents, lease, gate = (
        _Contents(session, settings),
        _Lease(session, settings, token),
        _CampaignGate(session, campaign_id),
    )
    records = _Records(session, token, lease, settings.commit_every)
    batch = _Batch(session, ids)
    failovers, position = 0, 0
    transport = routing.open(factory)
    try:
        while position < len(ids):
            records.write_if_stale()
            if transport is None:
                records.write()
                _release(
                    session,
                    settings,
                    ids[position:],
                    token,
                    "every provider is blocked (breaker open or daily cap reached)",
                )
                break
            if not gate.allows():
                # Paused or cancelled mid-batch: hand the untouched rows back.
                records.write()
                _requeue(session, ids[position:], token, "released")
                break
            try:
                switch = _deliver_one(
                    session, settings, transport, contents, batch, ids[position], token, records, routing
                )
            except ConnectFailed as exc:
                # No message reached the server, so no attempt is counted. Fail over to the next
                # provider (its breaker now knows); when there is none, the rest wait.
                routing.connect_failed()
                transport.close()
                failovers += 1
                if routing.conn is None or failovers > MAX_FAILOVERS:
                    transport = None
                    records.write()
                    _release(
                        session,
                        settings,
                        ids[position:],
                        token,
                        f"could not connect: {exc.reply.code or '-'} {exc.reply.text}",
                    )
                    break
                transport = routing.open(factory)
                continue
            position += 1
            if switch:  # daily cap reached or provider breaker opened: choose again
                transport.close()
                transport = routing.open(factory)
    except BaseException:
        session.rollback()  # whatever failed, the outcomes the server already gave are written next
        raise
    finally:
        # Outcomes already received are written whatever happened, so they are not sent again.
        records.write()
        if transport is not None:
            transport.close()
        routing.flush()
    return records.delivered


def _deliver_one(
    session: Session,
    settings: EngineSettings,
    transport: SmtpTransport,
    contents: _Contents,
    batch: _Batch,
    email_id: int,
    token: str,
    records: _Records,
    routing: Routing,
) -> bool:
    """Send one row and hand its outcome to ``records``; answer whether to choose the provider again."""
    email = batch.rows[email_id]
    blocked = batch.blocked(email)
    if blocked:
        records.add(_Outcome(email, EmailStatus.SUPPRESSED, blocked, _UNLEASED))
        return False
    domain = email.recipient.rpartition("@")[2].lower()
    wait, why = routing.admit(domain)
    if wait:
        records.write()
        _release(session, settings, [email.id], token, why, delay=wait)
        return False
    started = utcnow()
    try:
        from_email, data = contents.message(email, started)
    except (TemplateProblem, HeaderInjectionError) as exc:
        # This recipient's own data cannot make a safe message (a personalised value that breaks
        # the template or would add a header): fail this row, keep the batch going.
        why = f"could not build the message: {exc}"[:1024]
        records.add(_Outcome(email, EmailStatus.FAILED, why, {**_UNLEASED, "reason": why}))
        return False
    clock = time.monotonic()
    unknown = False
    try:
        reply = transport.send(_bounce_address(settings, from_email, email), email.recipient, data)
    except ConnectionLost as exc:
        unknown = exc.after_data
        if unknown:
            # The whole message left us and no reply came: it may have been delivered. We retry
            # (at least once) and say so on the timeline; a duplicate here is counted, not hidden.
            reply = Reply(None, f"no reply after the end of DATA; outcome unknown: {exc}")
        else:
            reply = Reply(None, f"connection lost before the message was sent: {exc}")
    if reply.code is not None and 200 <= reply.code < 300:
        failpoints.hit("after_250_before_commit")
    duration_ms = int((time.monotonic() - clock) * 1000)
    verdict = classify(reply.code, reply.text)
    switch = routing.record(domain, reply, verdict)
    number = email.attempt_count + 1
    attempt = {
        "email_id": email.id,
        "number": number,
        "started_at": started,
        "provider": routing.provider_name,
        "host": transport.host,
        "smtp_code": reply.code,
        "enhanced_code": verdict.enhanced_code,
        "response": reply.text[:1024],
        "outcome": verdict.outcome,
        "duration_ms": duration_ms,
    }
    detail = f"{reply.code or '-'} {reply.text}".strip()
    values: dict = {"attempt_count": number, **_UNLEASED}
    target = _STATUS_FOR[verdict.outcome]
    # An accepted message is written with its group by ledger.settle_delivered (sent_at, reason).
    if target == EmailStatus.DEFERRED:
        age = (started - email.created_at).total_seconds()
        if age >= settings.max_age:
            target, values["reason"] = EmailStatus.FAILED, "expired"
        else:
            # The schedule is a floor; a server that asks for a longer wait gets it.
            wait = max(_retry_delay(settings, number), verdict.retry_after or 0)
            values["next_attempt_at"] = started + timedelta(seconds=wait)
            values["reason"] = reply.text[:1024]
    elif target != EmailStatus.DELIVERED:
        values["reason"] = reply.text[:1024]
    records.add(
        _Outcome(
            email,
            target,
            detail,
            values,
            attempt=attempt,
            unknown=reply.text[:1024] if unknown else None,
            suppress=verdict.suppress,
        )
    )
    return switch


def _bounce_address(settings: EngineSettings, from_email: str, email: SentEmail) -> str:
    """The envelope sender: this row's VERP return path when a bounce domain is configured."""
    if settings.bounce_domain:
        return verp.return_path(settings.secret_key, email.id, settings.bounce_domain)
    return from_email


def _release(
    session: Session, settings: EngineSettings, ids: list[int], token: str, why: str, delay: float | None = None
) -> None:
    """Defer rows that were not sent (no connection, breaker open, rate limit): no attempt counted."""
    now = utcnow()
    transition(
        session,
        ids,
        EmailStatus.DEFERRED,
        "deferred",
        detail=why[:1024],
        values={
            "lease_token": None,
            "lease_expires_at": None,
            "reason": why[:1024],
            "next_attempt_at": now + timedelta(seconds=delay if delay is not None else _retry_delay(settings, 1)),
        },
        where=[SentEmail.lease_token == token],
        now=now,
    )
    session.commit()


def _requeue(session: Session, ids: list[int], token: str, event: str) -> None:
    transition(
        session,
        ids,
        EmailStatus.QUEUED,
        event,
        values={"lease_token": None, "lease_expires_at": None},
        where=[SentEmail.lease_token == token],
    )
    session.commit()


def _has_queued(session: Session, campaign_id: int) -> bool:
    stmt = (
        sa.select(SentEmail.id)
        .where(SentEmail.campaign_id == campaign_id, SentEmail.status == EmailStatus.QUEUED)
        .limit(1)
    )
    return session.execute(stmt).first() is not None


def finish_if_done(session: Session, campaign_id: int) -> bool:
    """Mark a sending campaign finished once every one of its rows is terminal; commit."""
    open_row = (
        sa.select(SentEmail.id)
        .where(
            SentEmail.campaign_id == campaign_id,
            SentEmail.status.in_([EmailStatus.QUEUED, EmailStatus.SENDING, EmailStatus.DEFERRED]),
        )
        .limit(1)
    )
    if session.execute(open_row).first() is not None:
        return False
    done = session.execute(
        sa.update(Campaign)
        .where(
            Campaign.id == campaign_id,
            Campaign.status == CampaignStatus.SENDING,
            Campaign.fanned_out_at.is_not(None),
        )
        .values(status=CampaignStatus.FINISHED, finished_at=utcnow())
    ).rowcount
    session.commit()
    return done == 1
