"""The inbound listener: an SMTP server on ``INBOUND_SMTP`` that receives bounces and complaints.

Each message is handed, once per envelope recipient, to ``bounces.apply_report`` in a worker
thread with its own app context and database session, so a slow database never stalls the SMTP
conversation of other senders. Every message that was read gets ``250``, including reports that
match nothing or cannot be parsed: the sending MTA could do nothing better with a rejection
than retry it for days. Only a failure on our side (the database is down) answers ``451``, so
the report is retried rather than lost. Messages are limited to ``MAX_MESSAGE_BYTES`` and
``MAX_RECIPIENTS`` recipients.
"""

from __future__ import annotations

import asyncio
import logging

from aiosmtpd.controller import Controller

from app.delivery.bounces import apply_report
from app.extensions import db

log = logging.getLogger("postroom.inbound")

MAX_MESSAGE_BYTES = 10 * 1024 * 1024
MAX_RECIPIENTS = 50


class ReportHandler:
    """aiosmtpd handler that records every message it receives as a possible report."""

    def __init__(self, app):
        self.app = app

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self.record, list(envelope.rcpt_tos), raw)
        except Exception:
            log.exception("could not record a report from %s; asking the sender to retry", envelope.mail_from)
            return "451 4.3.0 Temporary failure recording the report, please try again later"
        return "250 2.0.0 OK: report received"

    def record(self, rcpt_tos: list[str], raw: bytes) -> list[str]:
        """Apply one message to every recipient it was addressed to; return the log lines."""
        lines = []
        with self.app.app_context():
            secret = self.app.config["SECRET_KEY"]
            for rcpt in rcpt_tos:
                for line in apply_report(db.session, secret, rcpt, raw):
                    log.info("report to %s: %s", rcpt, line)
                    lines.append(line)
        return lines


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"INBOUND_SMTP must be host:port, got {address!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def start(app, address: str) -> Controller:
    """Start the listener on ``address`` ("host:port") in a background thread; return it."""
    host, port = _split(address)
    controller = Controller(
        ReportHandler(app),
        hostname=host,
        port=port,
        server_hostname="postroom-inbound",
        data_size_limit=MAX_MESSAGE_BYTES,
    )
    controller.start()
    return controller


def start_configured(app) -> Controller:
    """The listener on ``INBOUND_SMTP``, started."""
    # flufl.bounce logs every detector it tries at INFO.
    logging.getLogger("flufl.bounce").setLevel(logging.WARNING)
    return start(app, app.config["INBOUND_SMTP"])
