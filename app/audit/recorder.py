"""``AuditRecorder.record``: the one function every mutation calls, inside the mutation's transaction."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal, cast

from sqlalchemy import Table, bindparam, event, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, SessionTransaction, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from app.audit import chain
from app.audit.bus.cloudevents import SEQUENCE_DIGITS
from app.audit.bus.models import OutboxEvent
from app.audit.catalogue import AuditAction
from app.audit.models import (
    PLATFORM_CHAIN,
    AuditChainHead,
    AuditEvent,
    AuditEventTarget,
    AuditSubjectKey,
    target_rows,
)
from app.audit.one_statement import Link, OneStatement
from app.audit.personal import Subject, personal_values, seal, set_path
from app.audit.subject_keys import SubjectKeyring, SubjectKeys
from app.clock import Clock
from app.db import Held, holding_inserts, insert_held, take_held, wrote_alone
from app.ids import new_uuid7
from app.prebuilt_read import unbegun
from app.rbac import versioning

ActorType = Literal["user", "api_key", "scim_token", "system"]
# What a session's transaction holds, in ``session.info``, until it ends (``_transaction_ended``):
_HELD = "audit_heads_held"  # {chain: its head, locked in this transaction}
_KEYS = "audit_subject_keys"  # the transaction's SubjectKeys (keys looked up or made in it)
# A block of at most this many events of one chain is linked by the database (``_link_in_database``).
MAX_LINKED_IN_DATABASE: Final = 16
SECRET_FIELDS = frozenset(
    {"token", "token_hash", "key", "key_hash", "secret", "client_secret", "password", "idp_x509_cert_private"}
)


@dataclass(frozen=True)
class Actor:
    type: ActorType
    id: str | None = None
    name: str | None = None


SYSTEM = Actor("system", None, "tenantry")


@dataclass(frozen=True)
class Target:
    type: str
    id: str
    name: str | None = None


@dataclass(frozen=True)
class RequestContext:
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


@dataclass
class OutboxConfig:
    enabled: bool = False
    subject_prefix: str = "tenantry.v1"
    wake: list[Any] = field(default_factory=list)  # callables run after a commit that wrote outbox rows
    # Seals personal values per subject (app/audit/personal.py); the container always sets it. None records
    # them in clear, as before sealing existed (only unit tests of other parts build a recorder so).
    keyring: SubjectKeyring | None = None


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """``{"field": {"before": …, "after": …}}`` for the fields that changed, secrets left out."""
    return {
        key: {"before": before.get(key), "after": after.get(key)}
        for key in sorted(set(before) | set(after))
        if key not in SECRET_FIELDS and before.get(key) != after.get(key)
    }


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, transaction: SessionTransaction) -> None:
    """The heads a transaction locked and the subject keys it looked up or made end with it. A recorder can
    outlive a transaction (a SCIM bulk request commits or rolls back each operation): the next one reads
    its heads again, and a key made in one that rolled back is gone with it, never sealing a later value."""
    if transaction.parent is None:  # a savepoint's end leaves the transaction's state as it is
        session.info.pop(_HELD, None)
        session.info.pop(_KEYS, None)


class AuditRecorder:
    def __init__(
        self,
        session: Session,
        clock: Clock,
        actor: Actor,
        context: RequestContext,
        outbox: OutboxConfig | None = None,
    ) -> None:
        self.session = session
        self.clock = clock
        self.actor = actor
        self.context = context
        self.outbox = outbox or OutboxConfig()
        self._pending: list[tuple[AuditEvent, dict[str, Any]]] | None = None  # see linked_at_end

    @property
    def subject_keys(self) -> SubjectKeys | None:
        """The subject keys of the session's transaction (they end with it: ``_transaction_ended``)."""
        ring = self.outbox.keyring
        if ring is None:
            return None
        keys: SubjectKeys | None = self.session.info.get(_KEYS)
        if keys is None or keys.ring is not ring:
            keys = self.session.info[_KEYS] = SubjectKeys(self.session, self.clock, ring)
        return keys

    def new_subject(self, subject: Subject) -> None:
        """A subject made in this transaction (a new account): its personal values need no key lookup."""
        if self.subject_keys is not None:
            self.subject_keys.new_subject(subject)

    def record(
        self,
        action: AuditAction,
        *,
        org_id: str | None,
        targets: Sequence[Target] = (),
        changes: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        outcome: Literal["success", "failure"] = "success",
        reason: str | None = None,
        actor: Actor | None = None,
    ) -> AuditEvent:
        if not isinstance(action, AuditAction):  # the catalogue is closed
            raise TypeError(f"audit action must be an AuditAction, not {action!r}")
        who = actor or self.actor
        chain_key = org_id or PLATFORM_CHAIN
        if self._pending is None:
            self._lock_head(chain_key)  # the chain's order from here to commit, as the caller may rely on
        clear: dict[str, Any] = {
            "actor": {"type": who.type, "id": who.id, "name": who.name},
            "targets": [{k: v for k, v in vars(t).items() if v is not None} for t in targets],  # (flat: str)
            "changes": {k: v for k, v in (changes or {}).items() if k not in SECRET_FIELDS},
            "data": {k: v for k, v in (data or {}).items() if k not in SECRET_FIELDS},
        }
        stored, sealed = self._seal(clear)
        event = AuditEvent(
            id=str(new_uuid7()),
            chain=chain_key,
            org_id=org_id,
            action=action.value,
            actor_type=who.type,
            actor_id=who.id,
            actor_name=stored["actor"]["name"],
            targets=stored["targets"],
            context={k: v for k, v in vars(self.context).items() if v is not None},
            ip=self.context.ip,
            outcome=outcome,
            reason=reason,
            changes=stored["changes"],
            data=stored["data"],
        )
        event.sealed = sealed or None  # SQL NULL when nothing is sealed (the column's None is NULL)
        if self._pending is not None:
            self._pending.append((event, clear))  # linked when the block ends (linked_at_end)
        else:
            self._link(event, clear)
        return event

    @contextmanager
    def linked_at_end(self, *, closing: bool = False) -> Iterator[None]:
        """Record the block's events as it goes, and link them into their chains when it ends.

        Linking takes the chain head's lock (FOR UPDATE on PostgreSQL), held to commit: every audited writer
        of the org waits for it. A block whose correctness needs no org-wide order (a SCIM create: the unique
        indexes on the account's email and the member's userName settle a race, as a 409) links at its end
        instead. Its own rows are flushed first, outside the lock, so a unique violation surfaces there;
        then the heads are locked in one order (the platform chain, then orgs by id), and the events are
        stamped, linked and added. The lock is held for the events' inserts and the commit only, where
        otherwise it would cover the whole block. On PostgreSQL, a block of one chain that the transaction
        has not locked yet is linked by the statement that writes it (``_link_in_database``): the lock is
        then taken inside that statement. A chain the block locks itself (``lock_chain``, a service
        ordering its own rows) is locked from that point, as always. Events still take their sequence under
        the lock, and their time too (in the database, at least a microsecond after the link before), so a
        chain stays in time order. A nested block links with the outermost;
        an exception discards the block's events along with the rest of its work. The events returned by
        ``record`` inside the block have no ``seq`` or ``hash`` until it ends.

        ``closing``: the block's statement is the transaction's last write before commit (a SCIM create's).
        The rows the block inserted with ``insert_now`` (the account and the membership) are then held back
        (``app.db.holding_inserts``) and written with the events. On PostgreSQL they go out in the events'
        one statement, which also bumps the authorization versions of the orgs the transaction touched
        (``versioning.touched``): three statements fewer. On SQLite a transaction that has not yet begun
        then begins at the block's end (the head read), so the writer gate is held for the head, the
        links, the writes and the commit, not for the whole request. Not in a savepoint, whose rollback
        would undo the bump the outer transaction needs.
        """
        if self._pending is not None:
            yield
            return
        self._pending = []
        keys = self.subject_keys
        made = keys.defer() if keys is not None else []  # the block's new subject keys: rows with its events
        closing = closing and not self.session.in_nested_transaction()
        try:
            with holding_inserts(self.session) if closing else nullcontext():
                try:
                    yield
                finally:
                    pending, self._pending = self._pending, None
                if not pending:
                    if keys is not None:
                        keys.forget(made)  # (a record that raised, caught in the block)
                    return  # (what the block held is written on the way out)
                self.session.flush()
                held = take_held(self.session)
                if self._link_in_database(pending, made, held, closing=closing):
                    return
                chains = {event.chain for event, _ in pending}
                for chain_key in sorted(chains, key=lambda c: (c != PLATFORM_CHAIN, c)):
                    self._lock_head(chain_key)
                rows = _Rows(keys=made, held=held)
                for event, clear in pending:
                    self._link(event, clear, rows)
                rows.insert(self.session, closing=closing)
        except BaseException:
            if keys is not None:
                keys.forget(made)
            raise
        finally:
            if keys is not None:
                keys.stop_deferring()

    def _link_in_database(
        self,
        pending: list[tuple[AuditEvent, dict[str, Any]]],
        made: list[dict[str, Any]],
        held: list[Held],
        *,
        closing: bool,
    ) -> bool:
        """Write a block's events with PostgreSQL linking them (``app.audit.one_statement.Link``), when the
        block is of one chain that this transaction has not locked: the statement takes the head's lock
        (first: its result reads the links, which read the head, before the CTEs that only write run), so
        neither the head's read nor the linking in Python is under it. Each event goes out with a
        provisional time and place (the caller's time, sequence 0), which the statement replaces in its
        row, its target rows and its outbox payload, and with the canonical bytes around them
        (``chain.pieces``); it is then given what the statement returned, and the head is held as if Python
        had read it. False (nothing written) where
        Python links instead.

        The caller's time is taken before the lock, where Python's linking stamps under it: so that the chain
        stays in time order, an event is at least a microsecond after the link before it (the head's
        ``occurred_at``), which it is anyway unless it waited for the lock or the clocks differ."""
        chains = {event.chain for event, _ in pending}
        if (
            len(chains) != 1
            or len(pending) > MAX_LINKED_IN_DATABASE
            or chains & self.session.info.get(_HELD, {}).keys()
            or self.session.get_bind().dialect.name != "postgresql"
        ):
            return False
        (chain_key,) = chains
        now = self.clock.now()
        rows = _Rows(keys=made, held=held)
        pieces = []
        for i, (made_event, clear) in enumerate(pending):
            made_event.occurred_at, made_event.seq, made_event.prev_hash, made_event.hash = now, 0, "", ""
            pieces.append(chain.pieces(hashed_fields(made_event)))
            self._add(made_event, clear, rows, owner=i)
        conn = self.session.connection()
        batches = rows.batches()
        orgs = versioning.touched(self.session) if closing else []
        if not _ONE_STATEMENT.fits(batches, 0, len(orgs), rows.held, linked=len(pending)):
            return False  # (Python links them, and sets every provisional value again)
        link = Link(chain_key, now, pieces, rows.owners)
        # A closing block whose transaction has sent nothing yet (a SCIM create, its checks read ahead of
        # it): the statement is the whole transaction, and commits itself.
        alone = closing and unbegun(conn.connection.driver_connection)
        bumped, linked = _ONE_STATEMENT.execute(
            conn, batches, [], orgs, time.time(), rows.held, link, alone=alone
        )
        if alone:
            wrote_alone(self.session)
        if orgs:
            versioning.bumped(self.session, bumped)
        assert linked is not None and len(linked) == len(pending)
        for (made_event, _), (seq, prev, digest, at) in zip(pending, linked, strict=True):
            made_event.seq, made_event.prev_hash, made_event.hash = seq, prev, digest
            made_event.occurred_at = at.astimezone(UTC)
        if alone:  # the transaction is over: nothing of it links after this head
            return True
        seq, _, digest, at = linked[-1]
        last = self._as_loaded(chain_key, seq, digest, at.astimezone(UTC))
        self.session.info.setdefault(_HELD, {})[chain_key] = last
        return True

    def _link(self, event: AuditEvent, clear: dict[str, Any], rows: _Rows | None = None) -> None:
        """Stamp ``event`` with its time and place in its chain (whose head this transaction holds), link it
        and add it, with its target index rows and its outbox row: to the session, or to ``rows`` (inserted
        together, without the unit of work, once a block's events are all linked)."""
        head = self._lock_head(event.chain)
        event.occurred_at = self.clock.now()  # (under the lock: the chain's order is the clock's)
        event.seq = head.seq + 1
        event.prev_hash = head.hash
        event.hash = chain.link(head.hash, hashed_fields(event))
        if rows is None:  # the unit of work updates the head's row
            head.seq, head.hash, head.occurred_at = event.seq, event.hash, event.occurred_at
        else:  # its row is updated with the events' rows (``_Rows.insert``); the object stays clean
            set_committed_value(head, "seq", event.seq)
            set_committed_value(head, "hash", event.hash)
            set_committed_value(head, "occurred_at", event.occurred_at)
            rows.heads[head.chain] = (head.chain, event.seq, event.hash, event.occurred_at)
        self._add(event, clear, rows)

    def _add(self, event: AuditEvent, clear: dict[str, Any], rows: _Rows | None, owner: int = 0) -> None:
        """Add a linked ``event`` with its target index rows and its outbox row (see ``_link``)."""
        targets = target_rows(event)  # the target filter's index (app/audit/models.py)
        outbox: dict[str, Any] | None = None
        if self.outbox.enabled:
            from app.audit.bus.cloudevents import subject_for, to_cloudevent

            outbox = {
                "event_id": event.id,
                "subject": subject_for(self.outbox.subject_prefix, event),
                "payload": to_cloudevent(event, clear),
                "created_at": event.occurred_at,
            }
            self.session.info["outbox_written"] = True
        if rows is not None:
            rows.add(event, targets, outbox, owner)
            return
        self.session.add(event)
        self.session.add_all(AuditEventTarget(**t) for t in targets)
        if outbox is not None:
            self.session.add(OutboxEvent(**outbox))
        # No flush here: the rows go out with the transaction's next flush, several events' in one batch.

    def _seal(self, clear: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The stored (and hashed) form of the personal fields: each personal value replaced by its token,
        and the sealed values by path. The clear form goes to the bus only."""
        keys = self.subject_keys
        values = personal_values(clear) if keys is not None else []
        if keys is None or not values:
            return clear, {}
        stored = _copied_along(clear, [pv.path for pv in values])
        sealed: dict[str, Any] = {}
        for pv in values:
            key_id, key = keys.current(pv.subject)
            token, entry = seal(key_id, key, pv.value)
            set_path(stored, pv.path, token)
            sealed[pv.path] = entry
        return stored, sealed

    def lock_chain(self, org_id: str | None) -> None:
        """Take the org's chain lock now. A service that locks rows of its own (a seat pool) calls this
        first, so every writer in an org locks in one order: chain head, then the service's rows; a caller
        that already recorded an event holds it, and the lock order cannot invert (no deadlock)."""
        self._lock_head(org_id or PLATFORM_CHAIN)

    def _lock_head(self, chain_key: str) -> AuditChainHead:
        # A head locked earlier in this same transaction is still locked (and current: only its holder
        # writes it), so it is read once per transaction rather than once per event.
        held: dict[str, AuditChainHead] = self.session.info.setdefault(_HELD, {})
        head = held.get(chain_key)
        if head is None:
            head = held[chain_key] = self._read_head(chain_key)
        return head

    def _read_head(self, chain_key: str) -> AuditChainHead:
        """The chain's head row, locked (PostgreSQL), as the session's object. Read on the connection (the
        ORM's execution around a one-row read cost as much as the read) and handed to the session as
        loaded, as a query would (``_as_loaded``)."""
        conn = self.session.connection()
        stmt = _HEAD_FOR_UPDATE if conn.dialect.name == "postgresql" else _HEAD
        row = conn.execute(stmt, {"chain": chain_key}).one_or_none()
        if row is None:
            # Two first writers of a chain may race: insert-if-missing, then lock whichever row won.
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            conn.execute(
                insert(AuditChainHead)
                .values(chain=chain_key, seq=0, hash=chain.GENESIS)
                .on_conflict_do_nothing(index_elements=["chain"])
            )
            row = conn.execute(stmt, {"chain": chain_key}).one()
        return self._as_loaded(row.chain, row.seq, row.hash, row.occurred_at)

    def _as_loaded(self, key: str, seq: int, digest: str, at: datetime | None) -> AuditChainHead:
        """The session's head object with these committed values: the one it holds (refreshed), or a new one
        made persistent as if loaded, so that a change to it is an UPDATE at the next flush."""
        held = self.session.identity_map.get(identity_key(AuditChainHead, (key,)))
        if isinstance(held, AuditChainHead):
            set_committed_value(held, "seq", seq)
            set_committed_value(held, "hash", digest)
            set_committed_value(held, "occurred_at", at)
            return held
        head = AuditChainHead(chain=key, seq=seq, hash=digest, occurred_at=at)
        make_transient_to_detached(head)
        self.session.add(head)
        return head


def _copied_along(fields: dict[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    """``fields`` with a copy of every container on the way to each of ``paths`` (``set_path``'s), so that
    setting them leaves ``fields`` as it is; what no path goes through is shared. (A deep copy of the whole
    event through JSON cost more than the sealing itself.)"""
    top = dict(fields)
    copied = {id(top)}
    for path in paths:
        node: Any = top
        for part in path.split(".")[:-1]:
            key: Any = int(part) if isinstance(node, list) else part
            child = node[key]
            if id(child) not in copied:
                child = list(child) if isinstance(child, list) else dict(child)
                copied.add(id(child))
                node[key] = child
            node = child
    return top


def _written(model: Any, *left_out: str) -> tuple[Table, tuple[str, ...]]:
    """A model's table and the columns a block writes (all but ``left_out``: the database's own, or none)."""
    table = cast(Table, model.__table__)
    return table, tuple(c.key for c in table.columns if c.key not in left_out)


_EVENTS: Final = _written(AuditEvent, "redacted")  # ``redacted`` is set by erasure only
_EVENT_COLUMNS: Final = _EVENTS[1]


@dataclass
class _Rows:
    """Linked events with their target index and outbox rows and the block's new subject keys, and their
    chains' new heads: on PostgreSQL one statement (``_ONE_STATEMENT``), elsewhere one executemany per table
    and an UPDATE per head. The events stay transient objects (what ``record`` returned); their
    rows are what the unit of work would insert: every column ``record`` and ``_link`` set, ``redacted``
    left NULL. The head objects are kept clean (their new values set as committed), so the commit's flush
    does not update them a second time."""

    keys: list[dict[str, Any]] = field(default_factory=list)  # new subject keys (``SubjectKeys.defer``)
    held: list[Held] = field(default_factory=list)  # the block's own rows, first (``holding_inserts``)
    events: list[dict[str, Any]] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    # chain -> its new last link: (chain, seq, hash, time)
    heads: dict[str, tuple[str, int, str, datetime]] = field(default_factory=dict)
    # Per table of ``batches``, each row's event (its place in the block), for a statement that links them
    owners: tuple[list[int], ...] = field(default_factory=lambda: ([], [], [], []))

    def add(
        self, event: AuditEvent, targets: list[dict[str, Any]], outbox: dict[str, Any] | None, owner: int = 0
    ) -> None:
        self.events.append({k: getattr(event, k) for k in _EVENT_COLUMNS})
        self.owners[1].append(owner)
        self.targets.extend(targets)
        self.owners[2].extend(owner for _ in targets)
        if outbox is not None:
            self.outbox.append(outbox)  # its id is the database's
            self.owners[3].append(owner)

    def batches(self) -> tuple[list[dict[str, Any]], ...]:
        return (self.keys, self.events, self.targets, self.outbox)

    def insert(self, session: Session, *, closing: bool = False) -> None:
        conn = session.connection()  # Core statements on tables: no ORM execution around them
        batches = self.batches()
        moves = list(self.heads.values())
        postgres = conn.dialect.name == "postgresql"
        orgs = versioning.touched(session) if closing and postgres else []
        if postgres and _ONE_STATEMENT.fits(batches, len(moves), len(orgs), self.held):
            bumped, _ = _ONE_STATEMENT.execute(conn, batches, moves, orgs, time.time(), self.held)
            if orgs:
                versioning.bumped(session, bumped)  # (the commit bumps the rest)
            return
        insert_held(conn, self.held)
        _ONE_STATEMENT.execute_each(conn, batches, moves)


# What a statement that links a block's events writes from each event's link: the event's time and place,
# its target rows' time, and its outbox row's time and CloudEvent (``to_cloudevent``'s, made with the
# provisional values, whose time, sequence and hashes the link sets).
_PAYLOAD: Final = (
    "jsonb_set(jsonb_set(jsonb_set(jsonb_set({value}::jsonb, '{time}', to_jsonb({l}.t)), "
    f"'{{sequence}}', to_jsonb(lpad({{l}}.seq::text, {SEQUENCE_DIGITS}, '0'))), "
    "'{data,hash}', to_jsonb({l}.hash)), '{data,prev_hash}', to_jsonb({l}.prev))"
)

# On PostgreSQL a block's rows and head moves are one statement (app/audit/one_statement.py).
_ONE_STATEMENT: Final = OneStatement(
    [
        _written(AuditSubjectKey),
        _EVENTS,
        _written(AuditEventTarget),
        _written(OutboxEvent, "id"),  # in the events' order (the relay publishes by this id, the database's)
    ],
    cast(Table, AuditChainHead.__table__),
    "chain",
    ("seq", "hash", "occurred_at"),
    linked=[
        {},
        {"seq": "{l}.seq", "prev_hash": "{l}.prev", "hash": "{l}.hash", "occurred_at": "{l}.at"},
        {"occurred_at": "{l}.at"},
        {"created_at": "{l}.at", "payload": _PAYLOAD},
    ],
)

# Built once (bound parameter, cache key memoized): every audited write reads its chain head. (Core, on the
# session's connection: not an ORM statement, so a closing block's held rows are not written first.)
_HEAD: Final = select(
    AuditChainHead.chain, AuditChainHead.seq, AuditChainHead.hash, AuditChainHead.occurred_at
).where(AuditChainHead.chain == bindparam("chain"))
_HEAD_FOR_UPDATE: Final = _HEAD.with_for_update()


def hashed_fields(event: AuditEvent) -> dict[str, Any]:
    """The fields a link covers: everything but the hashes themselves."""
    return {
        "id": event.id,
        "chain": event.chain,
        "org_id": event.org_id,
        "seq": event.seq,
        "action": event.action,
        "occurred_at": chain.format_time(event.occurred_at),
        "actor": {"type": event.actor_type, "id": event.actor_id, "name": event.actor_name},
        "targets": event.targets,
        "context": event.context,
        "outcome": event.outcome,
        "reason": event.reason,
        "changes": event.changes,
        "data": event.data,
    }
