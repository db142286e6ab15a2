"""Transactional fixtures: the API clients of tests/api, whose answers are checked against the document."""

from __future__ import annotations

import base64

import pytest

from app.services import templates
from tests.api.conftest import anon, api, other, owner  # noqa: F401

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
NOTES = "Zahlung erhalten: 12,00 €\n".encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def payload(**overrides) -> dict:
    """A complete send request: html and text to one recipient."""
    body = {
        "to": "ada@example.com",
        "to_name": "Ada Lovelace",
        "from_email": "billing@shop.example",
        "from_name": "Shop Billing",
        "subject": "Your receipt",
        "html": "<p>Thanks for your order.</p>",
        "text": "Thanks for your order.\n",
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


@pytest.fixture
def welcome(owner):  # noqa: F811 (the imported fixture, requested by name)
    """A saved template of the owner's account with two variables."""
    return templates.create(
        owner.account_id,
        {
            "name": "Welcome",
            "subject": "Welcome, {{ name }}",
            "html": "<p>Hello {{ name }}, your code is <b>{{ code }}</b>.</p>",
            "text": "",
        },
    )
