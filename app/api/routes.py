"""API v1 views: each parses its input (via ``api_route``), calls a service, and serialises the answer."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask import current_app, url_for
from sqlalchemy.orm import selectinload

from app.api import paging
from app.api.auth import account_id
from app.api.openapi import api_route, document
from app.api.schemas import (
    CampaignCreate,
    CampaignOut,
    CampaignQuery,
    CampaignSend,
    CampaignUpdate,
    EmailDetail,
    EmailOut,
    EmailQuery,
    HealthOut,
    ListCreate,
    ListOut,
    ListUpdate,
    OpenApiDocument,
    Page,
    PageQuery,
    SubscriberCreate,
    SubscriberOut,
    SubscriberQuery,
    SubscriberUpdate,
)
from app.extensions import db
from app.models import Campaign, MailingList, Subscriber
from app.services import analytics, campaigns, counters, emails, lists, subscribers


def _columns(row) -> dict:
    return {column.key: getattr(row, column.key) for column in sa.inspect(row).mapper.column_attrs}


def _list(mailing_list: MailingList) -> dict:
    return _columns(mailing_list) | {
        "subscribe_url": f"{current_app.config['BASE_URL']}/s/{mailing_list.public_id}",
        "counts": lists.counts(mailing_list.id),
    }


def _campaign(campaign: Campaign, stats: dict | None = None) -> dict:
    return _columns(campaign) | {
        "tracking": analytics.tracking_enabled(campaign),
        "stats": campaigns.stats(campaign.id) if stats is None else stats,
    }


# Health and this API's description


@api_route("/health", auth=False, response=HealthOut, also={503: HealthOut}, rate_limited=False)
def health():
    """Check the database and Redis; 503 names the one that failed."""
    checks = {
        "database": _check(lambda: db.session.execute(sa.text("SELECT 1"))),
        "redis": _check(lambda: current_app.extensions["redis"].ping()),
    }
    healthy = all(result == "ok" for result in checks.values())
    answer = {"status": "ok" if healthy else "degraded", **checks}
    return answer if healthy else (answer, 503)


def _check(probe: Callable) -> str:
    # A health check reports any failure as text rather than failing itself.
    try:
        probe()
    except Exception as exc:
        db.session.rollback()
        return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return "ok"


@api_route("/openapi.json", auth=False, response=OpenApiDocument)
def openapi_document():
    """This document."""
    server = current_app.config["BASE_URL"] + url_for("api.openapi_document").rpartition("/")[0]
    return document(server)


# Lists


@api_route("/lists", query=PageQuery, response=Page[ListOut])
def list_lists(query: PageQuery):
    """Your mailing lists, newest first."""
    return paging.keyset(lists.query(account_id()), MailingList, query, _list)


@api_route("/lists", "POST", body=ListCreate, response=ListOut, status=201)
def create_list(body: ListCreate):
    """Create a mailing list."""
    return _list(lists.create(account_id(), body.name, body.description, body.double_opt_in, body.tracking))


@api_route("/lists/<int:list_id>", response=ListOut)
def get_list(list_id: int):
    """One mailing list with its subscriber counts."""
    return _list(lists.get(account_id(), list_id))


@api_route("/lists/<int:list_id>", "PATCH", body=ListUpdate, response=ListOut)
def update_list(list_id: int, body: ListUpdate):
    """Change a list's name, description, double opt-in or tracking."""
    return _list(lists.update(account_id(), list_id, **body.model_dump(exclude_unset=True)))


@api_route("/lists/<int:list_id>", "DELETE", errors=(409,))
def delete_list(list_id: int):
    """Delete a list no campaign has used, with its subscribers."""
    lists.delete(account_id(), list_id)


# Subscribers


@api_route("/lists/<int:list_id>/subscribers", query=SubscriberQuery, response=Page[SubscriberOut])
def list_subscribers(list_id: int, query: SubscriberQuery):
    """A list's subscribers, newest first, optionally with one status."""
    lists.get(account_id(), list_id)
    status = query.status.value if query.status else None
    stmt = subscribers.query(account_id(), list_id, status)
    return paging.keyset(stmt, Subscriber, query)


