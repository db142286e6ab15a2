"""The header's search box: a Message-ID opens its timeline, an address lists its e-mails."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Role, SentEmail
from app.services import lists, subscribers
from tests.audience.conftest import ANN
from tests.factories import make_campaign


@pytest.fixture
def support(person, colleague, signed_in):
    colleague("support@example.com", Role.SUPPORT)
    return signed_in("support@example.com")


def _message_id(email_id: int) -> str:
    return db.session.get(SentEmail, email_id).message_id


def test_every_role_has_the_box_in_the_header(admin, colleague, signed_in):
    for email, role in (("admin@example.com", None), ("m@example.com", Role.MARKETER), ("s@example.com", Role.SUPPORT)):
        if role:
            colleague(email, role)
        page = signed_in(email).get("/").text
        assert 'action="/search"' in page and 'name="q"' in page


@pytest.mark.parametrize(
    "shape",
    ["{id}", "{bare}", "  {id}  ", "Message-ID: {id}", "message-id:{bare}"],
    ids=["brackets", "bare", "spaces", "header", "header-bare"],
)
def test_a_message_id_opens_that_emails_timeline(person, support, shape):
    message_id = _message_id(person.bounced)

    response = support.get("/search", query_string={"q": shape.format(id=message_id, bare=message_id.strip("<>"))})

    assert response.status_code == 302
    assert response.headers["Location"] == f"/emails/{person.bounced}"
    timeline = support.get(response.headers["Location"])
    assert timeline.status_code == 200 and "User unknown" in timeline.text


def test_an_address_lists_that_recipients_emails_and_subscriptions(person, support):
    page = support.get("/search", query_string={"q": " Ann@Example.com "})

    assert page.status_code == 200
    shown = {int(i) for i in re.findall(r'href="/emails/(\d+)"', page.text)}
    mine = set(db.session.scalars(sa.select(SentEmail.id).where(SentEmail.recipient == ANN)))
    assert shown == mine and len(mine) == 3
    assert f'href="/subscribers/{person.subscriber_a}"' in page.text
    assert f'href="/subscribers/{person.subscriber_b}"' in page.text
    assert "user0@example.com" not in page.text


@pytest.mark.parametrize(
    "query",
    ["nobody@example.com", "<nothing@example.com>", "Message-ID: <nope@x>", "just words", "ann@", "@@"],
)
def test_anything_else_says_nothing_found(person, support, query):
    page = support.get("/search", query_string={"q": query})

    assert page.status_code == 200
    assert "Nothing found for" in page.text


def test_another_accounts_mail_is_never_found(person, make_user, signed_in):
    stranger = make_user("stranger@example.com")
    theirs = lists.create(stranger.account_id, "Theirs", "", True)
    subscribers.add(stranger.account_id, theirs.id, "someone@example.com", "", "pending")
    their_message = db.session.scalar(
        sa.select(SentEmail.message_id).where(SentEmail.account_id == stranger.account_id)
    )
    client = signed_in("stranger@example.com")

    for query in (_message_id(person.delivered), ANN):
        assert "Nothing found for" in client.get("/search", query_string={"q": query}).text
    assert client.get("/search", query_string={"q": their_message}).status_code == 302


def test_a_bare_message_id_wins_over_an_address_of_the_same_shape(admin, signed_in):
    mailing_list = lists.create(admin.account_id, "L", "", False)
    make_campaign(admin.account_id, mailing_list.id)
    subscribers.add(admin.account_id, mailing_list.id, "pending@example.com", "", "pending")
    email = db.session.scalar(sa.select(SentEmail))
    client = signed_in("admin@example.com")

    bare = email.message_id.strip("<>")
    assert client.get("/search", query_string={"q": bare}).headers["Location"] == f"/emails/{email.id}"
    assert client.get("/search", query_string={"q": "pending@example.com"}).status_code == 200


def test_the_empty_box_explains_itself(admin, signed_in):
    page = signed_in("admin@example.com").get("/search")
    assert page.status_code == 200 and "Message-ID" in page.text and "Nothing found" not in page.text
