"""The outbound client against real sockets on loopback: SSRF refusals, pinning, caps, timeouts.

Safety: the ``no_outside_connect`` guard fails a test the moment the client tries to connect
anywhere but loopback, so a broken check can never send traffic to a private or public range.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.webhooks import client
from app.webhooks.client import Blocked, TransportError, check_url, post


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        self.server.hits.append(Hit(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        self.server.reply(self)

    def log_message(self, *args):
        pass


def _ok(handler):
    handler.send_response(201)
    handler.send_header("X-Receiver", "Yes")
    handler.send_header("Content-Length", "8")
    handler.end_headers()
    handler.wfile.write(b"received")


class Receiver(ThreadingHTTPServer):
    """A real HTTP server on 127.0.0.1 that records every request; ``reply`` writes the answer."""

    daemon_threads = True

    def __init__(self, reply=_ok, tls: ssl.SSLContext | None = None):
        super().__init__(("127.0.0.1", 0), _Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.hits: list[Hit] = []
        self.reply = reply
        self.release = threading.Event()  # lets stalling replies end at teardown
        self.port = self.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def stop(self):
        self.release.set()
        self.shutdown()
        self.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def make_receiver():
    servers = []

    def make(reply):
        servers.append(Receiver(reply))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def connects(monkeypatch):
    """Every address the client connects to; anything off loopback fails the test at once."""
    attempts = []
    real_connect = socket.socket.connect

    def guarded(sock, address):
        attempts.append(address[0])
        if not ipaddress.ip_address(address[0].split("%")[0]).is_loopback:
            pytest.fail(f"client tried to connect to {address[0]}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return attempts


class Listener:
    """Bare listening sockets on 127.0.0.1 (and ::1 when the host has it) to prove nothing arrives."""

    def __init__(self):
        self.sockets = [socket.create_server(("127.0.0.1", 0))]
        self.port = self.sockets[0].getsockname()[1]
        try:
            self.sockets.append(socket.create_server(("::1", self.port), family=socket.AF_INET6))
        except OSError:
            pass
        for sock in self.sockets:
            sock.setblocking(False)

    def pending(self) -> int:
        """Connections the kernel completed (accepted or not) since the last call."""
        count = 0
        for sock in self.sockets:
            while True:
                try:
                    conn, _ = sock.accept()
                except BlockingIOError:
                    break
                conn.close()
                count += 1
        return count


@pytest.fixture
def listener():
    listening = Listener()
    yield listening
    for sock in listening.sockets:
        sock.close()


# Every class of refused address, in decimal, octal, hex, short and IPv6 spellings. "{port}" is
# the listener's port, so a spelling that slipped through would really reach it.
REFUSED = [
    # loopback
    "http://127.0.0.1:{port}/",
    "http://127.255.255.254:{port}/",
    "http://localhost:{port}/",
    "http://LocalHost:{port}/hook",
    "http://LOCALHOST.:{port}/",
    "http://127.0.0.1.:{port}/",
    "http://2130706433:{port}/",
    "http://0177.0.0.1:{port}/",
    "http://017700000001:{port}/",
    "http://0x7f.0.0.1:{port}/",
    "http://0x7f000001:{port}/",
    "http://0X7F.1:{port}/",
    "http://127.1:{port}/",
    "http://127.0.1:{port}/",
    "http://[::1]:{port}/",
    "http://[0:0:0:0:0:0:0:1]:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[::ffff:7f00:1]:{port}/",
    "http://[0:0:0:0:0:ffff:7f00:1]:{port}/",
    "http://[::FFFF:7F00:1]:{port}/",
    "http://[::127.0.0.1]:{port}/",
    "http://[64:ff9b::7f00:1]:{port}/",
    "http://[2002:7f00:1::]:{port}/",
    # unspecified (connecting to it reaches the host itself)
    "http://0.0.0.0:{port}/",
    "http://0:{port}/",
    "http://[::]:{port}/",
    # private (RFC 1918, unique local)
    "http://10.0.0.1:{port}/",
    "http://012.0.0.1:{port}/",
    "http://167772161:{port}/",
    "http://172.16.0.1:{port}/",
    "http://0xac.0x10.0.1:{port}/",
    "http://192.168.1.1:{port}/",
    "http://3232235777:{port}/",
    "http://[fc00::1]:{port}/",
    "http://[fd12:3456::1]:{port}/",
    "http://[::ffff:10.0.0.1]:{port}/",
    "http://[::ffff:c0a8:101]:{port}/",
    "http://[64:ff9b::a00:1]:{port}/",
    "http://[2002:c0a8:101::]:{port}/",
    # link-local, carrier-grade NAT
    "http://169.254.1.1:{port}/",
    "http://0xa9fe0101:{port}/",
    "http://[fe80::1]:{port}/",
    "http://100.64.0.1:{port}/",
    "http://[::ffff:100.64.0.1]:{port}/",
    # multicast, reserved, broadcast, benchmarking, documentation, tunnels
    "http://224.0.0.1:{port}/",
    "http://239.255.255.250:{port}/",
    "http://[ff02::1]:{port}/",
    "http://240.0.0.1:{port}/",
    "http://255.255.255.255:{port}/",
    "http://4294967295:{port}/",
    "http://198.18.0.1:{port}/",
    "http://198.19.255.254:{port}/",
    "http://192.0.2.1:{port}/",
    "http://[2001:db8::1]:{port}/",
    "http://[2001::1]:{port}/",
]

METADATA = [
    "http://169.254.169.254/latest/meta-data/",
    "http://2852039166/",
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://0251.0376.0251.0376/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://[fd00:ec2::254]/",
    "http://100.100.100.200/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.Google.Internal./",
    "https://169.254.169.254/",
]


@pytest.mark.parametrize("url", REFUSED + METADATA)
def test_refused_targets_raise_blocked_without_connecting(url, listener, connects):
    with pytest.raises(Blocked):
        post(url.format(port=listener.port), b"{}", {}, timeout=1)
    assert connects == []
    assert listener.pending() == 0


@pytest.mark.parametrize("url", METADATA)
def test_metadata_stays_blocked_with_allow_private(url, connects):
    with pytest.raises(Blocked, match="metadata"):
        post(url, b"{}", {}, timeout=1, allow_private=True)
    assert connects == []


@pytest.mark.parametrize(
    ("url", "address", "rule"),
    [
        ("http://0x7f000001:{port}/", "127.0.0.1", "loopback"),
        ("http://[::ffff:7f00:1]:{port}/", "127.0.0.1", "IPv4-mapped"),
        ("http://0251.0376.0251.0376:{port}/", "169.254.169.254", "cloud metadata"),
        ("http://3232235777:{port}/", "192.168.1.1", "RFC 1918"),
    ],
)
def test_blocked_message_names_address_and_rule(url, address, rule, listener, connects):
    with pytest.raises(Blocked) as refused:
        post(url.format(port=listener.port), b"{}", {})
    assert address in str(refused.value)
    assert rule in str(refused.value)


def test_allow_private_does_not_open_the_other_special_ranges(listener, connects):
    for url in ("http://0.0.0.0:{port}/", "http://169.254.1.1:{port}/", "http://224.0.0.1:{port}/"):
        with pytest.raises(Blocked):
            post(url.format(port=listener.port), b"{}", {}, allow_private=True)
    assert connects == []
    assert listener.pending() == 0


def test_every_table_entry_is_refused_and_public_addresses_pass():
    for rule in client.BLOCKED_NETWORKS:
        assert client.rule_for(rule.network[0]) is not None, rule
        assert client.rule_for(rule.network[-1]) is not None, rule
    for public in ("8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8", "2002:808:808::", "64:ff9b::808:808"):
        assert client.rule_for(ipaddress.ip_address(public)) is None, public


def test_reaches_local_receiver_with_allow_private(receiver, connects):
    body = b'{"type": "email.delivered"}'

    response = post(
        f"{receiver.url}/hook?x=1",
        body,
        {"webhook-id": "msg_1", "content-type": "application/json"},
        allow_private=True,
    )

    assert response.status == 201
    assert response.headers["x-receiver"] == "Yes"
    assert all(name == name.lower() for name in response.headers)
    assert response.body_excerpt == "received"
    assert 0 <= response.elapsed_ms < 5000
    [hit] = receiver.hits
    assert hit.path == "/hook?x=1"
    assert hit.body == body
    assert hit.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert hit.headers["webhook-id"] == "msg_1"
    assert hit.headers["content-type"] == "application/json"
    assert connects == ["127.0.0.1"]


def test_elapsed_ms_measures_the_exchange(make_receiver):
    def slow(handler):
        time.sleep(0.3)
        _ok(handler)

    slow_receiver = make_receiver(slow)
    response = post(slow_receiver.url, b"{}", {}, allow_private=True)
    assert 300 <= response.elapsed_ms < 3000


def test_body_excerpt_is_the_first_2kb_decoded_leniently(make_receiver):
    # A two-byte character straddles the 2 KB cut: the half left over decodes as U+FFFD.
    payload = b"a" * 2047 + "é".encode() + b"b" * 5000

    def long_reply(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    response = post(make_receiver(long_reply).url, b"{}", {}, allow_private=True)
    assert response.body_excerpt == "a" * 2047 + "\ufffd"


def test_reads_at_most_64kb(make_receiver):
    # The receiver promises 10 MB, sends a little over 64 KB and then stalls: a client reading
    # past its cap would wait for the rest and time out.
    def endless(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(10 * 1024 * 1024))
        handler.end_headers()
        handler.wfile.write(b"x" * (64 * 1024 + 100))
        handler.wfile.flush()
        handler.server.release.wait(10)

    started = time.monotonic()
    response = post(make_receiver(endless).url, b"{}", {}, timeout=3, allow_private=True)
    assert response.status == 200
    assert response.body_excerpt == "x" * 2048
    assert time.monotonic() - started < 2


def test_redirect_is_not_followed(make_receiver):
    landing = make_receiver(_ok)

    def redirect(handler):
        handler.send_response(302)
        handler.send_header("Location", f"{landing.url}/landing")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    origin = make_receiver(redirect)
    response = post(f"{origin.url}/hook", b"{}", {}, allow_private=True)

    assert response.status == 302
    assert response.headers["location"] == f"{landing.url}/landing"
    assert len(origin.hits) == 1
    assert landing.hits == []


def test_silent_receiver_times_out():
    # The kernel completes the handshake from the backlog; nobody ever answers.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        started = time.monotonic()
        with pytest.raises(TransportError, match="timed out after 0.5 s"):
            post(f"http://127.0.0.1:{silent.getsockname()[1]}/", b"{}", {}, timeout=0.5, allow_private=True)
        assert 0.4 < time.monotonic() - started < 1.5


def test_trickling_receiver_hits_the_overall_deadline(make_receiver):
    # One byte every 0.1 s keeps each read under the socket timeout: only the overall deadline stops it.
    def trickle(handler):
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 100:
            if handler.server.release.wait(0.1):
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()

    slow = make_receiver(trickle)
    started = time.monotonic()
    with pytest.raises(TransportError, match="timed out"):
        post(slow.url, b"{}", {}, timeout=0.5, allow_private=True)
    assert time.monotonic() - started < 1.5


def test_connection_refused():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(TransportError, match="connection refused"):
        post(f"http://127.0.0.1:{port}/", b"{}", {}, allow_private=True)


def test_malformed_response(make_receiver):
    def garbage(handler):
        handler.wfile.write(b"HELLO THERE\r\n\r\n")

    with pytest.raises(TransportError, match="malformed response"):
        post(make_receiver(garbage).url, b"{}", {}, allow_private=True)


def test_unresolvable_host():
    with pytest.raises(TransportError, match="cannot resolve"):
        post("http://does-not-exist.invalid/", b"{}", {}, allow_private=True)


def test_localhost_connects_to_the_resolved_address_with_original_host_header(receiver, connects):
    response = post(f"http://LocalHost.:{receiver.port}/", b"{}", {}, allow_private=True)
    assert response.status == 201
    assert receiver.hits[0].headers["host"] == f"localhost:{receiver.port}"
    assert connects[-1] == "127.0.0.1"


def test_dns_rebinding_cannot_swap_the_checked_address(receiver, connects, monkeypatch):
    # The first answer passes the check; any later lookup would lead to the metadata service.
    real_getaddrinfo = socket.getaddrinfo
    lookups = []

    def rebinding(host, *args, **kwargs):
        if host != "rebind.test":
            return real_getaddrinfo(host, *args, **kwargs)
        lookups.append(host)
        answer = "127.0.0.1" if len(lookups) == 1 else "169.254.169.254"
        return real_getaddrinfo(answer, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    response = post(f"http://rebind.test:{receiver.port}/", b"{}", {}, allow_private=True)

    assert response.status == 201
    assert lookups == ["rebind.test"]
    assert connects == ["127.0.0.1"]
    assert receiver.hits[0].headers["host"] == f"rebind.test:{receiver.port}"


@pytest.fixture
def tls_receiver(tmp_path):
    """An HTTPS receiver on 127.0.0.1 whose self-signed certificate names only ``localhost``."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = Receiver(tls=context)
    server.cert = cert
    yield server
    server.stop()


