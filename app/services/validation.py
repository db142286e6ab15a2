"""Input rules shared by every entry point: addresses, header values, sizes."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from app.delivery.headers import HeaderInjectionError, check_header_value
from app.services.errors import ValidationFailed

MAX_SUBJECT = 998
MAX_NAME = 200


def email_address(value: str | None, field: str = "email") -> str:
    """Return the normalised, lower-cased address, or raise ValidationFailed saying why.

    Whitespace around the address, line breaks included (``"bob@example.com\\r\\n"`` pasted from
    a mail client), is trimmed: it is not part of the address. A CR, LF or NUL *inside* what is
    left is refused, at every entry point, since each could end an SMTP command or a header.
    """
    value = (value or "").strip()
    if not value:
        raise ValidationFailed(f"{field} is required", field)
    if any(ch in value for ch in "\r\n\x00"):
        raise ValidationFailed(f"{field} must not contain line breaks or NUL characters", field)
    if len(value) > 254:
        raise ValidationFailed(f"{field} is longer than 254 characters", field)
    try:
        result = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValidationFailed(f"{field} is not a valid e-mail address: {exc}", field) from None
    return result.normalized.lower()


def header_text(value: str | None, field: str, *, required: bool, max_length: int) -> str:
    """A value that will become (part of) a header: no control characters, bounded length."""
    value = (value or "").strip()
    if required and not value:
        raise ValidationFailed(f"{field} must not be empty", field)
    if len(value) > max_length:
        raise ValidationFailed(f"{field} is longer than {max_length} characters", field)
    try:
        check_header_value(value, field)
    except HeaderInjectionError as exc:
        raise ValidationFailed(str(exc), field) from None
    return value


def plain_text(value: str | None, field: str, *, required: bool, max_length: int) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationFailed(f"{field} must not be empty", field)
    if len(value) > max_length:
        raise ValidationFailed(f"{field} is longer than {max_length} characters", field)
    if "\x00" in value:
        raise ValidationFailed(f"{field} must not contain NUL characters", field)
    return value


def body_text(value: str | None, field: str, *, max_bytes: int) -> str:
    value = value or ""
    size = len(value.encode("utf-8"))
    if size > max_bytes:
        raise ValidationFailed(f"{field} is {size} bytes; the limit is {max_bytes} bytes", field)
    if "\x00" in value:
        raise ValidationFailed(f"{field} must not contain NUL characters", field)
    return value
