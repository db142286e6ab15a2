"""The one outbound HTTP client: every webhook request leaves through ``post``.

Webhook URLs are typed by users, so a request could be aimed at the host itself, the private
network or a cloud metadata service (SSRF). The check happens at connect time, on the addresses
the name actually resolves to, because a name or a numeric spelling (``0x7f.1``, ``2130706433``)
says nothing about where it leads. ``post`` resolves the host once, refuses the request with
``Blocked`` if ANY address falls in ``BLOCKED_NETWORKS`` (or is otherwise not global), and then
connects to those checked addresses only, never to the name again, so a DNS answer that changes
between check and connect (rebinding) cannot swap the target. ``Host`` and the TLS certificate
check still use the original host name.

``allow_private`` (the app's ``WEBHOOK_ALLOW_PRIVATE``) lets loopback, RFC 1918, unique-local
and carrier-grade NAT targets through for self-hosted setups and tests; cloud metadata,
link-local and every other special range stay refused.

Redirects are never followed (a 3xx is returned like any status), at most ``MAX_READ`` bytes of
the reply are read, and ``timeout`` bounds connecting and reading together (name resolution is
left to the system resolver). ``post`` raises ``Blocked`` for a refused target, ``TransportError``
for every network failure, and ``ValueError`` for a URL that ``check_url`` would reject.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
MAX_READ = 64 * 1024
EXCERPT_BYTES = 2 * 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Blocked(Exception):
    """The target address is refused; the message names the address and the rule."""


class TransportError(Exception):
    """DNS failure, connect failure, timeout, TLS error or malformed response."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names
    body_excerpt: str  # first EXCERPT_BYTES of the body, decoded with errors="replace"
    elapsed_ms: int


class Rule(NamedTuple):
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    reason: str
    private: bool  # allow_private lets it through


def _rules(*rows: tuple[str, str, bool]) -> tuple[Rule, ...]:
    return tuple(Rule(ipaddress.ip_network(net), reason, private) for net, reason, private in rows)


# First match wins: the metadata addresses come before the ranges that contain them.
BLOCKED_NETWORKS = _rules(
    ("169.254.169.254/32", "cloud metadata service", False),
    ("fd00:ec2::254/128", "cloud metadata service (AWS IPv6)", False),
    ("100.100.100.200/32", "cloud metadata service (Alibaba Cloud)", False),
    ("127.0.0.0/8", "loopback", True),
    ("::1/128", "loopback", True),
    ("10.0.0.0/8", "private network (RFC 1918)", True),
    ("172.16.0.0/12", "private network (RFC 1918)", True),
    ("192.168.0.0/16", "private network (RFC 1918)", True),
    ("fc00::/7", "unique local address (RFC 4193)", True),
    ("100.64.0.0/10", "carrier-grade NAT shared space (RFC 6598)", True),
    ("169.254.0.0/16", "link-local", False),
    ("fe80::/10", "link-local", False),
    ("fec0::/10", "site-local (deprecated)", False),
    ("0.0.0.0/8", "unspecified / 'this network'", False),
    ("::/128", "unspecified", False),
    ("224.0.0.0/4", "multicast", False),
    ("ff00::/8", "multicast", False),
    ("240.0.0.0/4", "reserved (includes broadcast 255.255.255.255)", False),
    ("192.0.0.0/24", "IETF protocol assignments", False),
    ("192.0.2.0/24", "documentation (TEST-NET-1)", False),
    ("198.51.100.0/24", "documentation (TEST-NET-2)", False),
    ("203.0.113.0/24", "documentation (TEST-NET-3)", False),
    ("2001:db8::/32", "documentation", False),
    ("198.18.0.0/15", "benchmarking (RFC 2544)", False),
    ("2001:2::/48", "benchmarking", False),
    ("192.88.99.0/24", "6to4 relay anycast (deprecated)", False),
    ("2001::/32", "Teredo tunnel", False),
    ("64:ff9b:1::/48", "local-use NAT64 (RFC 8215)", False),
    ("::ffff:0:0:0/96", "IPv4-translated (RFC 2765)", False),
    ("100::/64", "discard-only", False),
)

# IPv6 ranges whose last 32 bits are an IPv4 address the packet ends up at: judged by that address.
_EMBEDDING_NETWORKS = (
    (ipaddress.ip_network("::/96"), "IPv4-compatible"),
    (ipaddress.ip_network("64:ff9b::/96"), "NAT64"),
)

METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"}
)


def rule_for(address: IPAddress) -> Rule | None:
    """The rule that refuses ``address``, or None when it is a public address."""
    for rule in BLOCKED_NETWORKS:
        if address.version == rule.network.version and address in rule.network:
            return rule
    if address.version == 6:
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            form, ipv4 = embedded
            inner = rule_for(ipv4)
            if inner is None:
                return None
            return inner._replace(reason=f"{form} address of {ipv4}: {inner.reason}")
    # The table is the rule; the ipaddress properties are a backstop for ranges it may miss.
    if not address.is_global or address.is_multicast or address.is_reserved or address.is_private:
        return Rule(ipaddress.ip_network(address), "special-purpose address (not global)", False)
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", address.ipv4_mapped
    if address.sixtofour is not None:
        return "6to4", address.sixtofour
    for network, form in _EMBEDDING_NETWORKS:
        if address in network:
            return form, ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


