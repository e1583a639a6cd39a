"""Synthetic authorization data for bench/authz.py: the same policy as Casbin rules and as database rows."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Integer, String, Table, create_engine, text

from app.models import metadata
from app.rbac.policy import catalogue, template_rules

ROLE_WEIGHTS = [("member", 70), ("admin", 12), ("billing", 5), ("owner", 5), ("analyst", 8)]
ANALYST = ["audit_logs:read", "members:read", "org:read", "seats:read"]


@dataclass
class Synthetic:
    orgs: list[str]
    custom: list[tuple[str, str, str]] = field(default_factory=list)  # p rules in org domains
    # (member id, user id, org, role, seat or None, status)
    members: list[tuple[str, str, str, str, str | None, str]] = field(default_factory=list)

    def rules(
        self,
    ) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]], list[tuple[str, str, str]]]:
        g = [(u, f"role:{r}", o) for _m, u, o, r, _s, st in self.members if st == "active"]
        g2 = [(u, f"seat:{s}", o) for _m, u, o, _r, s, st in self.members if s and st == "active"]
        return template_rules() + self.custom, g, g2


def hexid(prefix: str, n: int) -> str:
    return f"{prefix}_{n:032x}"


def generate(n_orgs: int, n_users: int, n_assign: int, seed: int = 7, custom: float = 0.10) -> Synthetic:
    """Every user in one org, the rest of the assignments in a second one; ``custom`` of orgs have a custom
    role (4 ``p`` rules each in their domain)."""
    rng = random.Random(seed)
    data = Synthetic([hexid("org", i + 1) for i in range(n_orgs)])
    has_custom = {o for o in data.orgs if rng.random() < custom}
    for org in sorted(has_custom):
        data.custom += [("role:analyst", org, p) for p in ANALYST]
    roles, weights = zip(*ROLE_WEIGHTS, strict=True)
    seen: set[tuple[int, int]] = set()
    n = 0
    while len(data.members) < n_assign:
        user = n % n_users if n < n_users else rng.randrange(n_users)
        org_i = rng.randrange(n_orgs)
        n += 1
        if (user, org_i) in seen:
            continue
        seen.add((user, org_i))
        org = data.orgs[org_i]
        role = rng.choices(roles, weights)[0]
        if role == "analyst" and org not in has_custom:
            role = "member"
        seat = "pro" if rng.random() < 0.3 else None
        status = "suspended" if rng.random() < 0.02 else "active"
        data.members.append(
            (hexid("mem", len(data.members) + 1), hexid("usr", user + 1), org, role, seat, status)
        )
    return data


def random_checks(data: Synthetic, n: int, seed: int = 11) -> list[tuple[str, str, str]]:
    """70% real (member, org) pairs, 20% a random user in a random org, 10% unknown org or permission."""
    rng = random.Random(seed)
    perms = sorted(catalogue())
    out = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.7:
            _m, user, org, *_ = rng.choice(data.members)
        elif roll < 0.9:
            user, org = rng.choice(data.members)[1], rng.choice(data.orgs)
        else:
            user, org = rng.choice(data.members)[1], hexid("org", 10**9 + rng.randrange(1000))
        perm = rng.choice(perms) if rng.random() > 0.05 else "nope:unknown"
        out.append((user, org, perm))
    return out


# --- loading into PostgreSQL ---------------------------------------------------------------------------
def _filler(table: Table, given: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Values for NOT NULL columns the bench does not care about (other slices add columns)."""
    out = dict(given)
    for col in table.columns:
        if col.name in out or col.nullable or col.server_default is not None:
            continue
        if col.primary_key and isinstance(col.type, Integer):
            continue
        kind = getattr(col.type, "impl", col.type)  # TypeDecorators (UtcDateTime) wrap the real type
        if isinstance(kind, Boolean):
            out[col.name] = False
        elif isinstance(kind, Integer):
            out[col.name] = 0
        elif isinstance(kind, DateTime):
            out[col.name] = now
        elif isinstance(kind, String):
            out[col.name] = ""
        else:
            out[col.name] = "{}"
    return out


def _copy(cur: Any, table: Table, rows: Iterator[dict[str, Any]]) -> int:
    now = datetime.now(UTC)
    first = next(rows, None)
    if first is None:
        return 0
    cols = list(_filler(table, first, now))
    count = 0
    with cur.copy(f"COPY {table.name} ({', '.join(cols)}) FROM STDIN") as cp:
        for row in _chain(first, rows):
            full = _filler(table, row, now)
            cp.write_row([full[c] for c in cols])
            count += 1
    return count


def _chain(first: dict[str, Any], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield first
    yield from rest


def load_postgres(url: str, data: Synthetic) -> None:
    """Bulk-load orgs, users, memberships, custom roles and versions with COPY."""
    import psycopg

    tables = metadata.tables
    users = sorted({m[1] for m in data.members})
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        _copy(cur, tables["organizations"], ({"id": o, "name": o, "slug": o} for o in data.orgs))
        _copy(cur, tables["users"], ({"id": u, "email": f"{u}@bench.test"} for u in users))
        _copy(
            cur,
            tables["memberships"],
            (
                {
                    "id": m,
                    "user_id": u,
                    "org_id": o,
                    "role": r,
                    "seat_type": s,
                    "status": st,
                    "source": "scim",
                }
                for m, u, o, r, s, st in data.members
            ),
        )
        _copy(
            cur,
            tables["casbin_rules"],
            ({"ptype": "p", "domain": d, "v0": s, "v1": p} for s, d, p in data.custom),
        )
        _copy(
            cur, tables["authz_versions"], ({"org_id": o, "version": 1, "changed_at": 0.0} for o in data.orgs)
        )
        conn.commit()
        cur.execute("ANALYZE")


def create_database(server_url: str) -> str:
    name = f"tenantry_bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(
        server_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    server, name = url.rsplit("/", 1)
    engine = create_engine((server + "/postgres").replace("postgresql://", "postgresql+psycopg://"),
                           isolation_level="AUTOCOMMIT")  # fmt: skip
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()
