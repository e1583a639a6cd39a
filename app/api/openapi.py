"""OpenAPI 3.1 built from the operation registry: the document cannot drift from the routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app.api.endpoint import REGISTRY, Operation

REF = "#/components/schemas/{model}"
STATUS_TEXT = {
    400: "Malformed request",
    401: "Missing, malformed, unknown or revoked credential",
    403: "Not allowed",
    404: "Not found (or not yours)",
    409: "Conflicts with the current state",
    410: "Gone",
    422: "Invalid field",
}


def _problem_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", "title", "status", "code", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "code": {"type": "string"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "request_id": {"type": ["string", "null"]},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
        "additionalProperties": True,
    }


def build_openapi() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Any]] = []
    for op in REGISTRY:
        if op.body is not None:
            models.append((op.body, "validation"))
        if op.query is not None:
            models.append((op.query, "validation"))
        if op.response is not None:
            models.append((op.response, "serialization"))
    keys, defs = models_json_schema(models, ref_template=REF)
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    seen: set[str] = set()
    for model, mode in models:
        if mode == "validation":
            _refuse_nul(keys[(model, mode)], schemas, seen)
    schemas["Problem"] = _problem_schema()

    paths: dict[str, dict[str, Any]] = {}
    for op in sorted(REGISTRY, key=lambda o: (o.path, o.method)):
        paths.setdefault(op.path, {})[op.method] = _operation(op, keys, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tenantry API",
            "version": "1",
            "description": "Organisations, members, invitations, seats, API keys. Errors: RFC 9457.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "API key"}},
        },
    }


NO_NUL = "^[^\\u0000]*$"


def _refuse_nul(schema: Any, schemas: dict[str, Any], seen: set[str]) -> None:
    """Input strings never hold NUL (PostgreSQL cannot store it; the server answers 422): say so in the
    document, as a pattern on every free-form string of a request body or query."""
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name not in seen:
            seen.add(name)
            _refuse_nul(schemas.get(name), schemas, seen)
        return
    if schema.get("type") == "string" and not {"pattern", "enum", "const"} & schema.keys():
        schema["pattern"] = NO_NUL
    for key in ("properties", "$defs"):
        for child in (schema.get(key) or {}).values():
            _refuse_nul(child, schemas, seen)
    for key in ("items", "additionalProperties"):
        _refuse_nul(schema.get(key), schemas, seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for child in schema.get(key) or []:
            _refuse_nul(child, schemas, seen)


def _path_schema(name: str) -> dict[str, Any]:
    """Path parameters whose values form a closed set say so; ids are opaque strings."""
    from app.orgs.seats import SEAT_TYPES

    if name == "seat_type":
        return {"type": "string", "enum": list(SEAT_TYPES)}
    return {"type": "string", "minLength": 1}


def _operation(op: Operation, keys: dict[Any, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag]}
    if op.description:
        spec["description"] = op.description
    if op.auth != "none":
        spec["security"] = [{"bearer": []}]
    params: list[dict[str, Any]] = [
        {"name": p, "in": "path", "required": True, "schema": _path_schema(p)} for p in op.path_params
    ]
    if op.query is not None:
        qschema = schemas.get(op.query.__name__, {})
        required = set(qschema.get("required", []))
        for name, prop in qschema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    if params:
        spec["parameters"] = params
    if op.body is not None:
        # Required exactly when the model has a required field: an all-optional body may be left out, and the
        # server then takes it as {} (the wrapper does), so the document says what the server does.
        body_schema = schemas.get(op.body.__name__, {})
        spec["requestBody"] = {
            "required": bool(body_schema.get("required")),
            "content": {"application/json": {"schema": keys[(op.body, "validation")]}},
        }
    responses: dict[str, Any] = {}
    if op.status == 204 or (op.response is None and op.content_type == "application/json"):
        responses[str(op.status)] = {"description": "Done"}
    elif op.response is None:  # a streamed file (CSV, JSON Lines): a body, but no JSON model
        responses[str(op.status)] = {
            "description": "Success",
            "content": {media: {"schema": {"type": "string"}} for media in op.content_type.split(",")},
        }
    else:
        schema = keys[(op.response, "serialization")]
        responses[str(op.status)] = {
            "description": "Success",
            "content": {op.content_type: {"schema": schema}},
        }
    codes = set(op.errors)
    if op.body is not None or op.query is not None:
        codes |= {400, 422}
    if op.auth != "none":
        codes |= {401}
    if op.permission or op.auth == "platform":
        codes |= {403}
    if op.path_params:
        codes |= {404}
    for code in sorted(codes):
        responses[str(code)] = {
            "description": STATUS_TEXT.get(code, "Error"),
            "content": {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}},
        }
    spec["responses"] = responses
    return spec
