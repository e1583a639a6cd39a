"""CloudEvents 1.0 structured JSON for an audit event, and its NATS subject. Pure.

The envelope follows CloudEvents 1.0 (attribute names are lower-case ASCII letters and digits only, so the
extension is ``sequence``, never a name with underscores) and the NATS protocol binding 1.0.2, which defines
structured mode only: the whole event is the JSON message body.

- ``id``: the audit event's UUIDv7, also the ``Nats-Msg-Id`` header, so JetStream drops re-publications.
- ``source``: ``/orgs/{org}``; events with no organisation (platform keys) use ``/orgs/_platform``.
  ``source`` + ``id`` is unique, as the spec requires.
- ``type``: ``tenantry.<aggregate>.<action>.v1``; the version moves only on a breaking change of ``data``.
- ``sequence``: the CloudEvents *sequence* extension, whose value is a String that orders lexicographically,
  so the per-org counter is zero-padded to 20 digits (``"00000000000000000042"``). It is scoped by ``source``.
- ``data``: who (``actor``), on what (``targets``), from where (``context``), how it ended (``outcome``),
  what changed (``changes``, before and after, secrets never included) and the type's own ``details``
  (docs/events/schemas/<type>.json).
"""

from __future__ import annotations

from typing import Any

from app.audit import chain
from app.audit.models import AuditEvent

SPEC_VERSION = "1.0"
SEQUENCE_DIGITS = 20


def event_type(action: str) -> str:
    return f"tenantry.{action}.v1"


def format_sequence(seq: int) -> str:
    return str(seq).zfill(SEQUENCE_DIGITS)


def subject_for(prefix: str, event: AuditEvent) -> str:
    """``tenantry.v1.<org>.<aggregate>.<action>``; platform events use ``_platform`` as the org."""
    aggregate, verb = event.action.split(".", 1)
    return f"{prefix}.{event.chain}.{aggregate}.{verb}"


def to_cloudevent(event: AuditEvent, clear: dict[str, Any] | None = None) -> dict[str, Any]:
    """``clear``: the personal fields as recorded (``actor``, ``targets``, ``changes``, ``data``), which the
    bus carries in place of the stored tokens (docs/audit-logs.md, "Erasure")."""
    shown = clear or {
        "actor": {"type": event.actor_type, "id": event.actor_id, "name": event.actor_name},
        "targets": event.targets,
        "changes": event.changes,
        "data": event.data,
    }
    return {
        "specversion": SPEC_VERSION,
        "id": event.id,
        "source": f"/orgs/{event.chain}",
        "type": event_type(event.action),
        "subject": event.targets[0]["id"] if event.targets else event.chain,
        "time": chain.format_time(event.occurred_at),
        "datacontenttype": "application/json",
        "sequence": format_sequence(event.seq),
        "data": {
            "org_id": event.org_id,
            "actor": shown["actor"],
            "targets": shown["targets"],
            "context": {
                "ip": event.context.get("ip"),
                "user_agent": event.context.get("user_agent"),
                "request_id": event.context.get("request_id"),
            },
            "outcome": {"result": event.outcome, "reason": event.reason},
            "changes": shown["changes"],
            "details": shown["data"],
            "hash": event.hash,
            "prev_hash": event.prev_hash,
        },
    }
