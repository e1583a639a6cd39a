"""Query parameters and bodies of the admins' audit log API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from sqlalchemy import Row

from app.api.schema import CURSOR_PATTERN, Query, QueryBool, ResponseBody, Rfc3339
from app.audit.chain import format_time
from app.audit.search import AuditFilter
from app.audit.subject_keys import Shown


class AuditFilterQuery(Query):
    since: Rfc3339 | None = Field(default=None, description="RFC 3339; events at or after it")
    until: Rfc3339 | None = Field(default=None, description="RFC 3339; events before it")
    action: str | None = Field(
        default=None, max_length=64, description="Exact (member.invited) or prefix (member.* or member.)"
    )
    actor: str | None = Field(default=None, max_length=64, description="Actor id")
    actor_type: Literal["user", "api_key", "scim_token", "system"] | None = None
    target: str | None = Field(default=None, max_length=255, description="Target id")
    target_type: str | None = Field(default=None, max_length=40)
    outcome: Literal["success", "failure"] | None = None
    ip: str | None = Field(default=None, max_length=64)

    def to_filter(self) -> AuditFilter:
        return AuditFilter(
            since=self.since,
            until=self.until,
            action=self.action,
            actor=self.actor,
            actor_type=self.actor_type,
            target=self.target,
            target_type=self.target_type,
            outcome=self.outcome,
            ip=self.ip,
        )


class AuditLogQuery(AuditFilterQuery):
    cursor: str | None = Field(
        default=None, max_length=512, pattern=CURSOR_PATTERN, description="next_cursor of the previous page"
    )
    limit: int = Field(default=100, ge=1, le=1000)


class AuditExportQuery(AuditFilterQuery):
    format: Literal["csv", "jsonl"] = "jsonl"


class ActorOut(ResponseBody):
    type: str
    id: str | None
    name: str | None


class ContextOut(ResponseBody):
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


class AuditEventOut(ResponseBody):
    id: str
    sequence: int
    action: str
    type: str
    occurred_at: str
    actor: ActorOut
    targets: list[dict[str, Any]]
    context: ContextOut
    outcome: str
    reason: str | None
    changes: dict[str, Any]
    data: dict[str, Any]


class AuditLogPage(ResponseBody):
    data: list[AuditEventOut]
    next_cursor: str | None = None


def event_json(row: Row[Any], shown: Shown | None = None) -> dict[str, Any]:
    """The published shape of one event (API pages), sealed personal values shown or ``[erased]``."""
    ctx = row.context or {}
    if shown is not None:
        return {
            **event_json(row),
            "actor": {"type": row.actor_type, "id": row.actor_id, "name": shown.actor_name},
            "targets": shown.targets,
            "changes": shown.changes,
            "data": shown.data,
        }
    return {
        "id": row.id,
        "sequence": row.seq,
        "action": row.action,
        "type": f"tenantry.{row.action}.v1",
        "occurred_at": format_time(row.occurred_at),
        "actor": {"type": row.actor_type, "id": row.actor_id, "name": row.actor_name},
        "targets": row.targets or [],
        "context": {k: ctx.get(k) for k in ("ip", "user_agent", "request_id")},
        "outcome": row.outcome,
        "reason": row.reason,
        "changes": row.changes or {},
        "data": row.data or {},
    }


class BrokenLinkOut(ResponseBody):
    seq: int
    event_id: str
    reason: str


class ChainPoint(ResponseBody):
    seq: int
    hash: str


class CheckpointOut(ResponseBody):
    chain: str
    seq: int
    hash: str
    time: str
    key_id: str
    signature: str


class PublicKeyOut(ResponseBody):
    algorithm: str
    key_id: str
    public_key: str = Field(description="Raw 32-byte Ed25519 public key, base64")
    public_key_pem: str


class AuditKeyOut(ResponseBody):
    key_id: str
    algorithm: str
    public_key: str = Field(description="Raw 32-byte Ed25519 public key, base64")
    public_key_pem: str
    status: Literal["active", "retired", "revoked"] = Field(
        description="active signs now; retired signed earlier checkpoints, which still verify; revoked is no "
        "longer trusted: checkpoints signed by it prove nothing"
    )
    created_at: str
    retired_at: str | None
    revoked_at: str | None
    revoked_reason: str | None


class AuditKeySetOut(ResponseBody):
    active: str = Field(description="The key id that signs new checkpoints")
    keys: list[AuditKeyOut]


class VerifyQuery(Query):
    restart: QueryBool = Field(
        default=False, description="Start over from the purge horizon instead of the last verified point"
    )


class CoverageOut(ResponseBody):
    chain: str
    ok: bool
    from_seq: int | None = Field(description="The first event this call checked")
    to_seq: int | None = Field(description="The last event this call checked")
    head_seq: int
    complete: bool = Field(description="The walk reached the chain head")
    checked: int
    resumed: bool = Field(description="Started from the point a previous call verified")
    checkpoints: list[int] = Field(description="Seqs of the signed checkpoints checked on the way")
    broken: BrokenLinkOut | None = None
    checkpoint: CheckpointOut | None = Field(default=None, description="Newest signed checkpoint checked")
    next: str | None = Field(description="What to do next: call again, or nothing")
    first_seq: int | None = Field(description="As from_seq (earlier answers' name)")
    head: ChainPoint | None