@pytest.fixture
def trust(monkeypatch):
    """Make the client trust one extra certificate file (OpenSSL reads SSL_CERT_FILE)."""

    def trust_file(path):
        monkeypatch.setenv("SSL_CERT_FILE", str(path))
        client._tls_context.cache_clear()

    yield trust_file
    client._tls_context.cache_clear()


def test_https_verifies_the_certificate_against_the_original_host(tls_receiver, trust):
    with pytest.raises(TransportError, match="TLS error"):  # self-signed, not trusted
        post(f"https://localhost:{tls_receiver.port}/", b"{}", {}, timeout=2, allow_private=True)

    trust(tls_receiver.cert)
    response = post(f"https://localhost:{tls_receiver.port}/", b"{}", {}, timeout=2, allow_private=True)
    assert response.status == 201
    assert tls_receiver.hits[-1].headers["host"] == f"localhost:{tls_receiver.port}"

    # Same socket, but the certificate does not name 127.0.0.1.
    with pytest.raises(TransportError, match="TLS error"):
        post(f"https://127.0.0.1:{tls_receiver.port}/", b"{}", {}, timeout=2, allow_private=True)


def test_silent_tls_handshake_times_out():
    with socket.create_server(("127.0.0.1", 0)) as silent:
        with pytest.raises(TransportError, match="timed out after 0.5 s"):
            post(f"https://127.0.0.1:{silent.getsockname()[1]}/", b"{}", {}, timeout=0.5, allow_private=True)


