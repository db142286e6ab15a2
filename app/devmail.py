"""The development SMTP catcher: an aiosmtpd server that keeps every message in a Maildir.

Used when ``SMTP_URL`` is unset, so a fresh machine can send real SMTP and read the results on
the dashboard's Outbox page (like Mailpit). Never a production relay.
"""

from __future__ import annotations

import mailbox
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


class MaildirHandler:
    def __init__(self, directory: str):
        self.directory = directory
        _box(directory)

    async def handle_DATA(self, server, session, envelope):
        box = _box(self.directory)
        message = mailbox.MaildirMessage(envelope.original_content or envelope.content)
        message["X-Postroom-Envelope-From"] = envelope.mail_from or ""
        message["X-Postroom-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        box.add(message)
        return "250 2.0.0 OK: caught by the Postroom development catcher"


def start(directory: str, address: str) -> Controller:
    host, _, port = address.rpartition(":")
    controller = Controller(MaildirHandler(directory), hostname=host or "127.0.0.1", port=int(port))
    controller.start()
    return controller


@dataclass(frozen=True)
class CaughtMessage:
    key: str
    received_at: datetime
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @property
    def recipients(self) -> str:
        return str(self.message.get("X-Postroom-Envelope-To") or self.message.get("To", ""))

    def part(self, subtype: str) -> str | None:
        body = self.message.get_body(preferencelist=(subtype,))
        return body.get_content() if body is not None else None

    def headers(self) -> list[tuple[str, str]]:
        return [(k, str(v)) for k, v in self.message.items() if not k.startswith("X-Postroom-")]


def _box(directory: str) -> mailbox.Maildir:
    # Maildir(create=True) only builds tmp/new/cur when the folder itself is new.
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(directory, sub), exist_ok=True)
    return mailbox.Maildir(directory, factory=None, create=True)


def _paths(directory: str) -> dict[str, str]:
    """Every caught message's file, by Maildir key, from one listing of new/ and cur/."""
    return {
        name.split(":", 1)[0]: os.path.join(directory, sub, name)
        for sub in ("new", "cur")
        for name in os.listdir(os.path.join(directory, sub))
    }


def _read(key: str, path: str) -> CaughtMessage:
    with open(path, "rb") as fh:
        message = message_from_bytes(fh.read(), policy=policy.default)
    received = datetime.fromtimestamp(os.path.getmtime(path), UTC)
    return CaughtMessage(key, received, message)


def messages(directory: str, limit: int = 200) -> list[CaughtMessage]:
    """The newest caught messages first."""
    _box(directory)
    newest = sorted(_paths(directory).items(), key=lambda kp: (os.path.getmtime(kp[1]), kp[0]), reverse=True)
    return [_read(key, path) for key, path in newest[:limit]]


def message(directory: str, key: str) -> CaughtMessage | None:
    if not key or "/" in key or key.startswith("."):
        return None
    _box(directory)
    path = _paths(directory).get(key)
    return _read(key, path) if path else None


def clear(directory: str) -> None:
    box = _box(directory)
    for key in list(box.keys()):
        box.discard(key)
