"""JSON Schemas of the events (envelope and each type's ``data``) and the AsyncAPI 3.0 document, built
from :mod:`app.audit.contract`. Pure; ``scripts/gen_event_contract.py`` writes them under ``docs/``.

The standalone schema files use JSON Schema 2020-12 with ``$defs``; the AsyncAPI document uses its default
schema format (a JSON Schema draft-07 superset) with references into ``components/schemas``.
"""

from __future__ import annotations

from typing import Any

from app.audit.catalogue import AuditAction
from app.audit.contract import CONTRACT, EventContract

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
HASH_PATTERN = "^[0-9a-f]{64}$"
_SCALARS: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "boolean": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "string[]": {"type": "array", "items": {"type": "string"}},
}


def _field(shorthand: str) -> dict[str, Any]:
    shorthand = shorthand.rstrip("~")
    nullable = shorthand.endswith("?")
    schema = dict(_SCALARS[shorthand.rstrip("?")])
    if nullable:
        schema["type"] = [schema["type"], "null"]
    return schema


def shared_definitions() -> dict[str, dict[str, Any]]:
    nullable_string = {"type": ["string", "null"]}
    return {
        "Actor": {
            "type": "object",
            "description": "Who acted: a member's user, an API key, a SCIM token, or Tenantry itself.",
            "required": ["type", "id", "name"],
            "additionalProperties": False,
            "properties": {
                "type": {"enum": ["user", "api_key", "scim_token", "system"]},
                "id": nullable_string,
                "name": nullable_string,
            },
        },
        "Target": {
            "type": "object",
            "required": ["type", "id"],
            "additionalProperties": False,
            "properties": {"type": {"type": "string"}, "id": {"type": "string"}, "name": {"type": "string"}},
        },
        "Context": {
            "type": "object",
            "description": "Where the change came from (null outside a request: CLI, worker).",
            "required": ["ip", "user_agent", "request_id"],
            "additionalProperties": False,
            "properties": {
                "ip": nullable_string,
                "user_agent": nullable_string,
                "request_id": nullable_string,
            },
        },
        "Change": {
            "type": "object",
            "description": "A changed field's value before and after; secrets never appear.",
            "required": ["before", "after"],
            "additionalProperties": False,
            "properties": {"before": {}, "after": {}},
        },
    }


def event_type(action: AuditAction) -> str:
    return action.event_type


def data_schema(action: AuditAction, ref: str = "#/$defs/") -> dict[str, Any]:
    """The schema of ``data`` for one event type; ``ref`` is where the shared definitions live."""
    spec: EventContract = CONTRACT[action]
    results = ["success", "failure"] if spec.failure else ["success"]
    changes_note = ", ".join(spec.changes) if spec.changes else "none"
    return {
        "title": f"data of {action.event_type}",
        "description": spec.fires,
        "type": "object",
        "required": [
            "org_id",
            "actor",
            "targets",
            "context",
            "outcome",
            "changes",
            "details",
            "hash",
            "prev_hash",
        ],
        "additionalProperties": False,
        "properties": {
            "org_id": {"type": ["string", "null"], "description": "null for platform events"},
            "actor": {"$ref": f"{ref}Actor"},
            "targets": {
                "type": "array",
                "description": "Targets, in order: " + (", ".join(spec.targets) or "none"),
                "items": {"$ref": f"{ref}Target"},
            },
            "context": {"$ref": f"{ref}Context"},
            "outcome": {
                "type": "object",
                "required": ["result", "reason"],
                "additionalProperties": False,
                "properties": {"result": {"enum": results}, "reason": {"type": ["string", "null"]}},
            },
            "changes": {
                "type": "object",
                "description": f"Fields that may change: {changes_note}.",
                "additionalProperties": {"$ref": f"{ref}Change"},
            },
            "details": {
                "type": "object",
                "required": sorted(name for name, kind in spec.details.items() if not kind.endswith("~")),
                "properties": {name: _field(kind) for name, kind in sorted(spec.details.items())},
                "additionalProperties": True,
            },
            "hash": {"type": "string", "pattern": HASH_PATTERN, "description": "this event's chain link"},
            "prev_hash": {"type": "string", "pattern": HASH_PATTERN},
        },
    }