def test_https_to_a_plain_http_receiver_is_a_tls_error(receiver):
    with pytest.raises(TransportError, match="TLS error"):
        post(f"https://127.0.0.1:{receiver.port}/", b"{}", {}, timeout=2, allow_private=True)


def test_post_rejects_a_malformed_url_without_connecting(connects):
    with pytest.raises(ValueError, match="http:// or https://"):
        post("ftp://127.0.0.1/", b"{}", {}, allow_private=True)
    assert connects == []


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://example.com/hooks/postroom", "https://example.com/hooks/postroom"),
        ("HTTPS://Example.COM./hook?x=1#fragment", "https://example.com/hook?x=1"),
        ("http://example.com", "http://example.com/"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("http://bücher.example/", "http://xn--bcher-kva.example/"),
        ("http://[2606:4700:0:0:0:0:0:1111]/", "http://[2606:4700::1111]/"),
        ("http://127.0.0.1:9000/hook", "http://127.0.0.1:9000/hook"),  # WEBHOOK_ALLOW_PRIVATE decides at send time
    ],
)
def test_check_url_accepts_and_normalises(url, normalised):
    assert check_url(url) == normalised


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("example.com/hook", "http:// or https://"),
        ("http:///hook", "no host"),
        ("https://", "no host"),
        ("http://user:secret@example.com/", "user name or password"),
        ("http://user@example.com/", "user name or password"),
        ("http://example.com:0/", "port"),
        ("http://example.com:99999/", "port"),
        ("http://example.com:http/", "port"),
        ("http://example.com/" + "a" * 2048, "longer than 2048"),
        ("http://exa mple.com/", "spaces or control characters"),
        ("http://example.com/\r\nX-Injected: 1", "spaces or control characters"),
        ("http://example.com/café", "ASCII"),
        ("http://[::1/", "malformed"),
        ("http://0x7f.1/", "four decimal numbers"),
        ("http://2130706433/", "four decimal numbers"),
        ("http://169.254.169.254/", "cloud metadata"),
        ("http://[::ffff:a9fe:a9fe]/", "cloud metadata"),
        ("http://metadata.google.internal/", "cloud metadata"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
    ],
)
def test_check_url_rejects_with_a_clear_message(url, message):
    with pytest.raises(ValueError, match=message):
        check_url(url)
