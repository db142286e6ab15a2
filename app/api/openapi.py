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
from app.api.schemas import MAX_INT, ErrorOut
from app.services.errors import NotFound

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
    429: ("RateLimited", "Too many calls with this token (or from this address without one); see `Retry-After`."),
}
# Headers an error answer carries besides its body.
ERROR_HEADERS = {
    429: {
        "Retry-After": {"description": "seconds to wait before calling again", "schema": {"type": "integer"}},
        "X-RateLimit-Limit": {"description": "calls allowed in the limit's window", "schema": {"type": "integer"}},
        "X-RateLimit-Remaining": {"description": "calls left in the window", "schema": {"type": "integer"}},
        "X-RateLimit-Reset": {"description": "when the window ends (Unix time)", "schema": {"type": "integer"}},
    },
}


@dataclass(frozen=True)
class Header:
    """A request header a view reads itself, described as a header parameter in the document."""

    name: str
    description: str
    max_length: int | None = None
    required: bool = False


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
    headers: tuple[Header, ...] = ()
    rate_limited: bool = True
    # A body the view reads itself (a CSV upload, say): its schema per media type.
    raw_body: dict[str, dict] = field(default_factory=dict)
    # The media type of a success answer the view builds itself (a streamed CSV, say).
    produces: str | None = None

    @property
    def path(self) -> str:
        """The OpenAPI path: ``/lists/<int:list_id>`` becomes ``/lists/{list_id}``."""
        return _PATH_PARAM.sub(r"{\g<name>}", self.rule)

    @property
    def path_params(self) -> list[tuple[str, str]]:
        return [(m["name"], m["converter"] or "string") for m in _PATH_PARAM.finditer(self.rule)]

    @property
    def error_statuses(self) -> list[int]:
        implied = {401: self.auth, 404: bool(self.path_params), 422: bool(self.body or self.query or self.raw_body)}
        implied |= {400: bool(self.body), 413: bool(self.body or self.raw_body), 429: self.rate_limited}
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
    headers: tuple[Header, ...] = (),
    rate_limited: bool = True,
    raw_body: dict[str, dict] | None = None,
    produces: str | None = None,
):
    """Register the decorated view at ``rule`` for ``method`` on the API blueprint.

    The view receives its path arguments, plus ``body`` and ``query`` (validated model
    instances) when declared. It returns what ``response`` is read from (a model object or a
    dict), answered with ``status``; or a ``(result, status)`` pair for a status declared in
    ``also``; or None when ``response`` is None (answered 204). ``rate_limited=False`` exempts
    the route from the per-token rate limit (app/api/limits.py). A view declaring ``raw_body``
    (media type: schema) reads the request stream itself; one declaring ``produces`` returns
    its own Response of that media type. ``headers`` documents request headers the view reads
    itself (``Idempotency-Key``).
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
            status=status if response or produces else 204,
            auth=auth,
            errors=tuple(errors),
            also=dict(also or {}),
            headers=tuple(headers),
            rate_limited=rate_limited,
            raw_body=dict(raw_body or {}),
            produces=produces,
        )

        @functools.wraps(view)
        def handle(**kwargs):
            if operation.auth:
                authenticate()
            _check_path(operation, kwargs)
            if operation.query:
                kwargs["query"] = _parse_query(operation.query)
            if operation.body:
                kwargs["body"] = _parse_body(operation.body)
            return _answer(operation, view(**kwargs))

        bp.add_url_rule(rule, operation.endpoint, handle, methods=[operation.method])
        OPERATIONS.append(operation)
        return handle

    return decorate


def _check_path(operation: Operation, kwargs: dict) -> None:
    # An id larger than any id column holds, or text with a NUL, names nothing: the database
    # must not be asked (SQLite overflows, PostgreSQL refuses NUL).
    for name, converter in operation.path_params:
        value = kwargs[name]
        if (converter == "int" and value > MAX_INT) or (converter != "int" and "\x00" in value):
            raise NotFound(f"{name} {value!r} not found")


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
            # JSON sent under another type (curl -d says form data) is accepted; say so when it is not JSON.
            sent_as = f" (sent as {request.mimetype}; send JSON)" if request.mimetype and not request.is_json else ""
            raise MalformedJson(f"the body is not valid JSON{sent_as}: {broken[0]['msg']}") from None
        raise invalid(exc) from None


def _answer(operation: Operation, result):
    if operation.produces:
        return result  # the view built its own answer (e.g. a streamed CSV)
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
                | ({"headers": ERROR_HEADERS[status]} if status in ERROR_HEADERS else {})
                for status, (name, text) in ERRORS.items()
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
    parameters += [_header_parameter(header) for header in op.headers]
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
    if op.raw_body:
        entry["requestBody"] = {
            "required": True,
            "content": {media: {"schema": schema} for media, schema in op.raw_body.items()},
        }
    responses = {str(op.status): _response(op.response, op.summary, refs, op.produces)}
    for status, model in op.also.items():
        responses[str(status)] = _response(model, model.__doc__ or f"HTTP {status}", refs)
    for status in op.error_statuses:
        responses[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    entry["responses"] = responses
    return entry


def _header_parameter(header: Header) -> dict:
    schema: dict = {"type": "string"}
    if header.max_length is not None:
        schema["maxLength"] = header.max_length
    return {
        "name": header.name,
        "in": "header",
        "required": header.required,
        "description": header.description,
        "schema": schema,
    }


def _response(model: type[BaseModel] | None, description: str, refs: dict, media: str | None = None) -> dict:
    if media:
        return {"description": description.strip(), "content": {media: {"schema": {"type": "string"}}}}
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
