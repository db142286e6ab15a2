"""Schemathesis against the served OpenAPI document: every operation, no 5xx, answers as documented.

The document is loaded from the app itself (WSGI, no server) and every operation it describes is
called with generated valid and invalid input, as a token of an account made for this run: the
run may create, change and delete whatever that account has (the database and Redis are emptied
after every test, as always). Rate limiting is off for the run so every call reaches its view.

Each operation runs as its own Hypothesis test inside this one pytest test: Schemathesis's pytest
loader for fixtures (``from_fixture``) does not work with pytest 9.2, and the app only exists as
a fixture. Every failing operation is reported, not just the first.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.api.openapi import OPERATIONS
from app.services import accounts, providers, suppressions
from tests.factories import add_subscribers, make_campaign, make_list

FUZZER = "schemathesis@example.com"
# Examples per operation and generation mode: the whole run stays well under 90 s on 2 cores.
EXAMPLES = 30
RUN = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples on every run: a CI failure reproduces on a laptop
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def fuzz_token(app, make_user, monkeypatch):
    """A token of an account of its own, with an object of each kind to find (ids start at 1)."""
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "")
    user = make_user(FUZZER)
    mailing_list = make_list(user.account_id)
    add_subscribers(user.account_id, mailing_list.id, 2)
    make_campaign(user.account_id, mailing_list.id)
    suppressions.add(user.account_id, "blocked@example.com")
    providers.create(user.account_id, "Relay", "smtp://user:pw@relay.example.com:25")
    return accounts.create_token(FUZZER, "schemathesis")


def _run(operation, mode: schemathesis.GenerationMode, headers: dict) -> str | None:
    """Run one operation's examples in one mode; the failure, described, or None."""

    @given(case=operation.as_strategy(mode))
    @RUN
    def call(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        call()
    except Unsatisfiable:
        if mode == schemathesis.GenerationMode.NEGATIVE:
            return None  # the operation takes nothing that could be made invalid
        return f"{operation.label} ({mode.value}): no example could be generated"
    except Exception as exc:  # a check's failure group, or an error generating the examples
        return f"{operation.label} ({mode.value}): {type(exc).__name__}: {exc}"
    return None


def test_every_operation_answers_as_documented_and_never_5xx(app, fuzz_token):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    loaded = list(schema.get_all_operations())
    broken = [str(result.err()) for result in loaded if not isinstance(result, Ok)]
    assert not broken, broken
    operations = [result.ok() for result in loaded]
    # The run covers every route the API has, but the document itself, which it loaded.
    routes = {f"{op.method} {op.path}" for op in OPERATIONS} - {"GET /openapi.json"}
    assert {operation.label for operation in operations} == routes

    headers = {"Authorization": f"Bearer {fuzz_token}"}
    failures = [
        failure
        for operation in operations
        for mode in schemathesis.GenerationMode
        if (failure := _run(operation, mode, headers))
    ]

    assert not failures, "\n\n".join(failures)