@api_route(
    "/lists/<int:list_id>/subscribers", "POST", body=SubscriberCreate, response=SubscriberOut, status=201, errors=(409,)
)
def add_subscriber(list_id: int, body: SubscriberCreate):
    """Add a subscriber, with custom attributes if given; `pending` sends the confirmation e-mail."""
    return subscribers.add(account_id(), list_id, body.email, body.name, body.status, body.attributes)


@api_route("/subscribers/<int:subscriber_id>", response=SubscriberOut)
def get_subscriber(subscriber_id: int):
    """One subscriber."""
    return subscribers.get(account_id(), subscriber_id)


@api_route("/subscribers/<int:subscriber_id>", "PATCH", body=SubscriberUpdate, response=SubscriberOut)
def update_subscriber(subscriber_id: int, body: SubscriberUpdate):
    """Change a subscriber's name, status or custom attributes."""
    status = body.status.value if body.status else None
    return subscribers.update(account_id(), subscriber_id, body.name, status, body.attributes)


@api_route("/subscribers/<int:subscriber_id>", "DELETE", errors=(409,))
def delete_subscriber(subscriber_id: int):
    """Delete a subscriber who has no e-mails in the send log."""
    subscribers.delete(account_id(), subscriber_id)


# Campaigns


@api_route("/campaigns", query=CampaignQuery, response=Page[CampaignOut])
def list_campaigns(query: CampaignQuery):
    """Your campaigns, newest first, optionally with one status."""
    stmt = campaigns.query(account_id(), query.status.value if query.status else None)
    rows, last_id = paging.fetch(stmt.options(selectinload(Campaign.mailing_list)), Campaign, query)
    stats = counters.statuses(campaign.id for campaign in rows)  # the page's counts in one query
    return paging.page(rows, last_id, lambda campaign: _campaign(campaign, stats[campaign.id]))


@api_route("/campaigns", "POST", body=CampaignCreate, response=CampaignOut, status=201)
def create_campaign(body: CampaignCreate):
    """Create a draft campaign."""
    return _campaign(campaigns.create(account_id(), body.model_dump(exclude_unset=True)))


@api_route("/campaigns/<int:campaign_id>", response=CampaignOut)
def get_campaign(campaign_id: int):
    """One campaign with a count of its e-mails per status."""
    return _campaign(campaigns.get(account_id(), campaign_id))


@api_route("/campaigns/<int:campaign_id>", "PATCH", body=CampaignUpdate, response=CampaignOut, errors=(409,))
def update_campaign(campaign_id: int, body: CampaignUpdate):
    """Change a draft campaign."""
    return _campaign(campaigns.update(account_id(), campaign_id, body.model_dump(exclude_unset=True)))


@api_route(
    "/campaigns/<int:campaign_id>/send", "POST", body=CampaignSend, response=CampaignOut, status=202, errors=(409,)
)
def send_campaign(campaign_id: int, body: CampaignSend):
    """Start a draft campaign now, or schedule it for `send_at`."""
    return _campaign(campaigns.send(account_id(), campaign_id, body.send_at))


@api_route("/campaigns/<int:campaign_id>/pause", "POST", response=CampaignOut, errors=(409,))
def pause_campaign(campaign_id: int):
    """Stop handing the campaign's e-mails to the mail server until it is resumed."""
    return _campaign(campaigns.pause(account_id(), campaign_id))


@api_route("/campaigns/<int:campaign_id>/resume", "POST", response=CampaignOut, status=202, errors=(409,))
def resume_campaign(campaign_id: int):
    """Carry on with the e-mails not yet sent; none is sent twice."""
    return _campaign(campaigns.resume(account_id(), campaign_id))


@api_route("/campaigns/<int:campaign_id>/cancel", "POST", response=CampaignOut, errors=(409,))
def cancel_campaign(campaign_id: int):
    """Stop for good: e-mails not yet sent become `cancelled`."""
    return _campaign(campaigns.cancel(account_id(), campaign_id))


# The send log


