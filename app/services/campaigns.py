"""Campaigns: compose, send (now or at ``send_at``), fan out, and count outcomes."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import current_app

from app.delivery import fanout, ledger
from app.extensions import db
from app.jobs import queue
from app.models import BodyFormat, Campaign, CampaignStatus, EmailStatus, MailingList, SentEmail
from app.models.base import utcnow
from app.services import counters, lists, personalise, validation
from app.services.errors import Conflict, NotFound, ValidationFailed
from app.services.scope import owned
from app.tracking import plan as tracking

EDITABLE = ("list_id", "name", "subject", "from_email", "from_name", "body_format", "body", "html", "text")


def query(account_id: int, status: str | None = None) -> sa.Select:
    stmt = sa.select(Campaign).where(Campaign.account_id == account_id)
    if status:
        try:
            stmt = stmt.where(Campaign.status == CampaignStatus(status))
        except ValueError:
            raise ValidationFailed(f"unknown status {status!r}", "status") from None
    return stmt.order_by(Campaign.id.desc())


def get(account_id: int, campaign_id: int) -> Campaign:
    return owned(Campaign, account_id, campaign_id, "campaign")


def _apply(account_id: int, campaign: Campaign, data: dict) -> None:
    """Validate ``data`` and copy it onto ``campaign``; nothing is written on any error."""
    max_bytes = current_app.config["MAX_BODY_BYTES"]
    merged = {key: data.get(key, getattr(campaign, key, None)) for key in EDITABLE}
    if merged["list_id"] is None:
        raise ValidationFailed("list_id is required", "list_id")
    try:
        list_id = int(merged["list_id"])
        mailing_list = lists.get(account_id, list_id)
    except (NotFound, TypeError, ValueError):
        raise ValidationFailed("list_id does not name one of your lists", "list_id") from None
    subject = validation.header_text(merged["subject"], "subject", required=True, max_length=validation.MAX_SUBJECT)
    from_email = validation.email_address(merged["from_email"], "from_email")
    from_name = validation.header_text(merged["from_name"], "from_name", required=False, max_length=validation.MAX_NAME)
    name = validation.plain_text(merged["name"], "name", required=False, max_length=200)
    try:
        body_format = BodyFormat(merged["body_format"] or BodyFormat.MARKDOWN)
    except ValueError:
        raise ValidationFailed("body_format must be markdown or html", "body_format") from None
    # The API may give html and text directly; the dashboard gives a body in a format.
    if "html" in data or "text" in data:
        html = validation.body_text(data.get("html"), "html", max_bytes=max_bytes)
        text = validation.body_text(data.get("text"), "text", max_bytes=max_bytes)
        body, body_format = (html or text), BodyFormat.HTML if html else BodyFormat.MARKDOWN
        if not html and not text:
            raise ValidationFailed("give html or text (or both)", "html")
        text = text or personalise.text_part(html)
        source = ""
    elif not ({"body", "body_format"} & data.keys()) and (campaign.html or campaign.text):
        # The content is not part of this change: keep the saved parts, which an API caller
        # may have given separately (a text part not derived from the HTML).
        body, html, text = campaign.body, campaign.html, campaign.text
        source = personalise.draft_of(campaign).body
    else:
        body = validation.body_text(merged["body"], "body", max_bytes=max_bytes)
        if not body.strip():
            raise ValidationFailed("body must not be empty", "body")
        html, text = personalise.body_parts(body, body_format)
        source = body
    # A template that does not render is refused here, with its line, not found at send time.
    personalise.check(personalise.Draft(subject, from_email, from_name, html, text, source), mailing_list)
    campaign.list_id, campaign.subject, campaign.from_email = list_id, subject, from_email
    campaign.from_name, campaign.name, campaign.body_format = from_name, name or subject, body_format
    campaign.body, campaign.html, campaign.text = body, html, text


def _track(campaign: Campaign, data: dict) -> None:
    """The privacy switches: those given apply; a new campaign copies its list's otherwise."""
    for key in ("track_opens", "track_clicks"):
        if data.get(key) is not None:
            setattr(campaign, key, bool(data[key]))
        elif campaign.id is None:
            setattr(campaign, key, db.session.get(MailingList, campaign.list_id).tracking)


def _save_links(campaign: Campaign) -> None:
    db.session.flush()  # a new campaign's id; an edit's UPDATE, which locks the row, before the links change
    tracking.register_links(db.session, campaign, current_app.config["BASE_URL"])


def create(account_id: int, data: dict) -> Campaign:
    campaign = Campaign(account_id=account_id, status=CampaignStatus.DRAFT)
    _apply(account_id, campaign, data)
    _track(campaign, data)
    db.session.add(campaign)
    _save_links(campaign)
    db.session.commit()
    return campaign


def update(account_id: int, campaign_id: int, data: dict) -> Campaign:
    campaign = get(account_id, campaign_id)
    if campaign.status != CampaignStatus.DRAFT:
        raise Conflict(f"campaign is {campaign.status.value}; only drafts can be edited")
    try:
        _apply(account_id, campaign, data)
    except ValidationFailed:
        db.session.rollback()
        raise
    _track(campaign, data)
    _save_links(campaign)
    db.session.commit()
    return campaign


