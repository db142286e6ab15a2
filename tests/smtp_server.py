"""A real SMTP server on loopback (aiosmtpd) that records messages and replies as scripted."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)


@dataclass
class ScriptedHandler:
    """``replies`` maps a recipient to the reply its DATA gets; everyone else gets 250."""

    replies: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    # Recipients whose next message is stored and then answered by hanging up (once each).
    hang_up_after_data: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):
        rcpt = envelope.rcpt_tos[0].lower()
        reply = self.replies.get(rcpt)
        if reply:
            return reply
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
            if rcpt in self.hang_up_after_data:
                self.hang_up_after_data.discard(rcpt)
                server.transport.close()
        return "250 2.0.0 OK queued"


class SmtpServer:
    def __init__(self):
        self.port = free_port()
        self.handler = ScriptedHandler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?security=none"

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def to(self, address: str) -> list[Received]:
        return [r for r in self.handler.received if address.lower() in [t.lower() for t in r.rcpt_tos]]

    def reset(self) -> None:
        self.handler.replies.clear()
        self.handler.hang_up_after_data.clear()
        self.handler.received.clear()

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
