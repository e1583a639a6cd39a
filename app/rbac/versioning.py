"""Per-org authorization versions, bumped centrally in the transaction that changes roles, seats or members.

Services need no edits: ``before_flush`` notes the orgs whose memberships (role, seat, status), seat pools,
custom roles or Casbin rules are new, changed or deleted (and ``app.db.insert_now``, which writes a new
object without a flush, tells ``_inserted_now`` the same); ``before_commit`` bumps each noted org's version
once (``INSERT … ON CONFLICT DO UPDATE SET version = version + 1``) and, on PostgreSQL, notifies
``tenantry_authz`` of it in the same statement (delivered only if the transaction commits; revoked keys go
in notifications of their own). The bump is taken at
commit, not at flush, so the version row is locked last and briefly: a transaction holding it never waits on
another lock (no deadlock with seat-pool ``FOR UPDATE``). After the commit, this process's engines hear of the
new versions at once (``listen_local``); the request that made the change can read them
(``committed_versions``). A transaction's last write may bump its orgs itself, in the same statement
(``touched``, ``bumped``: a SCIM create's audit statement), and the commit then bumps only orgs touched
after it. A savepoint's release is no commit: nothing is bumped or told then.

Bulk ``UPDATE``/``DELETE`` statements on memberships bypass the ORM and these hooks: use ORM objects.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import Any, Final

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.credentials.models import ApiKey, ScimToken
from app.db import INSERTED_NOW
from app.ids import new_id
from app.orgs.models import Membership, Organization, SeatPool
from app.rbac.models import CasbinRule, CustomRole

CHANNEL: Final = "tenantry_authz"
MEMBER_ATTRS: Final = ("role", "seat_type", "status", "org_id", "user_id")
_TOUCHED, _REVOKED, _COMMITTED = "authz_touched", "authz_revoked_keys", "authz_committed"
_BUMPED = "authz_bumped"  # versions the transaction's last write bumped itself (``touched``)
_NOTIFY_CHUNK = 7000  # PostgreSQL payloads must stay under 8000 bytes

Listener = Callable[[dict[str, int], set[str]], None]
# Weak on both sides: an engine (and its container) that goes away takes its listeners with it.
_local: weakref.WeakKeyDictionary[Engine, list[weakref.WeakMethod[Listener]]] = weakref.WeakKeyDictionary()
_installed = False


def listen_local(bind: Engine, listener: Listener) -> None:
    """Call the bound method ``listener(versions, revoked_key_hashes)`` after each commit on ``bind`` that
    bumped versions or revoked keys."""
    _local.setdefault(bind, []).append(weakref.WeakMethod(listener))


def committed_versions(session: Session) -> dict[str, int]:
    """The versions the session's last commit wrote (org id -> version), for the request that changed them."""
    found: dict[str, int] = session.info.get(_COMMITTED, {})
    return found


def encode_payload(versions: dict[str, int], revoked: set[str]) -> list[str]:
    items = [f"{org}:{v}" for org, v in sorted(versions.items())] + [f"k:{h}" for h in sorted(revoked)]
    chunks, current = [], ""
    for item in items:
        if current and len(current) + len(item) + 1 > _NOTIFY_CHUNK:
            chunks.append(current)
            current = ""
        current = f"{current} {item}" if current else item
    if current:
        chunks.append(current)
    return chunks


def decode_payload(payload: str) -> tuple[dict[str, int], set[str]]:
    versions: dict[str, int] = {}
    revoked: set[str] = set()
    for item in payload.split():
        head, _, tail = item.rpartition(":")
        if head == "k":
            revoked.add(tail)
        elif head and tail.isdigit():
            versions[head] = int(tail)
    return versions, revoked


def _changed(obj: Any, attrs: tuple[str, ...]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in attrs)


def _org_of(obj: Any, dirty: bool) -> str | None:
    if isinstance(obj, Membership):
        return obj.org_id if not dirty or _changed(obj, MEMBER_ATTRS) else None
    if isinstance(obj, SeatPool | CustomRole):
        return obj.org_id
    if isinstance(obj, CasbinRule):
        return obj.domain
    if isinstance(obj, Organization):
        if obj.id is None:  # assign now so the new org's version can be written in this flush
            obj.id = new_id("org")
        return obj.id if not dirty or _changed(obj, ("deleted_at",)) else None
    return None


def _before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
    for objs, dirty in ((session.new, False), (session.dirty, True), (session.deleted, False)):
        for obj in objs:
            _note(session, obj, dirty)


def _inserted_now(session: Session, obj: Any) -> None:
    """``app.db.insert_now`` wrote ``obj`` without a flush: noted as a new object at a flush would be."""
    _note(session, obj, dirty=False)