def send(account_id: int, campaign_id: int, send_at: datetime | None = None) -> Campaign:
    """Start a draft now, or schedule it; commit, then ring the doorbell."""
    if send_at is not None and send_at.tzinfo is None:
        raise ValidationFailed("send_at must include a timezone offset", "send_at")
    scheduled = send_at is not None and send_at > utcnow()
    target = CampaignStatus.SCHEDULED if scheduled else CampaignStatus.SENDING
    campaign = get(account_id, campaign_id)
    if campaign.status == CampaignStatus.DRAFT:
        # Saved before templates were checked, or the list's first subscriber changed since.
        personalise.check(personalise.draft_of(campaign), campaign.mailing_list)
    # Compare-and-set: a double click or two API calls start the campaign once.
    campaign = _move(
        account_id,
        campaign_id,
        (CampaignStatus.DRAFT,),
        target,
        "sent",
        send_at=send_at,
        started_at=None if scheduled else utcnow(),
    )
    if not scheduled:
        queue.fan_out(campaign.id)
    return campaign


def duplicate(account_id: int, campaign_id: int) -> Campaign:
    """A new draft with the campaign's list, content and settings (any status); subject marked " (copy)"."""
    source = get(account_id, campaign_id)
    copy = Campaign(
        account_id=account_id,
        status=CampaignStatus.DRAFT,
        list_id=source.list_id,
        name=_copy_of(source.name or source.subject, 200),
        subject=_copy_of(source.subject, validation.MAX_SUBJECT),
        from_name=source.from_name,
        from_email=source.from_email,
        body_format=source.body_format,
        body=source.body,
        html=source.html,
        text=source.text,
        track_opens=source.track_opens,
        track_clicks=source.track_clicks,
    )
    db.session.add(copy)
    _save_links(copy)
    db.session.commit()
    return copy


def _copy_of(value: str, max_length: int) -> str:
    suffix = " (copy)"
    return value[: max_length - len(suffix)].rstrip() + suffix


def _move(
    account_id: int, campaign_id: int, sources: tuple[CampaignStatus, ...], target: CampaignStatus, verb: str, **values
) -> Campaign:
    """Compare-and-set the campaign's status; Conflict when it is not in one of ``sources``."""
    campaign = get(account_id, campaign_id)
    moved = db.session.execute(
        sa.update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.status.in_(sources))
        .values(status=target, **values)
    ).rowcount
    db.session.commit()
    db.session.refresh(campaign)
    if not moved:
        raise Conflict(f"campaign is {campaign.status.value}; it cannot be {verb}")
    return campaign


def pause(account_id: int, campaign_id: int) -> Campaign:
    """Stop claiming new rows; e-mails already handed to a server finish and are recorded."""
    return _move(account_id, campaign_id, (CampaignStatus.SENDING,), CampaignStatus.PAUSED, "paused")


def resume(account_id: int, campaign_id: int) -> Campaign:
    """Carry on with the rows not yet terminal (never re-sending a terminal one)."""
    campaign = _move(account_id, campaign_id, (CampaignStatus.PAUSED,), CampaignStatus.SENDING, "resumed")
    if campaign.fanned_out_at is None:
        queue.fan_out(campaign.id)
    else:
        queue.deliver_campaign(campaign.id, current_app.config["DELIVERY_CONCURRENCY"])
    return campaign


def cancel(account_id: int, campaign_id: int) -> Campaign:
    """Stop for good: rows not yet handed to a server become ``cancelled``."""
    campaign = _move(
        account_id,
        campaign_id,
        (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED),
        CampaignStatus.CANCELLED,
        "cancelled",
        finished_at=utcnow(),
    )
    cancel_open_rows(campaign.id)
    return campaign


def cancel_open_rows(campaign_id: int, chunk: int = 1000) -> int:
    """Move a cancelled campaign's queued and deferred rows to ``cancelled``, a chunk per commit."""
    total = 0
    waiting = (EmailStatus.QUEUED, EmailStatus.DEFERRED)
    while True:
        ids = list(
            db.session.scalars(
                sa.select(SentEmail.id)
                .where(SentEmail.campaign_id == campaign_id, SentEmail.status.in_(waiting))
                .limit(chunk)
            )
        )
        if not ids:
            return total
        total += len(
            ledger.transition(db.session, ids, EmailStatus.CANCELLED, "cancelled", detail="campaign cancelled")
        )
        db.session.commit()


def start_due(now: datetime | None = None) -> list[int]:
    """Move scheduled campaigns whose time has come to sending; each starts exactly once."""
    now = now or utcnow()
    due = list(
        db.session.scalars(
            sa.select(Campaign.id).where(Campaign.status == CampaignStatus.SCHEDULED, Campaign.send_at <= now)
        )
    )
    started = []
    for campaign_id in due:
        moved = db.session.execute(
            sa.update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.SCHEDULED)
            .values(status=CampaignStatus.SENDING, started_at=now)
        ).rowcount
        if moved:
            started.append(campaign_id)
    db.session.commit()
    return started


def fan_out(campaign_id: int) -> int:
    """Create the campaign's rows (idempotent); commit; return how many were added."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or campaign.status != CampaignStatus.SENDING:
        return 0
    added = fanout.fan_out(db.session, campaign, chunk=current_app.config["FANOUT_CHUNK"])
    if campaign.fanned_out_at is None:
        campaign.fanned_out_at = utcnow()
    db.session.commit()
    return added


def stats(campaign_id: int) -> dict[str, int]:
    """A count per e-mail status (every status present, zero when none), plus ``total``."""
    return counters.statuses([campaign_id])[campaign_id]


def progress(campaign: Campaign, counts: dict[str, int]) -> int:
    """Percent of the campaign's rows that reached a terminal status."""
    total = counts["total"]
    if not total:
        return 100 if campaign.status == CampaignStatus.FINISHED else 0
    open_rows = counts["queued"] + counts["sending"] + counts["deferred"]
    return int(100 * (total - open_rows) / total)
