"""Synthetic audit log for the benchmarks: one big org with most rows and a few small ones, loaded into
PostgreSQL with COPY. Every row is a real link of its org's hash chain (so verification can be timed too).
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import psycopg
from sqlalchemy import create_engine, text

from app import migrate
from app.audit import chain
from app.audit.recorder import hashed_fields

ACTIONS: list[tuple[str, int]] = [
    ("member.added", 8), ("member.invited", 10), ("member.role_changed", 6), ("member.removed", 4),
    ("member.suspended", 1), ("invitation.accepted", 8), ("invitation.revoked", 1), ("invitation.resent", 2),
    ("seat.assigned", 12), ("seat.unassigned", 6), ("seat.transferred", 2), ("seat.limit_changed", 1),
    ("seat.requested", 3), ("seat.request_approved", 2), ("api_key.created", 1), ("api_key.revoked", 1),
    ("scim_token.created", 1), ("org.updated", 1), ("session.ended", 10), ("user.created", 6),
]  # fmt: skip
FAILURE_ACTIONS = ["auth.failed", "authz.denied"]
AGENTS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0 Safari/537.36",
    "Okta SCIM Client 1.0",
    "python-requests/2.32",
]
EVENT_COLUMNS = (
    "id", "chain", "org_id", "seq", "action", "occurred_at", "actor_type", "actor_id", "actor_name",
    "targets", "context", "ip", "outcome", "reason", "changes", "data", "prev_hash", "hash",
)  # fmt: skip


@dataclass
class OrgSpec:
    id: str
    events: int
    users: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    scim: list[str] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)


def create_database(server_url: str) -> str:
    name = f"tenantry_bench_audit_{uuid.uuid4().hex[:8]}"
    engine = create_engine(
        server_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    url = server_url.rsplit("/", 1)[0] + "/" + name
    migrate.upgrade(url)
    return url


def drop_database(url: str) -> None:
    server, name = url.rsplit("/", 1)
    engine = create_engine(
        (server + "/postgres").replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def org_specs(total: int, small_orgs: int, rng: random.Random) -> list[OrgSpec]:
    small = max(1, total // 20) if small_orgs else 0
    sizes = [total - small * small_orgs] + [small] * small_orgs
    specs = []
    for i, n in enumerate(sizes):
        scale = max(1, n // 500)  # ~500 events per user over the year in the big org
        spec = OrgSpec(id=f"org_bench{i:02d}{uuid.uuid4().hex[:20]}", events=n)
        spec.users = [f"usr_{i:02d}_{u:05d}" for u in range(min(scale * 1, 5000))]
        spec.members = [f"mem_{i:02d}_{m:05d}" for m in range(min(scale * 2, 10000))]
        spec.keys = [f"key_{i:02d}_{k:03d}" for k in range(20)]
        spec.scim = [f"scim_{i:02d}_{k}" for k in range(2)]
        spec.ips = [f"10.{i}.{rng.randrange(256)}.{rng.randrange(256)}" for _ in range(max(50, scale * 2))]
        specs.append(spec)
    return specs


def _event(spec: OrgSpec, seq: int, at: datetime, rng: random.Random, actions: list[str]) -> dict[str, Any]:
    failure = rng.random() < 0.02
    action = rng.choice(FAILURE_ACTIONS) if failure else rng.choice(actions)
    r = rng.random()
    if r < 0.80:
        actor = ("user", rng.choice(spec.users), "User " + str(rng.randrange(10_000)))
    elif r < 0.93:
        actor = ("api_key", rng.choice(spec.keys), "ci key")
    elif r < 0.98:
        actor = ("scim_token", rng.choice(spec.scim), "Okta")
    else:
        actor = ("system", None, "tenantry")
    member = rng.choice(spec.members)
    targets: list[dict[str, Any]] = [{"type": "member", "id": member}]
    if action.startswith("seat."):
        targets.append({"type": "seat", "id": rng.choice(["pro", "enterprise"])})
    elif action.startswith("api_key."):
        targets = [{"type": "api_key", "id": rng.choice(spec.keys)}]
    ip = rng.choice(spec.ips)
    changes = {"role": {"before": "member", "after": "admin"}} if action == "member.role_changed" else {}
    return {
        "id": str(uuid.UUID(int=(int(at.timestamp() * 1000) << 80) | (7 << 76) | rng.getrandbits(76))),
        "chain": spec.id,
        "org_id": spec.id,
        "seq": seq,
        "action": action,
        "occurred_at": at,
        "actor_type": actor[0],
        "actor_id": actor[1],
        "actor_name": actor[2],
        "targets": targets,
        "context": {
            "ip": ip,
            "user_agent": rng.choice(AGENTS),
            "request_id": uuid.UUID(int=rng.getrandbits(128)).hex,
        },
        "ip": ip,
        "outcome": "failure" if failure else "success",
        "reason": "credential refused" if failure else None,
        "changes": changes,
        "data": {"count": 1} if failure else {},
    }


def load(url: str, total: int, small_orgs: int = 4, days: int = 365, seed: int = 7) -> list[OrgSpec]:
    """COPY ``total`` events (and their target rows, chain heads, orgs) into the database at ``url``."""
    rng = random.Random(seed)
    specs = org_specs(total, small_orgs, rng)
    actions = [a for a, w in ACTIONS for _ in range(w)]
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=days)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        for spec in specs:
            cur.execute(
                "INSERT INTO organizations (id, name, slug, audit_logs_enabled, audit_retention_days, "
                "sso_enforced, created_at, updated_at) VALUES (%s, %s, %s, true, 3650, false, %s, %s)",
                (spec.id, spec.id, spec.id[-24:], start, start),
            )
        heads = []
        with cur.copy(f"COPY audit_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as events_copy:
            target_rows: list[tuple[Any, ...]] = []
            for spec in specs:
                step = (end - start) / spec.events
                prev = chain.GENESIS
                for seq in range(1, spec.events + 1):
                    e = _event(spec, seq, start + step * seq, rng, actions)
                    e["hash"] = chain.link(prev, hashed_fields(SimpleNamespace(**e)))  # type: ignore[arg-type]
                    e["prev_hash"] = prev
                    prev = e["hash"]
                    events_copy.write_row(
                        [
                            json.dumps(e[c]) if c in ("targets", "context", "changes", "data") else e[c]
                            for c in EVENT_COLUMNS
                        ]
                    )
                    for pos, t in enumerate(e["targets"]):
                        target_rows.append((e["id"], pos, spec.id, t["type"], t["id"], e["occurred_at"]))
                heads.append((spec.id, spec.events, prev))
        with cur.copy(
            "COPY audit_event_targets (event_id, position, org_id, target_type, target_id, occurred_at) "
            "FROM STDIN"
        ) as targets_copy:
            for row in target_rows:
                targets_copy.write_row(row)
        cur.executemany("INSERT INTO audit_chain_heads (chain, seq, hash) VALUES (%s, %s, %s)", heads)
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE audit_events")
        cur.execute("VACUUM ANALYZE audit_event_targets")
    return specs
