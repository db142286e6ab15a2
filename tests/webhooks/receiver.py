"""A real webhook receiver on 127.0.0.1 (threaded http.server), and the fixtures that use it.

Each path answers from its script (status, headers, body, delay); the last reply repeats, and
an unscripted path answers 200. Every request is recorded with when it arrived. Test modules
import the fixtures they use from here (``*_fixture``; pytest knows them by their ``name``).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rq import Queue, SimpleWorker
from standardwebhooks.webhooks import Webhook

from app.extensions import db


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = "ok"
    delay: float = 0.0


@dataclass(frozen=True)
class Hit:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    arrived: float  # time.monotonic()

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    def __init__(self):
        self.hits: list[Hit] = []
        self.scripts: dict[str, list[Reply]] = {}
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def script(self, path: str, *replies: Reply) -> None:
        self.scripts[path] = list(replies)

    def to(self, path: str) -> list[Hit]:
        with self.lock:
            return [hit for hit in self.hits if hit.path == path]

    def _reply_for(self, path: str) -> Reply:
        with self.lock:
            script = self.scripts.get(path)
            if not script:
                return Reply()
            return script.pop(0) if len(script) > 1 else script[0]

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                arrived = time.monotonic()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                with receiver.lock:
                    receiver.hits.append(Hit(self.path, headers, body, arrived))
                reply = receiver._reply_for(self.path)
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body.encode()
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up (timeout): nothing to answer
                    pass

            def log_message(self, *args):
                pass

        return Handler

    def start(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def verify(secret: str, hit: Hit) -> dict:
    """Check a request's signature with the reference ``standardwebhooks`` package; the payload."""
    return Webhook(secret).verify(hit.body, hit.headers)


def signatures(hit: Hit) -> list[str]:
    return hit.headers["webhook-signature"].split(" ")


@pytest.fixture(name="receiver")
def receiver_fixture():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture(name="private_ok")
def private_ok_fixture(app):
    """Webhooks may reach loopback (the receiver) for this test."""
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    yield
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False


@pytest.fixture(name="run_webhook_jobs")
def run_webhook_jobs_fixture(app, private_ok):
    """Run the queued webhook jobs with a real RQ worker on the webhook queue; return how many."""

    def run() -> int:
        conn = app.extensions["redis"]
        queue = Queue(app.config["WEBHOOK_QUEUE"], connection=conn)
        queued = queue.count
        SimpleWorker([queue], connection=conn).work(burst=True)
        db.session.expire_all()
        return queued

    return run
