"""No subject, name or header value can add a header or a recipient: a property, 10,000 examples each.

Arbitrary Unicode text, salted with line breaks (CR, LF, NEL, U+2028/2029), NUL, other controls and
RFC 2047 encoded words that decode to a line break (the CVE-2024-6923 class), goes into the
subject, the from name, the recipient's name (which a personalised subject shows) and the
attachment file name (a header parameter). The message builders must either refuse it with a
``HeaderInjectionError`` (or, for a subject that is itself a broken template, a
``TemplateProblem``) or produce bytes that a strict parser reads as exactly the headers we wrote,
with exactly one address in ``To`` and one in ``From``, and the body intact.

Only the header part is built (app/delivery/render.py and transactional.py, which re-parse their
own output): no SMTP, no database.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import default

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.delivery import personalise
from app.delivery.headers import HeaderInjectionError, check_header_value
from app.delivery.render import CompiledMessage, Content, build_message
from app.delivery.transactional import build
from app.models import TransactionalAttachment, TransactionalEmail

EXAMPLES = 10_000
settings.register_profile(
    "injection",
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written to .hypothesis/: the run is the same every time
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
INJECTION = settings.get_profile("injection")

TRICKS = [
    "\r\n",
    "\n",
    "\r",
    "\x00",
    "\x0b",
    "\x0c",
    "\x85",
    "\u2028",
    "\u2029",
    "\r\nBcc: evil@evil.test",
    "\nTo: evil@evil.test",
    "\r\n\r\n<html>body</html>",
    "=?utf-8?q?=0D=0ABcc:_x@evil.test?=",
    "=?UTF-8?Q?x=0ABcc:_evil@x.test?=",
    "=?utf-8?b?DQpCY2M6IHhAZXZpbC50ZXN0?=",  # "\r\nBcc: x@evil.test"
    "=?iso-8859-1?q?=0A?=",
    "%0d%0aBcc:x@evil.test",
    ", evil@evil.test",
    "<evil@evil.test>",
    '"',
    "\\",
    ";",
    ":",
    "@",
    "=?",
    "?=",
    "\t",
    " ",
    "Bcc:",
    "é漢字🙂",
    "0" * 40,  # long names are where folding goes wrong (gh-80222)
    '"' + "x" * 60 + ', evil@evil.test"',
]
# What a validator lets through: no control character and no line or paragraph separator.
printable = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))


def _passes(value: str) -> bool:
    try:
        check_header_value(value)
    except HeaderInjectionError:
        return False
    return True


VALID_TRICKS = [t for t in TRICKS if _passes(t)]


def _salted(text, tricks):
    """Text with two tricks somewhere in it (a fixed shape: cheaper to draw than a list)."""
    return st.tuples(text(max_size=16), tricks, text(max_size=16), tricks, text(max_size=40)).map("".join)


# What passes validation, salted with the tricks that do: the messages get built, their folding checked.
valid = _salted(lambda max_size: st.text(printable, max_size=max_size), st.sampled_from(VALID_TRICKS))
# Any Unicode text, text salted with any trick, and valid text.
hostile = st.one_of(st.text(max_size=120), _salted(st.text, st.sampled_from(TRICKS)), valid)
DATE = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
TO = "user@example.com"
FROM = "news@example.com"
MESSAGE_ID = "<0123456789abcdef@example.com>"
UNSUBSCRIBE = "http://localhost/u/1.abc"
REFUSALS = (HeaderInjectionError, personalise.TemplateProblem)
# One campaign whose subject shows each recipient's name: compiled once, rendered per recipient.
PERSONAL = CompiledMessage(Content("Hi {{ subscriber.name }}", FROM, "News", "<p>Hi</p>", "Hi\n"))
runs: dict[str, dict[str, float]] = {}


def _parse(data: bytes):
    return BytesParser(policy=default).parsebytes(data)


def _check(data: bytes, expected: list[str], to_name: str | None = None) -> None:
    """The properties of a built message: exactly our headers, one sender, one recipient."""
    parsed = BytesParser(policy=default).parsebytes(data, headersonly=True)
    assert [name.lower() for name in parsed.keys()] == [name.lower() for name in expected]
    [recipient] = parsed["To"].addresses
    assert recipient.addr_spec == TO
    if to_name is not None:
        # Whitespace may differ: Python's parser keeps the space between adjacent encoded words.
        assert "".join(recipient.display_name.split()) == "".join(to_name.split())
    [sender] = parsed["From"].addresses
    assert sender.addr_spec == FROM


def _body(parsed) -> str:
    return parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")


def _count(test: str, outcome: str) -> None:
    run = runs.setdefault(test, {"first": time.perf_counter(), "examples": 0, "refused": 0, "built": 0})
    run[outcome] += 1
    run["last"] = time.perf_counter()


def _build(test: str, make):
    """``make()``'s bytes, or None when it refused with a clear error."""
    try:
        data = make()
    except REFUSALS:
        _count(test, "refused")
        return None
    _count(test, "built")
    return data