@api_route("/emails", query=EmailQuery, response=Page[EmailOut])
def list_emails(query: EmailQuery):
    """The send log, newest first, filtered by campaign, status or recipient."""
    stmt = emails.send_log(
        account_id(),
        campaign_id=query.campaign_id,
        status=query.status.value if query.status else None,
        recipient=query.recipient,
        before_id=query.cursor,
        limit=query.limit + 1,
    )
    return paging.page(*emails.page(stmt, query.limit))


@api_route("/emails/<int:email_id>", response=EmailDetail)
def get_email(email_id: int):
    """One e-mail with its delivery attempts and timeline."""
    return emails.get(account_id(), email_id)


# Providers and delivery status

from datetime import UTC, datetime  # noqa: E402

from app.api.schemas import ProviderCreate, ProviderOut, ProviderUpdate, StatusOut  # noqa: E402
from app.models import Provider  # noqa: E402
from app.services import providers  # noqa: E402


def _warmup(state) -> dict | None:
    return None if state.warmup is None else vars(state.warmup)


def _provider(state: providers.ProviderState) -> dict:
    provider = state.provider
    return _columns(provider) | {
        "smtp_url": provider.redacted_url,
        "warmup": provider.warmup,
        "breaker": state.breaker,
        "sent_today": state.sent_today,
        "cap_today": state.cap_today,
        "warmup_today": _warmup(state),
    }


def _live(provider: Provider) -> dict:
    return _provider(providers.live_states([provider], current_app.extensions["redis"])[0])


@api_route("/providers", query=PageQuery, response=Page[ProviderOut])
def list_providers(query: PageQuery):
    """Your SMTP providers, newest first, with today's numbers; passwords are never shown."""
    stmt = providers.query(account_id())
    rows, last_id = paging.fetch(stmt, Provider, query)
    return paging.page(providers.live_states(rows, current_app.extensions["redis"]), last_id, _provider)


@api_route("/providers", "POST", body=ProviderCreate, response=ProviderOut, status=201)
def create_provider(body: ProviderCreate):
    """Add an SMTP provider (relay); a warm-up schedule starts today."""
    return _live(providers.create(account_id(), **body.model_dump()))


@api_route("/providers/<int:provider_id>", response=ProviderOut)
def get_provider(provider_id: int):
    """One provider with its breaker, today's sends and today's cap."""
    return _live(providers.get(account_id(), provider_id))


@api_route("/providers/<int:provider_id>", "PATCH", body=ProviderUpdate, response=ProviderOut)
def update_provider(provider_id: int, body: ProviderUpdate):
    """Change a provider; null removes a limit; leave `smtp_url` out to keep the password."""
    changes = body.model_dump(exclude_unset=True)
    restart = changes.pop("restart_warmup", False)
    return _live(providers.update(account_id(), provider_id, restart_warmup=restart, **changes))


@api_route("/providers/<int:provider_id>", "DELETE")
def delete_provider(provider_id: int):
    """Delete a provider; past attempts keep its name."""
    providers.delete(account_id(), provider_id)


def _moment(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _breaker(gate, labels: dict) -> dict:
    times = {"opened_at": _moment(gate.opened_at), "retry_at": _moment(gate.retry_at)}
    return vars(gate) | times | {"kind": gate.kind, "target": gate.target, "label": labels.get(gate.name, gate.target)}


@api_route("/status", response=StatusOut)
def delivery_status():
    """Queues, workers, circuit breakers, rate limits and providers, as your account sees them."""
    report = providers.status(account_id(), current_app.extensions["redis"])
    return report | {
        "breakers": [_breaker(gate, report["labels"]) for gate in report["breakers"]],
        "buckets": [vars(bucket) for bucket in report["buckets"]],
        "providers": [
            {
                "id": state.id,
                "name": state.name,
                "enabled": state.provider.enabled if state.provider else True,
                "breaker": state.breaker,
                "sent_today": state.sent_today,
                "cap_today": state.cap_today,
                "warmup_today": _warmup(state),
            }
            for state in report["providers"]
        ],
        "recent_failures": [
            _columns(attempt) | {"recipient": recipient} for attempt, recipient in report["recent_failures"]
        ],
    }
