"""Per-subject keys that seal personal values in audit events, and their destruction (crypto-shredding).

Keys are AES-256, stored sealed (app/crypto/sealing.py, purpose ``audit/subject-keys``, the key id as
associated data) under a key derived from ``TENANTRY_SECRET_KEY``; subjects that are email addresses are named
by an HMAC of the address under another derived key, so the table names no address. Changing
``TENANTRY_SECRET_KEY`` makes every sealed value unreadable (shown as ``[unreadable]``): keep it, as the docs
say.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from app.audit.models import AuditSubjectKey
from app.audit.personal import Subject, reveal
from app.clock import Clock
from app.crypto.sealing import SealBroken, Sealer, derive_key
from app.db import READS_NO_HELD_ROWS, insert_now


class SubjectKeyring:
    """The wrapping and naming keys, derived once per process from the secret key, on first use (a command
    that seals nothing, such as ``tenantry demo`` in production before the secret is set, needs none)."""

    def __init__(self, secret: str | Callable[[], str]) -> None:
        self._secret = secret
        self._sealer = Sealer.for_purpose(secret, "audit/subject-keys")
        self._name_key: bytes | None = None

    @property
    def name_key(self) -> bytes:
        if self._name_key is None:
            secret = self._secret if isinstance(self._secret, str) else self._secret()
            self._name_key = derive_key(secret, "audit/subject-names")
        return self._name_key

    def subject_id(self, subject: Subject) -> str:
        if subject.kind == "user":
            return subject.ref
        mac = hmac.new(self.name_key, subject.ref.encode("utf-8"), hashlib.sha256).hexdigest()
        return "eml_" + mac[:40]

    def wrap(self, key_id: str, key: bytes) -> str:
        return self._sealer.seal(key, key_id)

    def unwrap(self, key_id: str, wrapped: str) -> bytes | None:
        try:
            return self._sealer.open(wrapped, key_id)
        except SealBroken:
            return None  # sealed under another secret key: unreadable, shown as such


class SubjectKeys:
    """The keys of one unit of work: the current key of a subject (created on first use), keys by id for
    readers (cached), and erasure. Lives as long as a transaction or an export."""

    def __init__(self, session: Session, clock: Clock | None, ring: SubjectKeyring) -> None:
        self.session = session
        self.clock = clock
        self.ring = ring
        self._current: dict[str, tuple[str, bytes]] = {}
        self._by_id: dict[str, bytes | None] = {}
        self._fresh: set[str] = set()
        self._deferred: list[dict[str, Any]] | None = None  # see ``defer``

    def current(self, subject: Subject) -> tuple[str, bytes]:
        """``(key id, key)`` to seal a new value of ``subject``."""
        assert self.clock is not None, "a reader's keys seal nothing"
        sid = self.ring.subject_id(subject)
        if sid in self._current:
            return self._current[sid]
        # No autoflush: the only keys this could miss are ones still pending in this session, which this
        # object made and holds in ``_current`` (another's would only mean a second key for the subject).
        row = None
        if sid not in self._fresh:
            with self.session.no_autoflush:
                row = self.session.execute(_CURRENT, {"subject": sid}).first()
        key = self.ring.unwrap(row.id, row.wrapped) if row is not None and row.wrapped else None
        if row is None or key is None:
            key_id, key = os.urandom(12).hex(), AESGCM.generate_key(bit_length=256)
            made = {
                "id": key_id,
                "subject": sid,
                "wrapped": self.ring.wrap(key_id, key),
                "created_at": self.clock.now(),
                "erased_at": None,
            }
            if self._deferred is not None:
                self._deferred.append(made)  # written with the block's events (``defer``)
            else:
                insert_now(self.session, AuditSubjectKey(**made))  # no foreign key: written at once
            self._current[sid] = (key_id, key)
        else:
            self._current[sid] = (row.id, key)
        self._by_id[self._current[sid][0]] = self._current[sid][1]
        return self._current[sid]

    def defer(self) -> list[dict[str, Any]]:
        """From now on a new key is a row in the returned list, for the caller to write before its
        transaction commits (the recorder's linked block writes them with its events, in one statement),
        rather than written at once. ``forget`` them if they will not be written."""
        self._deferred = []
        return self._deferred

    def stop_deferring(self) -> None:
        self._deferred = None

    def forget(self, made: Iterable[Mapping[str, Any]]) -> None:
        """Keys that were never written (their block failed): no later value is sealed with them."""
        gone = {row["id"] for row in made}
        for sid, (key_id, _) in list(self._current.items()):
            if key_id in gone:
                del self._current[sid]
        for key_id in gone:
            self._by_id.pop(key_id, None)

    def new_subject(self, subject: Subject) -> None:
        """``subject`` was made in this unit of work (an account just created: its id is new), so it has no
        key yet: its first value gets one without looking."""
        sid = self.ring.subject_id(subject)
        self._fresh.add(sid)

    def load(self, key_ids: Iterable[str]) -> dict[str, bytes | None]:
        """Keys by id (None: erased, or unreadable); one query for the ids not seen yet."""
        missing = {k for k in key_ids if k not in self._by_id}
        if missing:
            rows = self.session.execute(
                select(AuditSubjectKey.id, AuditSubjectKey.wrapped).where(AuditSubjectKey.id.in_(missing))
            ).all()
            for key_id, wrapped in rows:
                self._by_id[key_id] = self.ring.unwrap(key_id, wrapped) if wrapped else None
            for key_id in missing - {r[0] for r in rows}:
                self._by_id[key_id] = None
        return self._by_id

    def erase(self, subjects: Iterable[Subject]) -> int:
        """Destroy every key of these subjects (in the caller's transaction); returns how many."""
        assert self.clock is not None, "a reader's keys erase nothing"
        sids = sorted({self.ring.subject_id(s) for s in subjects})
        result = self.session.execute(
            update(AuditSubjectKey)
            .where(AuditSubjectKey.subject.in_(sids), AuditSubjectKey.erased_at.is_(None))
            .values(wrapped=None, erased_at=self.clock.now())
            .execution_options(synchronize_session=False)
        )
        for sid in sids:
            self._current.pop(sid, None)
        self._by_id.clear()
        return int(getattr(result, "rowcount", 0) or 0)


# Built once (bound parameter): every audited write with personal values looks its subjects' keys up.
_CURRENT: Final = (
    select(AuditSubjectKey.id, AuditSubjectKey.wrapped)
    .where(AuditSubjectKey.subject == bindparam("subject"), AuditSubjectKey.erased_at.is_(None))
    .order_by(AuditSubjectKey.created_at, AuditSubjectKey.id)
    .limit(1)
    .execution_options(**{READS_NO_HELD_ROWS: True})  # keys are never held: written with their block
)


class Revealer:
    """What readers (search, export, extracts) show of sealed values: a batch of rows at a time, the keys of
    the batch loaded in one query inside the caller's transaction."""

    def __init__(self, session: Session, ring: SubjectKeyring | None) -> None:
        self.keys = SubjectKeys(session, None, ring) if ring is not None else None

    def batch(self, rows: Sequence[Any]) -> list[Shown | None]:
        """Per row (with ``sealed`` and ``redacted`` as JSON text, and the JSON columns as text or
        decoded): None when it has nothing sealed, else what to show instead of the stored tokens."""
        raw = [r.sealed for r in rows]
        if not any(raw):
            return [None] * len(rows)
        parsed = [_decoded(v) for v in raw]
        wanted = {e["k"] for s in parsed if s for e in s.values()}
        keys = self.keys.load(wanted) if self.keys is not None and wanted else {}
        out: list[Shown | None] = []
        for row, sealed in zip(rows, parsed, strict=True):
            if not sealed:
                out.append(None)
                continue
            targets: list[Any] = _decoded(row.targets) or []
            changes: dict[str, Any] = _decoded(row.changes) or {}
            data: dict[str, Any] = _decoded(row.data) or {}
            actor: dict[str, Any] = {"name": row.actor_name}
            fields = {"actor": actor, "targets": targets, "changes": changes, "data": data}
            proofs = reveal(fields, sealed, keys)
            out.append(Shown(actor["name"], targets, changes, data, proofs))
        return out


@dataclass(frozen=True)
class Shown:
    actor_name: str | None
    targets: list[Any]
    changes: dict[str, Any]
    data: dict[str, Any]
    proofs: dict[str, dict[str, str]]  # path → {"token", "salt"?}: what a verifier needs (JSON Lines only)


def _decoded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
