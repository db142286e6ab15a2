"""SMTP transport: one connection reused for a whole batch.

``SmtpTransport.send`` returns the server's final ``Reply`` for one message (accepted or not)
and raises ``ConnectionLost`` when the connection died before a final reply, so the caller
knows the outcome is unknown. ``connect`` raises ``ConnectFailed`` (with the server's greeting
reply when there was one, e.g. a 421).
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from app.delivery import failpoints

SECURITY_MODES = ("none", "starttls", "tls")
_DOT_LINE = re.compile(rb"(?m)^\.")


@dataclass(frozen=True)
class Reply:
    code: int | None
    text: str


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str = "none"
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        """Parse ``smtp://user:pass@host:port?security=none|starttls|tls``."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(f"SMTP URL must start with smtp://, got {url!r}")
        if not parts.hostname:
            raise ValueError(f"SMTP URL has no host: {url!r}")
        query = parse_qs(parts.query)
        security = query.get("security", ["tls" if parts.scheme == "smtps" else "none"])[0]
        if security not in SECURITY_MODES:
            raise ValueError(f"security must be one of {SECURITY_MODES}, got {security!r}")
        default_port = {"none": 25, "starttls": 587, "tls": 465}[security]
        return cls(
            host=parts.hostname,
            port=parts.port or default_port,
            security=security,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class ConnectFailed(Exception):
    def __init__(self, reply: Reply):
        super().__init__(f"{reply.code} {reply.text}")
        self.reply = reply


class ConnectionLost(Exception):
    """The connection ended before the server gave a final reply for a message.

    ``after_data`` is True when the whole message, final dot included, had been sent: the
    server may have accepted it, so a retry may deliver a duplicate.
    """

    def __init__(self, message: str, after_data: bool = False):
        super().__init__(message)
        self.after_data = after_data


def _reply(code: int, msg: bytes | str) -> Reply:
    text = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else msg
    return Reply(code, text[:1024])


class SmtpTransport:
    """A reusable SMTP client connection; use as a context manager."""

    def __init__(self, settings: SmtpSettings, timeout: float = 30.0, local_hostname: str | None = None):
        self.settings = settings
        self.timeout = timeout
        self.local_hostname = local_hostname
        self._smtp: smtplib.SMTP | None = None

    @property
    def host(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def connect(self) -> None:
        s = self.settings
        try:
            if s.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    s.host,
                    s.port,
                    timeout=self.timeout,
                    local_hostname=self.local_hostname,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=self.timeout, local_hostname=self.local_hostname)
            code, msg = smtp.ehlo()
            if s.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, s.password or "")
        except smtplib.SMTPConnectError as exc:
            raise ConnectFailed(_reply(exc.smtp_code, exc.smtp_error)) from exc
        except smtplib.SMTPResponseException as exc:
            raise ConnectFailed(_reply(exc.smtp_code, exc.smtp_error)) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise ConnectFailed(Reply(None, f"connection to {self.host} failed: {exc}")) from exc
        self._smtp = smtp

    def send(self, mail_from: str, rcpt_to: str, data: bytes) -> Reply:
        """Send one message to one recipient and return the final reply."""
        if self._smtp is None:
            self.connect()
        smtp = self._smtp
        sent_body = False
        try:
            code, msg = smtp.mail(mail_from)
            if code != 250:
                smtp.rset()
                return _reply(code, msg)
            code, msg = smtp.rcpt(rcpt_to)
            if code not in (250, 251):
                smtp.rset()
                return _reply(code, msg)
            failpoints.hit("before_data")
            code, msg = smtp.docmd("data")
            if code != 354:
                smtp.rset()
                return _reply(code, msg)
            # smtplib.data() in two steps, so we know whether the final dot left us.
            body = _DOT_LINE.sub(b"..", data)
            if not body.endswith(b"\r\n"):
                body += b"\r\n"
            smtp.send(body + b".\r\n")
            sent_body = True
            code, msg = smtp.getreply()
            return _reply(code, msg)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise ConnectionLost(str(exc) or "connection closed", after_data=sent_body) from exc

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            finally:
                self._smtp = None

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._drop()

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