class Target(NamedTuple):
    scheme: str
    host: str  # lower-case, IDNA-encoded, no trailing dot, no brackets
    port: int
    path: str  # path and query, as sent on the request line

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def _parse(url: str) -> Target:
    """Split ``url`` into what ``post`` needs; ValueError with a clear message when it cannot."""
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"URL is longer than {MAX_URL_LENGTH} characters")
    if any(ch <= " " or ch == "\x7f" for ch in url):
        raise ValueError("URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"URL is malformed ({exc}): {url!r}") from exc
    try:
        port = parts.port
    except ValueError:
        port = 0
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"URL must start with http:// or https://, got {url[:40]!r}")
    if "@" in parts.netloc:
        raise ValueError("URL must not contain a user name or password")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError(f"URL has no host: {url!r}")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"URL host is not a valid domain name: {host!r}") from exc
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"URL port must be a number from 1 to 65535: {parts.netloc!r}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if not path.isascii():
        raise ValueError("URL path and query must be ASCII (percent-encode other characters)")
    return Target(parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path)


def check_url(url: str) -> str:
    """Validate a webhook URL when it is saved and return it normalised; raise ValueError if bad.

    Also refuses, up front, what no setting would ever allow: metadata host names, literal IPs
    in an always-blocked range, and IPv4 in legacy numeric spellings (``0x7f.1``, ``2130706433``)
    that only serve to hide an address. The real check remains ``post``'s, at connect time.
    """
    target = _parse(url)
    if target.host in METADATA_HOSTS:
        raise ValueError(f"URL host {target.host} is a cloud metadata service")
    try:
        literal = ipaddress.ip_address(target.host)
    except ValueError:
        literal = None
        if _is_legacy_ipv4(target.host):
            raise ValueError(f"write IPv4 addresses as four decimal numbers (a.b.c.d), got {target.host}") from None
    if literal is not None:
        rule = rule_for(literal)
        if rule is not None and not rule.private:
            raise ValueError(f"URL host {literal} is refused: {rule.reason}")
        target = target._replace(host=literal.compressed)
    return f"{target.scheme}://{target.netloc}{target.path}"


def _is_legacy_ipv4(host: str) -> bool:
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return True


def _resolve(target: Target, allow_private: bool) -> list[tuple]:
    """Every TCP address of the host, each checked; raises Blocked or TransportError."""
    if target.host in METADATA_HOSTS:
        raise Blocked(f"{target.host}: cloud metadata service name")
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise TransportError(f"cannot resolve {target.host}: {exc}") from exc
    if not infos:
        raise TransportError(f"{target.host} has no address")
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        rule = rule_for(address)
        if rule is not None and not (allow_private and rule.private):
            named = target.host if target.host == str(address) else f"{target.host} resolves to {address}"
            raise Blocked(f"{named}: {rule.reason} ({rule.network})")
    return infos


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to already-checked addresses instead of resolving ``host`` again."""

    def __init__(self, target: Target, addresses: list[tuple], deadline: float):
        super().__init__(target.host, target.port)
        self.addresses = addresses
        self.deadline = deadline
        self.expired = False

    def connect(self) -> None:
        error = OSError("no address to connect to")
        for family, kind, proto, _name, sockaddr in self.addresses:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(max(self.deadline - time.monotonic(), 0.001))
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            self.sock = sock
            return
        raise error

    def abort(self) -> None:
        """Called by the watchdog at the deadline: wake a read that trickles or hangs."""
        self.expired = True
        if self.sock is not None:
            try:
                # The plain socket's shutdown, also for TLS: no close_notify, just wake the reader.
                socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
            except OSError:
                pass


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The system's trusted CAs, certificate and host name checked; built once (it takes ~40 ms)."""
    return ssl.create_default_context()


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    default_port = 443

    def connect(self) -> None:
        super().connect()
        # The certificate must name the host of the URL, not the address we pinned.
        self.sock = _tls_context().wrap_socket(self.sock, server_hostname=self.host, do_handshake_on_connect=False)
        # Handshake once self.sock is the TLS socket, so the watchdog can interrupt a stalled one.
        self.sock.do_handshake()


def post(
    url: str, body: bytes, headers: dict[str, str], *, timeout: float = 10.0, allow_private: bool = False
) -> Response:
    """POST ``body`` to ``url`` once; the reply, whatever its status, comes back as a Response."""
    target = _parse(url)
    started = time.monotonic()
    addresses = _resolve(target, allow_private)
    connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    conn = connection_class(target, addresses, deadline=time.monotonic() + timeout)
    # Socket timeouts bound each read; the watchdog bounds them all together.
    watchdog = threading.Timer(timeout, conn.abort)
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.request("POST", target.path, body=body, headers=headers)
        reply = conn.getresponse()
        content = reply.read(MAX_READ)
    except (OSError, http.client.HTTPException) as exc:
        raise TransportError(_describe(exc, target, timeout, conn.expired)) from exc
    finally:
        watchdog.cancel()
        conn.close()
    reply_headers: dict[str, str] = {}
    for name, value in reply.getheaders():
        name = name.lower()
        reply_headers[name] = f"{reply_headers[name]}, {value}" if name in reply_headers else value
    return Response(
        status=reply.status,
        headers=reply_headers,
        body_excerpt=content[:EXCERPT_BYTES].decode("utf-8", errors="replace"),
        elapsed_ms=round((time.monotonic() - started) * 1000),
    )


def _describe(exc: BaseException, target: Target, timeout: float, expired: bool) -> str:
    where = f"{target.scheme}://{target.netloc}"
    if expired or isinstance(exc, TimeoutError):
        return f"{where}: timed out after {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where}: connection refused"
    if isinstance(exc, ssl.SSLError):
        return f"{where}: TLS error: {exc}"
    if isinstance(exc, http.client.HTTPException):
        return f"{where}: malformed response ({type(exc).__name__}: {exc})"
    return f"{where}: network error: {exc}"
