"""Postroom background processes.

python worker.py            an RQ worker (plus its share of the periodic maintenance)
python worker.py --webhooks an RQ worker for the webhook queue only (WEBHOOK_QUEUE)
python worker.py --inbound  the inbound listener for bounces and complaints (INBOUND_SMTP)
python worker.py --catcher  the development SMTP catcher (used when SMTP_URL is unset)
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
import time

import redis
from rq import Queue, Worker

from app import create_app

# The sweep runs once per MAINTENANCE_INTERVAL however many workers run: whoever takes this
# lock (SET NX EX interval) enqueues it.
MAINTENANCE_LOCK = "postroom:maintenance:lock"
WEBHOOK_TICK_SECONDS = 5
log = logging.getLogger("postroom.worker")


def maintenance_ticker(app, stop: threading.Event) -> None:
    """Every few seconds try to take the interval's lock; the one who gets it enqueues the sweep."""
    from app.jobs import queue

    conn = app.extensions["redis"]
    interval = app.config["MAINTENANCE_INTERVAL"]
    while not stop.wait(min(5, interval / 3)):
        try:
            if conn.set(MAINTENANCE_LOCK, "1", nx=True, ex=interval):
                with app.app_context():
                    queue.maintenance()
        except redis.RedisError as exc:
            log.warning("maintenance ticker: Redis unavailable (%s); retrying", exc)
            stop.wait(10)


def webhook_ticker(app, stop: threading.Event) -> None:
    """Every few seconds ring the webhook doorbell when a delivery is due, so retries come on time."""
    from sqlalchemy.exc import SQLAlchemyError

    from app.jobs import webhooks

    while not stop.wait(WEBHOOK_TICK_SECONDS):
        try:
            with app.app_context():
                webhooks.redrive()
        except SQLAlchemyError as exc:
            log.warning("webhook ticker: database unavailable (%s); retrying", exc)


def rebuild_breakers(app) -> None:
    """Re-open breakers for domains and providers that were failing before a restart."""
    from app.delivery import breaker
    from app.delivery.settings import EngineSettings
    from app.extensions import db

    with app.app_context():
        try:
            opened = breaker.rebuild_from_attempts(
                db.session,
                app.extensions["redis"],
                default_provider=EngineSettings.from_config(app.config).provider_name,
            )
            if opened:
                log.info("circuit breakers re-opened from recent attempts: %s", opened)
        finally:
            db.session.remove()
            db.engine.dispose()  # hold no connection that a forked work-horse could inherit


def _forget_parent_connections(app) -> None:
    """In a forked work-horse: never reuse a database connection of the parent process.

    Two processes on one PostgreSQL connection corrupt its protocol state (psycopg's
    prepared statements collide); ``close=False`` leaves the parent's sockets alone.
    """
    from app.extensions import db

    with app.app_context():
        db.engine.dispose(close=False)


def run_worker(burst: bool = False, webhooks: bool = False) -> None:
    """An RQ worker for the e-mail queue, or with ``webhooks`` for the webhook queue alone."""
    from app.jobs import tasks

    app = create_app()
    tasks._app = app  # jobs run in this app; forked work-horses inherit it
    os.register_at_fork(after_in_child=lambda: _forget_parent_connections(app))
    conn = app.extensions["redis"]
    stop = threading.Event()
    ticker = webhook_ticker if webhooks else maintenance_ticker
    threading.Thread(target=ticker, args=(app, stop), daemon=True).start()
    while True:
        try:
            if not webhooks:
                rebuild_breakers(app)
            queue = app.config["WEBHOOK_QUEUE" if webhooks else "RQ_QUEUE"]
            worker = Worker([Queue(queue, connection=conn)], connection=conn)
            worker.work(burst=burst, logging_level="INFO", with_scheduler=False)
            break
        except redis.ConnectionError as exc:
            # Redis is away: wait and come back instead of crash-looping.
            log.warning("worker: Redis unavailable (%s); retrying in 5 s", exc)
            time.sleep(5)
    stop.set()


def serve(controller, banner: str) -> None:
    """Keep an SMTP listener (aiosmtpd controller) running until SIGTERM or SIGINT."""
    print(banner, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    controller.stop()


def run_catcher() -> None:
    from app import devmail

    app = create_app()
    address = app.config["DEV_CATCHER_ADDRESS"]
    controller = devmail.start(app.config["OUTBOX_DIR"], address)
    serve(controller, f"development SMTP catcher listening on {address}; messages in {app.config['OUTBOX_DIR']}")


def run_inbound() -> None:
    from app import inbound

    app = create_app()
    serve(inbound.start_configured(app), f"inbound bounce listener on {app.config['INBOUND_SMTP']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catcher", action="store_true", help="run the development SMTP catcher")
    parser.add_argument("--inbound", action="store_true", help="run the inbound bounce and complaint listener")
    parser.add_argument("--webhooks", action="store_true", help="run a worker for the webhook queue only")
    parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.inbound:
        run_inbound()
    elif args.catcher:
        run_catcher()
    else:
        run_worker(burst=args.burst, webhooks=args.webhooks)


if __name__ == "__main__":
    main()