@INJECTION
@given(subject=hostile, from_name=hostile, recipient_name=hostile)
def test_campaign_messages_carry_exactly_our_headers(subject, from_name, recipient_name):
    _count("campaign", "examples")
    unsubscribe = ["List-Unsubscribe", "List-Unsubscribe-Post"]
    # The one-off builder (confirmation mails, the slow path).
    data = _build(
        "campaign",
        lambda: build_message(Content(subject, FROM, from_name, "", "body\n", UNSUBSCRIBE), TO, MESSAGE_ID, DATE),
    )
    if data is not None:
        expected = ["From", "To", "Subject", "Date", "Message-ID", *unsubscribe]
        _check(data, [*expected, "MIME-Version", "Content-Type", "Content-Transfer-Encoding"])
        assert _body(_parse(data)) == "body\n"

    # The campaign engine's compiled message, with this subject and from name ...
    def compiled_render():
        compiled = CompiledMessage(Content(subject, FROM, from_name, "<p>html</p>", "text\n"))
        return compiled.head_names, compiled.render(TO, MESSAGE_ID, DATE, UNSUBSCRIBE, 1, recipient)

    recipient = personalise.Recipient(recipient_name, TO)
    built = _build("campaign", compiled_render)
    if built is not None:
        head_names, data = built
        _check(data, [*head_names, "To", "Date", "Message-ID", *unsubscribe])
    # ... and a personalised subject showing this recipient's name (on one line).
    data = _build("campaign", lambda: PERSONAL.render(TO, MESSAGE_ID, DATE, UNSUBSCRIBE, 1, recipient))
    if data is not None:
        _check(data, [*PERSONAL.head_names, "To", "Date", "Message-ID", *unsubscribe])


TRANSACTIONAL_FIELDS = ("subject", "from_name", "to_name", "filename")


@INJECTION
@given(
    target=st.sampled_from(TRANSACTIONAL_FIELDS),
    value=hostile,
    others=st.tuples(*[valid] * len(TRANSACTIONAL_FIELDS)),
)
def test_transactional_messages_carry_exactly_our_headers(target, value, others):
    """One field gets any text; the other three get valid but hostile text (four arbitrary fields
    would almost never all pass the checks, and nothing would be built)."""
    _count("transactional", "examples")
    fields = dict(zip(TRANSACTIONAL_FIELDS, others, strict=True)) | {target: value}
    subject, from_name, to_name, filename = (fields[name] for name in TRANSACTIONAL_FIELDS)
    content = TransactionalEmail(subject=subject, from_email=FROM, from_name=from_name, to_name=to_name, text="body\n")
    content.html = ""
    content.attachments = [
        TransactionalAttachment(position=0, filename=filename or "a.txt", content_type="text/plain", content=b"data")
    ]
    data = _build("transactional", lambda: build(content, TO, MESSAGE_ID, DATE))
    if data is None:
        return
    # (The builder itself re-parses the whole message: its attachments and names are proved intact.)
    _check(data, ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"], to_name)


def test_the_properties_ran_every_example_and_reached_both_outcomes():
    """Run after the two properties (file order): 10,000 examples each, some refused, some built."""
    if not runs:
        pytest.skip("the property tests did not run in this session")
    for name, run in runs.items():
        print(
            f"\n{name}: {run['examples']} examples ({run['built']} messages built, {run['refused']} refused) "
            f"in {run['last'] - run['first']:.1f} s"
        )
        assert run["examples"] >= EXAMPLES and run["built"] > EXAMPLES // 10 and run["refused"] > EXAMPLES // 10
