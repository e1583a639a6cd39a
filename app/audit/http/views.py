"""``/v1/orgs/{org}/audit-logs``: search, export, verification; ``/v1/audit/public-key``."""

from __future__ import annotations

import base64
import json
from typing import Any

from flask import Response

from app.api.endpoint import operation
from app.api.v1 import v1
from app.audit.export import MEDIA_TYPES, export_stream
from app.audit.http.schemas import (
    AuditEventOut,
    AuditExportQuery,
    AuditKeySetOut,
    AuditLogPage,
    AuditLogQuery,
    CoverageOut,
    PublicKeyOut,
    VerifyQuery,
    event_json,
)
from app.audit.integrity import checkpoint_json
from app.audit.verification import BoundedVerifier
from app.web import container, services

DISABLED = (403,)


@operation(
    v1,
    "/orgs/<org_id>/audit-logs",
    "GET",
    summary="Search the organisation's audit log (newest first)",
    tag="audit-logs",
    permission="audit_logs:read",
    query=AuditLogQuery,
    response=AuditLogPage,
    errors=DISABLED,
    description="Filters combine with AND. `action` is exact or a prefix ending in `*` or `.` (`member.*`). "
    "Pages are keyset-based: pass `next_cursor` back as `cursor`; new events never shift later pages. "
    "403 `audit_logs_disabled` while the org has audit logs turned off (events are still recorded).",
)
def list_audit_logs(org_id: str, query: AuditLogQuery) -> AuditLogPage:
    svc = services()
    rows, shown, nxt = svc.audit_log.page(org_id, query.to_filter(), cursor=query.cursor, limit=query.limit)
    return AuditLogPage(
        data=[AuditEventOut.model_validate(event_json(r, s)) for r, s in zip(rows, shown, strict=True)],
        next_cursor=nxt,
    )


@operation(
    v1,
    "/orgs/<org_id>/audit-logs/export",
    "GET",
    summary="Export the audit log as CSV or JSON Lines (streamed)",
    tag="audit-logs",
    permission="audit_logs:read",
    query=AuditExportQuery,
    errors=DISABLED,
    content_type="text/csv,application/x-ndjson",
    description="Same filters as the search, oldest first, streamed as an attachment. The chain head is "
    "signed when the export starts and the export stops there: JSON Lines end with "
    '`{"checkpoint": {...}}`, and both formats carry it base64 JSON in `X-Tenantry-Audit-Checkpoint`. '
    "Verify a JSON Lines file with `python -m app.audit.verify_export FILE` and the key from "
    "`GET /v1/audit/public-key`.",
)
def export_audit_logs(org_id: str, query: AuditExportQuery) -> Response:
    svc = services()
    svc.audit_log.require_enabled(org_id)
    cp = svc.audit_integrity.checkpoint(org_id)
    signed = checkpoint_json(cp) if cp is not None else None
    stamp = svc.container.clock.now().strftime("%Y%m%dT%H%M%SZ")
    body = export_stream(
        container().session_factory,
        org_id,
        query.to_filter(),
        query.format,
        max_seq=cp.seq if cp is not None else 0,
        checkpoint=signed,
        keyring=container().outbox.keyring,
        key=_key_of(svc, signed),
    )
    headers = {
        "Content-Disposition": f'attachment; filename="audit-logs-{org_id}-{stamp}.{query.format}"',
        "Cache-Control": "no-store",
    }
    if signed is not None:
        headers["X-Tenantry-Audit-Checkpoint"] = base64.b64encode(json.dumps(signed).encode()).decode()
    return Response(body, mimetype=MEDIA_TYPES[query.format], headers=headers, direct_passthrough=True)


def _key_of(svc: Any, signed: dict[str, Any] | None) -> dict[str, Any] | None:
    """The public key document of the key that signed ``signed`` (it travels with the export)."""
    if signed is None:
        return None
    docs = svc.audit_integrity.keys.documents()["keys"]
    return next((d for d in docs if d["key_id"] == signed["key_id"]), None)


@operation(
    v1,
    "/orgs/<org_id>/audit-logs/verify",
    "GET",
    summary="Verify the organisation's audit chain, a bounded stretch per call",
    tag="audit-logs",
    permission="audit_logs:read",
    query=VerifyQuery,
    response=CoverageOut,
    errors=DISABLED,
    description="Walks at most `TENANTRY_AUDIT_VERIFY_MAX_EVENTS` events, starting where the previous call "
    "verified up to (or the purge horizon; `restart=true` starts there), checking every hash, link and "
    "signed checkpoint on the way. The answer says what was covered (`from_seq`, `to_seq`, `complete`) and "
    "what to do `next`; `ok: false` names the first broken link. A full verification runs on the worker "
    "and with `tenantry audit verify`.",
)
def verify_audit_logs(org_id: str, query: VerifyQuery) -> CoverageOut:
    svc = services()
    svc.audit_log.require_enabled(org_id)
    verifier = BoundedVerifier(
        svc.session,
        svc.container.clock,
        svc.container.audit_signer,
        cap=svc.container.settings.audit_verify_max_events,
    )
    return CoverageOut.model_validate(verifier.verify(org_id, restart=query.restart).as_dict())


@operation(
    v1,
    "/audit/public-key",
    "GET",
    summary="The Ed25519 public key that signs audit checkpoints",
    tag="audit-logs",
    auth="none",
    response=PublicKeyOut,
)
def audit_public_key() -> PublicKeyOut:
    active = services().audit_integrity.keys.active_signer()
    return PublicKeyOut.model_validate(active.public_key_document())


@operation(
    v1,
    "/audit-keys",
    "GET",
    summary="Every key that signs or signed audit checkpoints, by key id, with its status",
    tag="audit-logs",
    auth="none",
    response=AuditKeySetOut,
    description="Verify a checkpoint with the key named by its `key_id`. A `retired` key signed earlier "
    "checkpoints, which still verify; a `revoked` one is no longer trusted, and checkpoints it signed prove "
    "nothing (docs/audit-logs.md). Keep a copy: a key that later changes is worth asking about.",
)
def audit_keys() -> AuditKeySetOut:
    return AuditKeySetOut.model_validate(services().audit_integrity.keys.documents())
