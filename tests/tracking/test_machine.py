"""People and machines apart: bots, link scanners, HEAD requests, Apple's privacy proxy, fast clicks."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import EmailClick, EmailOpen
from app.tracking import machine
from tests.tracking.test_routes import BROWSER, _get

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
OUTLOOK = "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; Microsoft Outlook 16.0.5122; ms-office; MSOffice 16)"
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


@pytest.mark.parametrize(
    "agent,address,method,reason",
    [
        (BROWSER, "203.0.113.7", "get", None),
        (OUTLOOK, "203.0.113.7", "get", None),  # a mail program loading images: someone reads
        (GMAIL_PROXY, "66.249.84.1", "get", None),  # Gmail fetches when the reader opens
        (GOOGLEBOT, "66.249.66.1", "get", "bot"),
        ("Mozilla/5.0", "198.51.100.4", "get", "apple_proxy"),  # Apple's proxy's bare user agent
        (BROWSER, "17.58.101.4", "get", "apple_proxy"),  # from Apple's network
        (BROWSER, "203.0.113.7", "head", "head"),
        ("Barracuda Sentinel (EE)", "203.0.113.7", "get", "scanner"),
    ],
)
def test_opens_are_classified(client, send_campaign, run_jobs, agent, address, method, reason):
    sent = send_campaign(count=1)
    [recipient] = sent.html

    _get(client, sent.pixel(recipient), agent=agent, address=address, method=method)
    run_jobs()

    [row] = db.session.execute(sa.select(EmailOpen.machine, EmailOpen.reason)).all()
    assert tuple(row) == (reason is not None, reason)


@pytest.mark.parametrize(
    "agent,method,delivered_ago,reason",
    [
        (BROWSER, "get", 3600, None),
        (GOOGLEBOT, "get", 3600, "bot"),
        (OUTLOOK, "get", 3600, "bot"),  # Office fetching a link is a previewer, not a reader
        ("python-requests/2.32.3", "get", 3600, "scanner"),
        ("Mozilla/5.0 (compatible; Proofpoint URL Defense)", "get", 3600, "scanner"),
        (BROWSER, "head", 3600, "head"),
        (BROWSER, "get", 0, "too_fast"),  # within seconds of delivery: the receiving side's scanner
    ],
)
def test_clicks_are_classified(client, send_campaign, run_jobs, agent, method, delivered_ago, reason):
    sent = send_campaign(count=1, delivered_ago=delivered_ago)
    [recipient] = sent.html

    response = _get(client, sent.links(recipient)[1], agent=agent, method=method)
    run_jobs()

    assert response.status_code == 302
    [row] = db.session.execute(sa.select(EmailClick.machine, EmailClick.reason)).all()
    assert tuple(row) == (reason is not None, reason)


def test_only_the_network_of_an_address_is_kept():
    assert machine.ip_prefix("198.51.100.77") == "198.51.100.0/24"
    assert machine.ip_prefix("2001:db8:1234:5678::1") == "2001:db8:1234::/48"
    assert machine.ip_prefix("::ffff:198.51.100.77") == "198.51.100.0/24"
    assert machine.ip_prefix("not an address") == "" and machine.ip_prefix(None) == ""
