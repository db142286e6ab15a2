"""Security fixtures: a signed-in owner with a list, a campaign and a template, and a CSP parser."""

from __future__ import annotations

import pytest

from app.services import templates
from tests.conftest import PASSWORD
from tests.factories import add_subscribers, make_campaign, make_list


def csp(response) -> dict[str, str]:
    """The response's Content-Security-Policy as {directive: sources}."""
    policy = response.headers.get("Content-Security-Policy", "")
    pairs = (part.strip().partition(" ") for part in policy.split(";") if part.strip())
    return {name: sources.strip() for name, _, sources in pairs}


@pytest.fixture
def owner(app, auth, make_user):
    """owner@example.com, signed in, with a list of two subscribers, a draft campaign and a template."""
    user = make_user()
    mailing_list = make_list(user.account_id, "Readers")
    add_subscribers(user.account_id, mailing_list.id, 2)
    campaign = make_campaign(user.account_id, mailing_list.id)
    template = templates.create(user.account_id, {"name": "Receipt", "html": "<p>Hi {{ name }}</p>"})
    auth.login("owner@example.com", PASSWORD)
    return {"user": user, "list": mailing_list, "campaign": campaign, "template": template}
