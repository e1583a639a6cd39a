"""CloudEvents 1.0 structured JSON for an audit event, and its NATS subject. Pure."""

from __future__ import annotations

from typing import Any

from app.audit import chain
from app.audit.models import AuditEvent


def subject_for(prefix: str, event: AuditEvent) -> str:
    """``tenantry.v1.<org>.<aggregate>.<action>``; platform events use ``_platform`` as the org."""
    aggregate, verb = event.action.split(".", 1)
    return f"{prefix}.{event.chain}.{aggregate}.{verb}"


def to_cloudevent(event: AuditEvent) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event.id,
        "source": f"/orgs/{event.chain}",
        "type": f"tenantry.{event.action}.v1",
        "subject": event.targets[0]["id"] if event.targets else event.chain,
        "time": chain.format_time(event.occurred_at),
        "datacontenttype": "application/json",
        "sequence": event.seq,
        "data": {
            "org_id": event.org_id,
            "actor": {"type": event.actor_type, "id": event.actor_id, "name": event.actor_name},
            "targets": event.targets,
            "context": event.context,
            "outcome": event.outcome,
            "reason": event.reason,
            "changes": event.changes,
            **event.data,
        },
    }
