"""Every /api/v1 error is JSON ``{"error": {"code", "message", "field"}}``, whatever raised it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import MailingList
from app.services import lists


def _error(response) -> dict:
    assert response.is_json, response.data[:200]
    return response.get_json()["error"]


def _lists() -> int:
    return db.session.scalar(sa.select(sa.func.count(MailingList.id)))


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/lists/abc", "/api/v1/lists/1/nope", "/api/v1/"])
def test_unknown_api_paths_are_json_404(api, path):
    response = api.get(path)

    assert response.status_code == 404
    assert _error(response) == {"code": "not_found", "message": f"no route {path}", "field": None}


def test_a_method_the_route_does_not_take_is_json_405(api):
    response = api.put("/api/v1/lists", json={"name": "x"})

    assert response.status_code == 405
    assert _error(response)["code"] == "method_not_allowed"
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_pages_outside_the_api_keep_their_html_errors(client):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert not response.is_json


@pytest.mark.parametrize("raw", ["{bad", '{"name": "x",}', "\xff", '{"name": "x"} trailing'])
def test_malformed_json_is_400_and_changes_nothing(api, raw):
    response = api.post("/api/v1/lists", data=raw, content_type="application/json")

    assert response.status_code == 400
    assert _error(response)["code"] == "malformed_json"
    assert _lists() == 0


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ({"name": "x", "colour": "red"}, "colour", "colour: unknown field"),
        ({}, "name", "name: Field required"),
        ({"name": 5}, "name", "name: Input should be a valid string"),
        ({"name": "x", "double_opt_in": "yes"}, "double_opt_in", "double_opt_in: Input should be a valid boolean"),
        ([{"name": "x"}], None, "Input should be an object"),
        ({"name": ""}, "name", "name must not be empty"),
        ({"name": "x" * 201}, "name", "name is longer than 200 characters"),
    ],
)
def test_invalid_bodies_are_422_naming_the_field(api, body, field, text):
    response = api.post("/api/v1/lists", json=body)

    assert response.status_code == 422
    assert _error(response) == {"code": "validation_error", "message": text, "field": field}
    assert _lists() == 0


def test_every_rejected_field_is_named(api):
    response = api.post("/api/v1/lists", json={"colour": "red", "double_opt_in": 1})

    message = _error(response)["message"]
    assert "name: Field required" in message
    assert "colour: unknown field" in message
    assert "double_opt_in: Input should be a valid boolean" in message


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=x", "limit"),
        ("cursor=abc", "cursor"),
        ("colour=red", "colour"),
    ],
)
def test_invalid_query_strings_are_422(api, query, field):
    response = api.get(f"/api/v1/lists?{query}")

    assert response.status_code == 422
    assert _error(response)["field"] == field


def test_a_body_larger_than_the_server_accepts_is_413(api, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1000)

    response = api.post("/api/v1/lists", json={"name": "x", "description": "d" * 2000})

    assert response.status_code == 413
    assert _error(response)["code"] == "request_entity_too_large"
    assert _lists() == 0


def test_an_unexpected_failure_is_a_json_500_without_details(api, client, app, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(lists, "query", broken)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)

    response = client.get("/api/v1/lists", headers={"Authorization": f"Bearer {api.token}"})

    assert response.status_code == 500
    error = _error(response)
    assert error["code"] == "internal_server_error"
    assert "secret" not in error["message"]
