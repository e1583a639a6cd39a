"""Reading one org's policy from the database as Casbin rules, and the sync thread's queries (versions, live
API keys).

These run on the check path, outside any request session, so they use a raw DB-API connection: no ORM, and on
SQLite no ``BEGIN IMMEDIATE`` (a read must never wait for the request's own write transaction). The version is
read first, so the rules read after it are at least that new: a snapshot may be newer than its label (it is
reloaded once more, harmlessly), never older.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from app.rbac.compiled import CompiledOrg, compile_org, missing_org, template_base
from app.rbac.policy import role_subject, seat_subject


@dataclass
class OrgPolicy:
    """One org's Casbin rules: what a stock ``Enforcer`` would load for it."""

    org_id: str
    version: int
    exists: bool
    p: list[tuple[str, str, str]] = field(default_factory=list)
    g: list[tuple[str, str, str]] = field(default_factory=list)
    g2: list[tuple[str, str, str]] = field(default_factory=list)
    suspended: list[tuple[str, str]] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)

    def compile(self) -> CompiledOrg:
        if not self.exists:
            return missing_org(self.org_id, self.version)
        return compile_org(
            self.org_id,
            self.version,
            self.p,
            self.g,
            self.g2,
            suspended=self.suspended,
            aliases=self.aliases,
            base=template_base(),
        )


@contextmanager
def raw_cursor(engine: Engine) -> Iterator[tuple[Any, str]]:
    """A DB-API cursor and the placeholder for this driver (``?`` for sqlite3, ``%s`` for psycopg).

    Returning the connection to the pool rolls it back (PostgreSQL); SQLite's raw connections autocommit."""
    conn = engine.raw_connection()
    try:
        yield conn.cursor(), "%s" if engine.dialect.name == "postgresql" else "?"
    finally:
        conn.close()


# One round trip and, on PostgreSQL, one statement snapshot: the version and the rules it labels agree.
_POLICY_SQL = """
SELECT 'v', NULL, NULL, NULL, NULL, CAST(version AS TEXT) FROM authz_versions WHERE org_id = {ph}
UNION ALL
SELECT 'o', NULL, NULL, NULL, NULL, CASE WHEN deleted_at IS NULL THEN 'live' END
  FROM organizations WHERE id = {ph}
UNION ALL
SELECT 'p', v0, v1, NULL, NULL, NULL FROM casbin_rules WHERE ptype = 'p' AND domain = {ph}
UNION ALL
SELECT 'm', id, user_id, role, seat_type, status FROM memberships WHERE org_id = {ph}
"""


def read_policy(engine: Engine, org_id: str) -> OrgPolicy:
    with raw_cursor(engine) as (cur, ph):
        cur.execute(_POLICY_SQL.format(ph=ph), (org_id,) * 4)
        rows = cur.fetchall()
    version, live = 0, False
    custom, members = [], []
    for kind, a, b, c, d, e in rows:
        if kind == "m":
            members.append((a, b, c, d, e))
        elif kind == "p":
            custom.append((a, org_id, b))
        elif kind == "v":
            version = int(e)
        elif kind == "o":
            live = e == "live"
    policy = OrgPolicy(org_id, version, exists=live)
    if live:
        policy.p = custom
        add_members(policy, members)
    return policy


def add_members(policy: OrgPolicy, rows: Iterable[tuple[str, str, str, str | None, str]]) -> None:
    """Memberships as rules: active members get ``g`` (role) and ``g2`` (seat); suspended ones get nothing."""
    org_id = policy.org_id
    for member_id, user_id, role, seat_type, status in rows:
        policy.aliases[member_id] = user_id
        if status != "active":
            policy.suspended.append((user_id, role_subject(role)))
            continue
        policy.g.append((user_id, role_subject(role), org_id))
        if seat_type:
            policy.g2.append((user_id, seat_subject(seat_type), org_id))


def load_org(engine: Engine, org_id: str) -> CompiledOrg:
    return read_policy(engine, org_id).compile()


def changed_since(engine: Engine, since: float, cur: Any = None) -> list[tuple[str, int]]:
    """Orgs whose version changed at or after ``since`` (epoch seconds): the poller's one cheap query.

    ``cur``: a psycopg cursor of the sync thread's own connection, instead of one from the pool."""
    if cur is not None:
        cur.execute("SELECT org_id, version FROM authz_versions WHERE changed_at >= %s", (since,))
        return [(str(o), int(v)) for o, v in cur.fetchall()]
    with raw_cursor(engine) as (pooled, ph):
        pooled.execute(f"SELECT org_id, version FROM authz_versions WHERE changed_at >= {ph}", (since,))  # noqa: S608
        return [(str(o), int(v)) for o, v in pooled.fetchall()]


def versions_of(engine: Engine, org_ids: list[str], cur: Any = None) -> dict[str, int]:
    """Current versions of the given orgs (the slow full sweep behind the windowed poll)."""
    if cur is not None:
        return _versions(cur, "%s", org_ids)
    with raw_cursor(engine) as (pooled, ph):
        return _versions(pooled, ph, org_ids)


def _versions(cur: Any, ph: str, org_ids: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for start in range(0, len(org_ids), 500):
        chunk = org_ids[start : start + 500]
        marks = ", ".join([ph] * len(chunk))
        cur.execute(f"SELECT org_id, version FROM authz_versions WHERE org_id IN ({marks})", chunk)  # noqa: S608
        out.update((str(o), int(v)) for o, v in cur.fetchall())
    return out


def live_keys(engine: Engine, key_hashes: list[str], cur: Any = None) -> set[str]:
    """Those of ``key_hashes`` whose API key or SCIM token is neither revoked nor in a deleted org (the key
    cache's revalidation; the rest are dropped)."""
    if cur is not None:
        return _live_keys(cur, "%s", key_hashes)
    with raw_cursor(engine) as (pooled, ph):
        return _live_keys(pooled, ph, key_hashes)


def _live_keys(cur: Any, ph: str, key_hashes: list[str]) -> set[str]:
    live: set[str] = set()
    for start in range(0, len(key_hashes), 500):
        chunk = key_hashes[start : start + 500]
        marks = ", ".join([ph] * len(chunk))
        cur.execute(
            "SELECT k.key_hash FROM api_keys k LEFT JOIN organizations o ON o.id = k.org_id "  # noqa: S608
            f"WHERE k.key_hash IN ({marks}) AND k.revoked_at IS NULL "
            "AND (k.org_id IS NULL OR (o.id IS NOT NULL AND o.deleted_at IS NULL)) "
            # SCIM tokens share the cache (their hashes are of other secrets, so they never collide).
            "UNION ALL SELECT t.token_hash FROM scim_tokens t JOIN organizations o ON o.id = t.org_id "
            f"WHERE t.token_hash IN ({marks}) AND t.revoked_at IS NULL AND o.deleted_at IS NULL",
            chunk + chunk,
        )
        live.update(str(h) for (h,) in cur.fetchall())
    return live