def _note(session: Session, obj: Any, dirty: bool) -> None:
    """Note the org whose authorization ``obj`` (new, changed or deleted) affects, or the key it revoked."""
    org_id = _org_of(obj, dirty)
    if org_id is not None:
        session.info.setdefault(_TOUCHED, set()).add(org_id)
    elif isinstance(obj, ApiKey) and dirty and _changed(obj, ("revoked_at",)):
        session.info.setdefault(_REVOKED, set()).add(obj.key_hash)
    elif isinstance(obj, ScimToken) and dirty and _changed(obj, ("revoked_at",)):
        session.info.setdefault(_REVOKED, set()).add(obj.token_hash)  # cached like API keys


def upsert_sql(rows: str) -> str:
    """Bump the orgs of ``rows`` (``(org_id, 1, changed_at)`` value rows): ``INSERT … ON CONFLICT DO UPDATE``,
    returning each org's new version. Both backends run it (SQLite 3.35+ and PostgreSQL)."""
    # ``rows`` holds placeholders only (never input), as does every caller's
    return (
        f"INSERT INTO authz_versions (org_id, version, changed_at) VALUES {rows} "  # noqa: S608
        "ON CONFLICT (org_id) DO UPDATE SET version = authz_versions.version + 1, "
        "changed_at = excluded.changed_at RETURNING org_id, version"
    )


def notify_sql(bumped: str, channel: str) -> str:
    """On PostgreSQL, notify the versions the statement ``bumped`` (a CTE of ``upsert_sql``) returned: each
    org's own payload ("org:version", as ``encode_payload`` writes one org), delivered only if the
    transaction commits."""
    return f"SELECT org_id, version, pg_notify({channel}, org_id || ':' || version) FROM {bumped}"  # noqa: S608


# Written as text: the SQLAlchemy construct with ``on_conflict_do_update`` is recompiled on every call (it is
# not cacheable), which cost milliseconds on every write transaction.
_BUMP: Final = text(upsert_sql("(:org_id, 1, :now)"))
# On PostgreSQL the bump also notifies, in the same round trip.
_BUMP_AND_NOTIFY: Final = text(
    f"WITH bumped AS ({upsert_sql('(:org_id, 1, :now)')}) {notify_sql('bumped', ':channel')}"
)


def bump(session: Session, org_ids: set[str]) -> dict[str, int]:
    """Bump each org's version by one in the session's transaction (on PostgreSQL, and notify it); returns
    the new versions."""
    now = time.time()
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    stmt = _BUMP_AND_NOTIFY if postgres else _BUMP
    params: dict[str, Any] = {"now": now, "channel": CHANNEL} if postgres else {"now": now}
    versions: dict[str, int] = {}
    for org_id in sorted(org_ids):  # one order everywhere: two bumping transactions never deadlock
        for org, version, *_ in conn.execute(stmt, {**params, "org_id": org_id}):
            versions[str(org)] = int(version)
    return versions


def touched(session: Session) -> list[str]:
    """The orgs the transaction has touched so far, in bump order, for its last write before commit to bump
    itself (``upsert_sql`` and ``notify_sql`` in the same statement, one round trip less:
    app/audit/one_statement.py), giving the versions back with ``bumped``. The caller guarantees that
    statement is the transaction's last lock, so the bump is still the last lock the transaction takes."""
    return sorted(session.info.get(_TOUCHED, ()))


def bumped(session: Session, versions: dict[str, int]) -> None:
    """A statement of the transaction bumped (and notified) these orgs: the commit bumps only orgs touched
    since, and hands these versions on with its own."""
    session.info.setdefault(_BUMPED, {}).update(versions)
    session.info[_TOUCHED] = session.info.get(_TOUCHED, set()) - set(versions)


def _before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the bump waits for the real commit (and its lock comes last)
    session.flush()  # let before_flush see the transaction's last changes
    touched: set[str] = session.info.pop(_TOUCHED, set())
    revoked: set[str] = session.info.get(_REVOKED, set())
    session.info["authz_pending"] = session.info.pop(_BUMPED, {}) | (
        bump(session, touched) if touched else {}
    )
    if revoked and session.get_bind().dialect.name == "postgresql":
        conn = session.connection()
        for chunk in encode_payload({}, revoked):  # the bumped versions went out with their bumps
            conn.exec_driver_sql("SELECT pg_notify(%s, %s)", (CHANNEL, chunk))


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: nothing is committed yet
    versions: dict[str, int] = session.info.pop("authz_pending", {})
    revoked: set[str] = session.info.pop(_REVOKED, set())
    session.info[_COMMITTED] = versions
    if not (versions or revoked):
        return
    bind = session.get_bind()
    for ref in list(_local.get(bind, ())) if isinstance(bind, Engine) else ():
        listener = ref()
        if listener is not None:
            listener(versions, revoked)


def _after_rollback(session: Session, previous: Any) -> None:
    if previous.nested:
        return  # a savepoint: the outer transaction may still commit what was noted before it
    for key in (_TOUCHED, _REVOKED, _BUMPED, "authz_pending"):
        session.info.pop(key, None)


def install() -> None:
    """Attach the hooks to every ORM session (once per process)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "before_flush", _before_flush)
    INSERTED_NOW.append(_inserted_now)
    event.listen(Session, "before_commit", _before_commit)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_soft_rollback", _after_rollback)
    _installed = True
