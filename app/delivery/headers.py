"""Header-value rules, applied at every edge and again when a message is built.

Python 3.11.7 predates the CVE-2024-6923 fix: the stdlib generator can turn a newline inside an
RFC 2047 encoded word into a real header. So no header value may contain any control character,
and ``assert_headers`` re-parses every built message to prove it carries exactly the headers we
wrote (and, when told, exactly the one address each of ``From`` and ``To`` should hold).

It also predates the gh-80222 fix: when the generator folds a long quoted display name it drops
the quotes, so a name such as ``"x" * 70 + ": evil@example.net, "`` adds an address to ``To``.
``address_header`` writes From and To values that need no folding by the generator: a display
name that is more than plain words becomes RFC 2047 encoded words (base64, so no character of it
means anything to a parser); store the value with ``EmailMessage.set_raw``.
"""

from __future__ import annotations

import base64
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


def assert_headers(message: bytes, expected: list[str], addresses: dict[str, str] | None = None) -> None:
    """Raise unless ``message`` has exactly the ``expected`` header names, once each, in order,
    and each header named in ``addresses`` holds exactly that one address."""
    parsed = BytesHeaderParser(policy=SMTP).parsebytes(message)
    found = [name.lower() for name in parsed.keys()]
    if found != [name.lower() for name in expected]:
        raise HeaderInjectionError(f"built message has headers {found}, expected {expected}")
    for name, address in (addresses or {}).items():
        try:
            held = [a.addr_spec for a in parsed[name].addresses]
        except (AttributeError, HeaderParseError, IndexError, ValueError):
            held = None
        if held != [ascii_address(address)]:
            raise HeaderInjectionError(f"built message's {name} holds {held}, expected [{address!r}]")


# A display name written as it is: words of RFC 5322 atext (no "=" or "?", which could read as an
# encoded word) separated by single spaces. Anything else is encoded.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/^_`{|}~-]+)*")
_WORD_BYTES = 45  # base64 of 45 bytes is 60 characters: "=?utf-8?b?...?=" is 72, "From: " + 72 is 78


def address_header(field: str, name: str, address: str) -> str:
    """The value of header ``field`` for ``address`` shown as ``name``, folded to 78-character lines.

    Raises HeaderInjectionError when either holds a control character. An address too long to
    share its line with a name is written alone.
    """
    check_header_value(name, f"{field} name")
    address = ascii_address(check_header_value(address, f"{field} address"))
    room = 78 - len(f"{field}: ")
    if not name or len(address) + 3 > room:
        return address
    if _PLAIN_NAME.fullmatch(name) and len(name) + len(address) + 3 <= room:
        return f"{name} <{address}>"
    data, words, start = name.encode("utf-8"), [], 0
    while start < len(data):
        end = min(start + _WORD_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # never split a character
            end -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[start:end]).decode('ascii')}?=")
        start = end
    return "\r\n ".join([*words, f"<{address}>"])


def ascii_address(address: str) -> str:
    """``address`` with an internationalised domain in its ASCII (IDNA) form, as headers need it."""
    if address.isascii():
        return address
    local, _, domain = address.rpartition("@")
    try:
        if not local.isascii():
            raise UnicodeError("the local part is not ASCII")
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError as exc:
        raise HeaderInjectionError(f"address {address!r} cannot be written in a header: {exc}") from None
