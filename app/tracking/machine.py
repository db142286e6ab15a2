"""Tell opens and clicks made by people from those made by machines, and say why.

Reasons (stored with each event; null means a person):

``bot``          the user agent is a known crawler (crawlerdetect's list)
``scanner``      the user agent is a security gateway or an HTTP library that follows links
                 (Barracuda, Proofpoint, Mimecast, Microsoft's Safe Links, curl, ...)
``head``         a HEAD request: browsers GET, link checkers HEAD
``apple_proxy``  an open fetched by Apple Mail Privacy Protection, which loads every image when
                 the message arrives whether or not anyone reads it: the request comes from
                 Apple's network (17.0.0.0/8) or with the bare user agent ``Mozilla/5.0`` that
                 its proxy sends. A heuristic: Apple publishes no definitive list.
``too_fast``     a click within ``TOO_FAST_SECONDS`` of delivery: scanners at the receiving
                 side follow links as the message arrives; people take longer
``burst``        two or more different links of one message clicked within ``BURST_SECONDS``,
                 as a scanner that follows every link does (decided by ``store``, which sees
                 a message's clicks together)

crawlerdetect is written for web sites, where mail programs fetching a page are previewers. For
the pixel they are readers: an open by Outlook, Thunderbird, or Gmail's and Yahoo's image
proxies (which fetch it when a person opens the message) counts as a person's.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from functools import lru_cache

from crawlerdetect import CrawlerDetect

BOT, SCANNER, HEAD, APPLE_PROXY, TOO_FAST, BURST = "bot", "scanner", "head", "apple_proxy", "too_fast", "burst"
TOO_FAST_SECONDS = 10
BURST_SECONDS = 1.0
_APPLE = ipaddress.ip_network("17.0.0.0/8")
_MAIL_READERS = re.compile(
    r"GoogleImageProxy|YahooMailProxy|Microsoft Outlook|Microsoft Office/|MacOutlook|Outlook-(?:iOS|Android)|"
    r"Thunderbird",
    re.IGNORECASE,
)
_SCANNERS = re.compile(
    r"barracuda|proofpoint|mimecast|safelinks|forcepoint|trendmicro|symantec|messagelabs|ironport|zscaler|"
    r"python-requests|python-urllib|aiohttp|python-httpx|go-http-client|\bjava/|okhttp|libwww-perl|\bwget\b|"
    r"\bcurl/|axios/|node-fetch",
    re.IGNORECASE,
)
_detector = CrawlerDetect()


@lru_cache(maxsize=4096)
def _crawler(user_agent: str) -> bool:
    return bool(user_agent) and _detector.is_crawler(user_agent)


def _agent_reason(user_agent: str, reading: bool) -> str | None:
    if _SCANNERS.search(user_agent):
        return SCANNER
    if _crawler(user_agent) and not (reading and _MAIL_READERS.search(user_agent)):
        return BOT
    return None


def _in_apple_network(ip_prefix: str) -> bool:
    try:
        return ipaddress.ip_network(ip_prefix, strict=False).subnet_of(_APPLE)
    except (ValueError, TypeError):
        return False


def open_reason(method: str, user_agent: str, ip_prefix: str) -> str | None:
    """Why an open was a machine's, or None for a person."""
    if method == "HEAD":
        return HEAD
    if user_agent.strip() == "Mozilla/5.0" or _in_apple_network(ip_prefix):
        return APPLE_PROXY
    return _agent_reason(user_agent, reading=True)


def click_reason(method: str, user_agent: str, at: datetime, delivered_at: datetime | None) -> str | None:
    """Why a click was a machine's (``burst`` aside), or None for a person."""
    if method == "HEAD":
        return HEAD
    reason = _agent_reason(user_agent, reading=False)
    if reason is None and delivered_at is not None and (at - delivered_at).total_seconds() < TOO_FAST_SECONDS:
        return TOO_FAST
    return reason


def ip_prefix(address: str | None) -> str:
    """The network an address belongs to (IPv4 /24, IPv6 /48): all that is kept of it."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return ""
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
