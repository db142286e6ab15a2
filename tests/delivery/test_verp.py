"""VERP return paths name one e-mail and cannot be forged for another."""

from __future__ import annotations

import re

import pytest

from app.delivery import verp

SECRET = "s3cret-for-tests"


def test_round_trip():
    address = verp.return_path(SECRET, 42, "example.com")
    assert re.fullmatch(r"bounces\+42-[a-z2-7]{10}@example\.com", address)
    assert verp.parse(SECRET, address) == 42


def test_the_mac_depends_on_the_id_and_the_secret():
    assert verp.return_path(SECRET, 1, "example.com") != verp.return_path(SECRET, 2, "example.com")
    assert verp.return_path(SECRET, 1, "example.com") != verp.return_path("other", 1, "example.com")


@pytest.mark.parametrize(
    "transform",
    [str.upper, str.lower, lambda a: f"<{a}>", lambda a: f"  {a}\r\n", lambda a: a.replace("example.com", "x.test")],
    ids=["upper", "lower", "brackets", "whitespace", "other-domain"],
)
def test_parse_is_lenient_about_case_brackets_and_domain(transform):
    address = verp.return_path(SECRET, 1234, "example.com")
    assert verp.parse(SECRET, transform(address)) == 1234


def test_a_mac_for_one_id_does_not_work_for_another():
    address = verp.return_path(SECRET, 7, "example.com")
    mac = address.split("-", 1)[1].split("@")[0]
    assert verp.parse(SECRET, f"bounces+8-{mac}@example.com") is None


def test_a_mac_made_with_another_secret_is_rejected():
    forged = verp.return_path("attacker-guess", 7, "example.com")
    assert verp.parse(SECRET, forged) is None
    assert verp.looks_like(forged)


@pytest.mark.parametrize(
    "address",
    [
        "",
        "bounces@example.com",
        "bounces+7@example.com",
        "bounces+7-@example.com",
        "bounces+x-abcdefghij@example.com",
        "bounces+0-aaaaaaaaaa@example.com",
        "bounces+-7-aaaaaaaaaa@example.com",
        "bounces+7-aaaaaaaaaa1@example.com",
        "bounces+99999999999999999999999-aaaaaaaaaa@example.com",
        "news@example.com",
        "no-at-sign",
    ],
)
def test_malformed_addresses_are_rejected(address):
    assert verp.parse(SECRET, address) is None


def test_an_empty_secret_never_verifies():
    address = verp.return_path(SECRET, 5, "example.com")
    assert verp.parse("", address) is None
    with pytest.raises(ValueError, match="secret"):
        verp.return_path("", 5, "example.com")


@pytest.mark.parametrize("email_id,domain", [(0, "example.com"), (-1, "example.com"), (1, ""), (1, "a@b")])
def test_bad_arguments_are_refused_with_the_value(email_id, domain):
    with pytest.raises(ValueError):
        verp.return_path(SECRET, email_id, domain)


def test_looks_like():
    assert verp.looks_like("Bounces+1-abc@example.com")
    assert not verp.looks_like("bounces@example.com")
    assert not verp.looks_like("news@example.com")
