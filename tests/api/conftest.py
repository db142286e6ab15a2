"""API fixtures: clients whose every answer is checked against the served OpenAPI document.

``api`` (owner@example.com's token) and ``anon`` (no token) call the API like the test client
does; each response must have a status the document lists for its route, and a body that
validates against the schema documented for that status. So every test in this folder also
tests the document.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from jsonschema import Draft202012Validator
from werkzeug.exceptions import HTTPException

from app.extensions import db
from app.models import SentEmail, User
from app.services import accounts
from tests.factories import add_subscribers, make_campaign, make_list

OTHER_EMAIL = "other@example.com"


class DocumentedClient:
    """Calls the API through the test client and checks the answer against the document."""

    def __init__(self, app, client, token: str | None = None):
        self.app, self.client, self.token = app, client, token

    def __getattr__(self, method: str):
        def call(path: str, **kwargs):
            headers = kwargs.pop("headers", {})
            if self.token:
                headers.setdefault("Authorization", f"Bearer {self.token}")
            response = getattr(self.client, method)(path, headers=headers, **kwargs)
            check_documented(self.app, self.client, method, path, response)
            return response

        return call


_document: dict = {}


def served_document(client) -> dict:
    if not _document:
        _document.update(client.get("/api/v1/openapi.json").get_json())
    return _document


def documented_schema(app, client, method: str, path: str, status: int) -> dict | None:
    """The schema the document gives for this answer; fails when the status is not documented."""
    try:
        endpoint, _ = app.url_map.bind("localhost").match(urlsplit(path).path, method=method.upper())
    except HTTPException:
        return None  # no route: nothing is documented, the error tests check these answers
    document = served_document(client)
    operations = {
        operation["operationId"]: (route, verb, operation)
        for route, item in document["paths"].items()
        for verb, operation in item.items()
    }
    route, verb, operation = operations[endpoint.removeprefix("api.")]
    answers = operation["responses"]
    documented = f"{verb.upper()} {route} documents {sorted(answers)}"
    assert str(status) in answers, f"{method.upper()} {path} answered {status}; {documented}"
    answer = answers[str(status)]
    if "$ref" in answer:
        answer = document["components"]["responses"][answer["$ref"].rpartition("/")[2]]
    content = answer.get("content", {})
    if content and "application/json" not in content:
        return None  # a documented text answer (a CSV download): its own tests read it
    return content.get("application/json", {}).get("schema", {})


def check_documented(app, client, method: str, path: str, response) -> None:
    schema = documented_schema(app, client, method, path, response.status_code)
    if schema is None:
        return
    if not schema:
        assert response.data == b"", f"{path} answered a body where the document says none"
        return
    document = served_document(client)
    validator = Draft202012Validator(
        {**schema, "components": document["components"]}, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    validator.validate(response.get_json())


@pytest.fixture
def api(app, client, api_token):
    """owner@example.com's client, sending its bearer token."""
    return DocumentedClient(app, client, api_token)


@pytest.fixture
def anon(app, client):
    """A client sending no token."""
    return DocumentedClient(app, client)


@pytest.fixture
def owner(api):
    """The user behind ``api``'s token."""
    return db.session.scalar(sa.select(User).where(User.email == "owner@example.com"))


@pytest.fixture
def other(app, make_user):
    """Another account with a list (one confirmed and one pending subscriber), a campaign, an e-mail."""
    user = make_user(OTHER_EMAIL)
    mailing_list = make_list(user.account_id, "Theirs")
    confirmed = add_subscribers(user.account_id, mailing_list.id, 1, domain="theirs.example.com")[0]
    pending = add_subscribers(user.account_id, mailing_list.id, 1, domain="pending.example.com", status="pending")[0]
    campaign = make_campaign(user.account_id, mailing_list.id, subject="Their news")
    # The pending subscriber's confirmation e-mail: a send-log row of the other account.
    email = db.session.scalar(sa.select(SentEmail).where(SentEmail.subscriber_id == pending.id))
    return {
        "user": user,
        "list": mailing_list.id,
        "subscriber": confirmed.id,
        "campaign": campaign.id,
        "email": email.id,
        "token": accounts.create_token(OTHER_EMAIL),
    }
