"""What a campaign tracks, and the ``tracked_links`` rows its tokens point at.

Tracking applies only when both the list and the campaign allow it: the list's ``tracking``
switch turns it off for every campaign to that list, the campaign's ``track_opens`` and
``track_clicks`` (copied from the list when the campaign is created) turn off one or both for
that campaign. Off means the message goes out exactly as written: no pixel, no rewritten link.

Links are registered while the campaign is a draft, in the transaction that saves its body, so
the sender only reads them. A campaign saved before tracking existed has no rows: its links are
then left as written (the pixel is still added when opens are tracked).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.delivery.settings import EngineSettings
from app.models import Campaign, MailingList, TrackedLink
from app.tracking import links, tokens


def register_links(session: Session, campaign: Campaign, base_url: str) -> None:
    """Make the campaign's ``tracked_links`` the trackable URLs of its body now (a draft's edit)."""
    urls = links.find(campaign.html, campaign.text, base_url)
    stored = list(
        session.scalars(
            sa.select(TrackedLink.url).where(TrackedLink.campaign_id == campaign.id).order_by(TrackedLink.position)
        )
    )
    if stored == urls:
        return
    session.execute(sa.delete(TrackedLink).where(TrackedLink.campaign_id == campaign.id))
    if urls:
        session.execute(
            sa.insert(TrackedLink),
            [{"campaign_id": campaign.id, "position": i, "url": url} for i, url in enumerate(urls)],
        )


def for_campaign(session: Session, campaign: Campaign, settings: EngineSettings) -> links.Tracking | None:
    """The campaign's tracking, or None when it tracks nothing (the list or campaign said no)."""
    allowed = session.scalar(sa.select(MailingList.tracking).where(MailingList.id == campaign.list_id))
    opens, clicks = allowed and campaign.track_opens, allowed and campaign.track_clicks
    if not (opens or clicks):
        return None
    found = {}
    if clicks:
        rows = session.execute(
            sa.select(TrackedLink.url, TrackedLink.position).where(TrackedLink.campaign_id == campaign.id)
        )
        found = {url: position for url, position in rows}
    return links.Tracking(settings.base_url, tokens.tracking_key(settings.secret_key), found, bool(opens))
