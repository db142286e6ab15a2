"""Browser tests: Playwright driving Debian's Chromium (headless) against a live server.

The live server is the test app served by Werkzeug in a thread, on the test database, Redis and
SMTP server; a background RQ worker (in-process, the same jobs as production) delivers what the
pages enqueue. Screenshots go to ``tests/screenshots/`` (git ignores it).

Chromium is required: CI installs Debian's ``chromium`` package (.ci/run). A missing browser
fails these tests with a clear message rather than skipping them.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from rq import Queue, SimpleWorker
from rq.timeouts import TimerDeathPenalty
from werkzeug.serving import make_server

from tests.smtp_server import free_port

CHROMIUM = os.environ.get("POSTROOM_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


@pytest.fixture
def live_server(app):
    """The app on a free loopback port; e-mail links point at it for the test's duration."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    previous = app.config["BASE_URL"]
    app.config["BASE_URL"] = base_url
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base_url
    server.shutdown()
    thread.join(timeout=10)
    app.config["BASE_URL"] = previous


class _ThreadWorker(SimpleWorker):
    """RQ's in-process worker, runnable off the main thread (signals are the main thread's)."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self):
        pass


@pytest.fixture
def background_worker(app):
    """Runs queued jobs every few tenths of a second while the test drives the browser."""
    stop = threading.Event()

    def loop() -> None:
        with app.app_context():
            queue = Queue(app.config["RQ_QUEUE"], connection=app.extensions["redis"])
            while not stop.wait(0.2):
                _ThreadWorker([queue], connection=app.extensions["redis"]).work(burst=True)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=30)


@pytest.fixture(scope="session")
def _browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium, or set POSTROOM_CHROMIUM)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(_browser, live_server):
    context = _browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def shot(request):
    """``shot(page, "name")`` saves a full-page screenshot named after the test."""
    SCREENSHOTS.mkdir(exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
