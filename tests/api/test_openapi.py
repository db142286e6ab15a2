"""The OpenAPI document: complete (every /api/v1 rule), well-formed, and true to real answers."""

from __future__ import annotations

import re

from jsonschema import Draft202012Validator
from pydantic import BaseModel

from app.api.openapi import Operation, document

PREFIX = "/api/v1"


def _documented(doc: dict) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in doc["paths"].items() for method in item}


def _routed(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(PREFIX + "/"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix(PREFIX))
            routes |= {(path, method) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def _refs(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_document_is_openapi_3_1_served_without_a_token(anon):
    response = anon.get("/api/v1/openapi.json")

    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"] == "3.1.0"
    assert doc["servers"] == [{"url": "http://localhost/api/v1"}]
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "an API token (`pr_...`)",
    }
    assert doc["security"] == [{"bearer": []}]


def test_every_api_rule_is_documented_and_nothing_else(app, anon):
    doc = anon.get("/api/v1/openapi.json").get_json()

    assert _routed(app) == _documented(doc)
    assert len(_routed(app)) >= 19


def test_every_ref_resolves_and_every_schema_is_valid(anon):
    doc = anon.get("/api/v1/openapi.json").get_json()

    for ref in _refs(doc):
        section, _, name = ref.removeprefix("#/components/").partition("/")
        assert name in doc["components"][section], ref
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    operation_ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))


def test_operations_declare_auth_parameters_bodies_and_errors(anon):
    doc = anon.get("/api/v1/openapi.json").get_json()
    paths = doc["paths"]

    assert paths["/health"]["get"]["security"] == []
    assert set(paths["/health"]["get"]["responses"]) == {"200", "503"}
    assert "security" not in paths["/lists"]["get"]  # the document-wide bearer applies
    assert paths["/lists"]["get"]["responses"]["401"] == {"$ref": "#/components/responses/Unauthorized"}
    create = paths["/lists"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ListCreate"}
    assert create["requestBody"]["required"] is True
    assert {"201", "400", "401", "413", "422"} <= set(create["responses"])
    one = paths["/lists/{list_id}"]["get"]
    assert one["parameters"] == [{"name": "list_id", "in": "path", "required": True, "schema": {"type": "integer"}}]
    assert "404" in one["responses"]
    assert set(paths["/lists/{list_id}"]["delete"]["responses"]) == {"204", "401", "404", "409", "429"}
    limited = doc["components"]["responses"]["RateLimited"]
    assert set(limited["headers"]) == {"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
    assert paths["/campaigns/{campaign_id}/send"]["post"]["requestBody"]["required"] is False
    log = {p["name"]: p for p in paths["/emails"]["get"]["parameters"]}
    assert set(log) == {"campaign_id", "status", "recipient", "cursor", "limit"}
    assert log["status"]["schema"] == {"$ref": "#/components/schemas/EmailStatus"}
    assert log["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}
    error = doc["components"]["schemas"]["ErrorOut"]
    assert error["required"] == ["error"]
    assert doc["components"]["schemas"]["ListCreate"]["additionalProperties"] is False


def test_schemas_come_from_the_models(anon):
    schemas = anon.get("/api/v1/openapi.json").get_json()["components"]["schemas"]

    assert schemas["EmailStatus"]["enum"] == [
        "queued",
        "sending",
        "deferred",
        "delivered",
        "bounced",
        "failed",
        "suppressed",
        "cancelled",
    ]
    assert set(schemas["CampaignStats"]["required"]) == {*schemas["EmailStatus"]["enum"], "total"}
    assert set(schemas["SubscriberCounts"]["required"]) == {"pending", "confirmed", "unsubscribed"}
    assert schemas["EmailDetail"]["properties"]["attempts"]["items"] == {"$ref": "#/components/schemas/AttemptOut"}
    assert schemas["ListOut"]["properties"]["created_at"]["format"] == "date-time"


def test_document_is_built_from_operation_declarations():
    class Thing(BaseModel):
        n: int

    operation = Operation(
        method="PUT",
        rule="/things/<int:thing_id>",
        endpoint="put_thing",
        summary="Replace a thing.",
        body=Thing,
        query=None,
        response=Thing,
        status=200,
        auth=True,
        errors=(409,),
    )
    doc = document("http://x/api/v1", [operation])

    entry = doc["paths"]["/things/{thing_id}"]["put"]
    assert (entry["operationId"], entry["summary"]) == ("put_thing", "Replace a thing.")
    assert set(entry["responses"]) == {"200", "400", "401", "404", "409", "413", "422", "429"}
    assert doc["components"]["schemas"]["Thing"]["required"] == ["n"]
