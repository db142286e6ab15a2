"""The route registry: ``api_route`` validates a route's input and records it for the OpenAPI document.

A view declares its body, query, response models and status once; the same declaration parses
the request (authentication, JSON body, query string), serialises the answer, and becomes the
route's entry in the OpenAPI 3.1 document. No route is described by hand.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from flask import jsonify, request
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from app.api import bp
from app.api.auth import authenticate
from app.api.errors import MalformedJson, invalid
from app.api.schemas import ErrorOut

REF_TEMPLATE = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
# The error answers an operation can give, named once under components/responses.
ERRORS = {
    400: ("BadRequest", "The body is not valid JSON."),
    401: ("Unauthorized", "The bearer token is missing, invalid or revoked."),
    404: ("NotFound", "No such object in your account."),
    409: ("Conflict", "The object's state does not allow this."),
    413: ("TooLarge", "The request is larger than the server accepts."),
    422: ("ValidationError", "A field is missing, unknown or invalid; `field` names it."),
}


@dataclass(frozen=True)
class Operation:
    """One method on one route, as declared to ``api_route``."""

    method: str
    rule: str
    endpoint: str
    summary: str
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    auth: bool
    errors: tuple[int, ...]
    also: dict[int, type[BaseModel]] = field(default_factory=dict)

    @property
    def path(self) -> str:
        """The OpenAPI path: ``/lists/<int:list_id>`` becomes ``/lists/{list_id}``."""
        return _PATH_PARAM.sub(r"{\g<name>}", self.rule)

    @property
    def path_params(self) -> list[tuple[str, str]]:
        return [(m["name"], m["converter"] or "string") for m in _PATH_PARAM.finditer(self.rule)]

    @property
    def error_statuses(self) -> list[int]:
        implied = {401: self.auth, 404: bool(self.path_params), 422: bool(self.body or self.query)}
        implied |= {400: bool(self.body), 413: bool(self.body)}
        return sorted({status for status, applies in implied.items() if applies} | set(self.errors))


OPERATIONS: list[Operation] = []


def api_route(
    rule: str,
    method: str = "GET",
    *,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    auth: bool = True,
    errors: tuple[int, ...] = (),
    also: dict[int, type[BaseModel]] | None = None,
):
    """Register the decorated view at ``rule`` for ``method`` on the API blueprint.

    The view receives its path arguments, plus ``body`` and ``query`` (validated model
    instances) when declared. It returns what ``response`` is read from (a model object or a
    dict), answered with ``status``; or a ``(result, status)`` pair for a status declared in
    ``also``; or None when ``response`` is None (answered 204).
    """

    def decorate(view):
        operation = Operation(
            method=method.upper(),
            rule=rule,
            endpoint=view.__name__,
            summary=(view.__doc__ or view.__name__).strip().splitlines()[0],
            body=body,
            query=query,
            response=response,
            status=status if response else 204,
            auth=auth,
            errors=tuple(errors),
            also=dict(also or {}),
        )

        @functools.wraps(view)
        def handle(**kwargs):
            if operation.auth:
                authenticate()
            if operation.query:
                kwargs["query"] = _parse_query(operation.query)
            if operation.body:
                kwargs["body"] = _parse_body(operation.body)
            return _answer(operation, view(**kwargs))

        bp.add_url_rule(rule, operation.endpoint, handle, methods=[operation.method])
        OPERATIONS.append(operation)
        return handle

    return decorate


def _parse_query(model: type[BaseModel]) -> BaseModel:
    # An empty value (``?status=``) means "no filter", as a blank form field would.
    args = {key: value for key, value in request.args.items() if value != ""}
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        raise invalid(exc) from None


def _parse_body(model: type[BaseModel]) -> BaseModel:
    raw = request.get_data(cache=True)
    try:
        return model.model_validate_json(raw if raw.strip() else b"{}")
    except ValidationError as exc:
        broken = [error for error in exc.errors(include_url=False) if error["type"] == "json_invalid"]
        if broken:
            raise MalformedJson(f"the body is not valid JSON: {broken[0]['msg']}") from None
        raise invalid(exc) from None


def _answer(operation: Operation, result):
    if operation.response is None:
        return "", 204
    result, status = result if isinstance(result, tuple) else (result, operation.status)
    model = operation.response if status == operation.status else operation.also.get(status)
    if model is None:
        raise TypeError(f"{operation.endpoint} answered {status}, which its api_route does not declare")
    return jsonify(model.model_validate(result).model_dump(mode="json")), status


def document(server_url: str, operations: list[Operation] = OPERATIONS) -> dict:
    """The OpenAPI 3.1 document for ``operations``, served from ``server_url``."""
    wanted = [(ErrorOut, "serialization")]
    for op in operations:
        wanted += [(model, "validation") for model in (op.body, op.query) if model]
        wanted += [(model, "serialization") for model in (op.response, *op.also.values()) if model]
    refs, top = models_json_schema(list(dict.fromkeys(wanted)), ref_template=REF_TEMPLATE)
    schemas = top.get("$defs", {})
    paths: dict[str, dict] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs, schemas)
    error_ref = refs[(ErrorOut, "serialization")]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Postroom API",
            "version": "1",
            "description": "Mailing lists, subscribers, campaigns and the send log of your account.",
        },
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {
                name: {"description": text, "content": {"application/json": {"schema": error_ref}}}
                for name, text in ERRORS.values()
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API token (`pr_...`)"}
            },
        },
    }


def _operation(op: Operation, refs: dict, schemas: dict) -> dict:
    entry: dict = {"operationId": op.endpoint, "summary": op.summary}
    if not op.auth:
        entry["security"] = []
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer"} if converter == "int" else {"type": "string"},
        }
        for name, converter in op.path_params
    ]
    if op.query:
        parameters += _query_parameters(_resolve(refs[(op.query, "validation")], schemas))
    if parameters:
        entry["parameters"] = parameters
    if op.body:
        body_ref = refs[(op.body, "validation")]
        entry["requestBody"] = {
            "required": bool(_resolve(body_ref, schemas).get("required")),
            "content": {"application/json": {"schema": body_ref}},
        }
    responses = {str(op.status): _response(op.response, op.summary, refs)}
    for status, model in op.also.items():
        responses[str(status)] = _response(model, model.__doc__ or f"HTTP {status}", refs)
    for status in op.error_statuses:
        responses[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    entry["responses"] = responses
    return entry


def _response(model: type[BaseModel] | None, description: str, refs: dict) -> dict:
    if model is None:
        return {"description": "Done; no content."}
    schema = refs[(model, "serialization")]
    return {"description": description.strip(), "content": {"application/json": {"schema": schema}}}


def _resolve(ref: dict, schemas: dict) -> dict:
    return schemas[ref["$ref"].rpartition("/")[2]]


def _query_parameters(schema: dict) -> list[dict]:
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        param = {"name": name, "in": "query", "required": name in required, "schema": _query_schema(prop)}
        if prop.get("description"):
            param["description"] = prop["description"]
        parameters.append(param)
    return parameters


def _query_schema(prop: dict) -> dict:
    """A query value's schema: a query string has no null, so ``X | None`` documents as X."""
    schema = {key: value for key, value in prop.items() if key not in ("title", "description")}
    options = [option for option in schema.pop("anyOf", []) if option != {"type": "null"}]
    if len(options) == 1:
        schema |= options[0]
    elif options:
        schema["anyOf"] = options
    if schema.get("default", "") is None:
        del schema["default"]
    return schema