def standalone_data_schema(action: AuditAction) -> dict[str, Any]:
    return {"$schema": DRAFT_2020_12, **data_schema(action), "$defs": shared_definitions()}


def envelope_schema() -> dict[str, Any]:
    """CloudEvents 1.0 structured JSON as Tenantry emits it (``data`` checked by the type's schema)."""
    return {
        "$schema": DRAFT_2020_12,
        "title": "Tenantry CloudEvent",
        "description": "CloudEvents 1.0, structured JSON; the NATS message body. Nats-Msg-Id equals id.",
        "type": "object",
        "required": [
            "specversion",
            "id",
            "source",
            "type",
            "subject",
            "time",
            "datacontenttype",
            "sequence",
            "data",
        ],
        "propertyNames": {"pattern": "^[a-z0-9]+$"},  # CloudEvents attribute naming
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "pattern": UUID_PATTERN, "description": "UUIDv7; also Nats-Msg-Id"},
            "source": {"type": "string", "pattern": "^/orgs/[A-Za-z0-9_]+$"},
            "type": {"type": "string", "pattern": r"^tenantry\.[a-z_]+\.[a-z_.]+\.v[0-9]+$"},
            "subject": {"type": "string", "minLength": 1, "description": "the first target's id"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "sequence": {
                "type": "string",
                "pattern": "^[0-9]{20}$",
                "description": "CloudEvents sequence extension: the per-org counter, zero-padded",
            },
            "data": {"type": "object"},
        },
    }


def _channel_id(action: AuditAction) -> str:
    return action.value


def asyncapi_document(subject_prefix: str = "tenantry.v1") -> dict[str, Any]:
    """AsyncAPI 3.0: one channel and one message per event type, all sent by Tenantry's relay."""
    components_schemas: dict[str, Any] = {"CloudEvent": _draft7(envelope_schema()), **shared_definitions()}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for action in AuditAction:
        name = action.event_type
        data_ref = f"{name}.data"
        components_schemas[data_ref] = data_schema(action, ref="#/components/schemas/")
        messages[name] = {
            "name": name,
            "title": name,
            "summary": CONTRACT[action].fires,
            "contentType": "application/cloudevents+json",
            "headers": {
                "type": "object",
                "properties": {"Nats-Msg-Id": {"type": "string", "description": "the event id"}},
            },
            "payload": {
                "allOf": [
                    {"$ref": "#/components/schemas/CloudEvent"},
                    {
                        "type": "object",
                        "properties": {
                            "type": {"const": name},
                            "data": {"$ref": f"#/components/schemas/{data_ref}"},
                        },
                    },
                ]
            },
        }
        channel = _channel_id(action)
        channels[channel] = {
            "address": f"{subject_prefix}.{{org}}.{action.value}",
            "title": name,
            "parameters": {"org": {"description": "The organisation id, or _platform for platform events."}},
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        operations[f"send.{action.value}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel}"},
            "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Tenantry events",
            "version": "1.0.0",
            "description": (
                "Audit events published by `tenantry relay` to the NATS JetStream stream TENANTRY_EVENTS "
                "(subjects tenantry.v1.>) as CloudEvents 1.0 in structured JSON, at least once, with "
                "Nats-Msg-Id = id so the broker drops re-publications. Consumers must be idempotent "
                "(source + id, or the per-org sequence). Generated by scripts/gen_event_contract.py."
            ),
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {
            "nats": {
                "host": "127.0.0.1:4222",
                "protocol": "nats",
                "description": "TENANTRY_BUS_URL; JetStream stream TENANTRY_EVENTS",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": components_schemas, "messages": messages},
    }


def _draft7(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in schema.items() if key != "$schema"}
