"""Header-value rules, applied at every edge and again when a message is built.

Python 3.11.7 predates the CVE-2024-6923 fix: the stdlib generator can turn a newline inside an
RFC 2047 encoded word into a real header. So no header value may contain any control character,
and ``assert_headers`` re-parses every built message to prove it carries exactly the headers we
wrote.
"""

from __future__ import annotations

import re
from email.errors import HeaderParseError
from email.headerregistry import HeaderRegistry
from email.parser import BytesHeaderParser
from email.policy import SMTP

# C0 controls (tab allowed), DEL, C1 controls, and the Unicode line/paragraph separators.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x80-\x9f\u2028\u2029\u0085]")


class HeaderInjectionError(ValueError):
    """A header value carried a character that could start a new header or line."""


def check_header_value(value: str, field: str = "value") -> str:
    """Return ``value`` unchanged, or raise when it holds a line break or control character."""
    if _FORBIDDEN.search(value) or _FORBIDDEN.search(_decoded(value)):
        raise HeaderInjectionError(f"{field} must not contain line breaks or control characters")
    return value


def _decoded(value: str) -> str:
    """The text RFC 2047 encoded words in ``value`` stand for (the generator decodes them)."""
    if "=?" not in value:
        return ""
    try:
        # The same parser the generator uses, so we see exactly what it would emit.
        return str(_registry("X-Check", value))
    except (HeaderParseError, LookupError, UnicodeError, ValueError):
        return ""


_registry = HeaderRegistry()


def assert_headers(message: bytes, expected: list[str]) -> None:
    """Raise unless ``message`` has exactly the ``expected`` header names, once each, in order."""
    parsed = BytesHeaderParser(policy=SMTP).parsebytes(message)
    found = [name.lower() for name in parsed.keys()]
    if found != [name.lower() for name in expected]:
        raise HeaderInjectionError(f"built message has headers {found}, expected {expected}")
