"""The per-worker authorization engine: compiled org snapshots in an LRU, kept fresh by version.

A check is a dict lookup when the org's snapshot is cached and at least ``min_version``; otherwise the org
is loaded (one indexed query per table) and compiled. Snapshots are dropped when a newer version is heard of:
from this process's own commits at once, from other workers and instances through PostgreSQL
``LISTEN tenantry_authz``, and from a poll of recently changed versions every ``poll_interval`` seconds (the
fallback, and the only channel on SQLite), with a full sweep of cached orgs every ``sweep_interval``.
Cached API keys are revalidated in every poll round, so a key revoked through another worker is refused within
one round on SQLite too (PostgreSQL's NOTIFY drops it at once).

Refreshes are coalesced per org: one at a time, and a caller takes the result of one that began after it
arrived rather than start its own. A ``min_version`` above the cached snapshot first reads the org's version
alone (one indexed row) and loads only when the database holds something newer, so a flood of checks with an
unreachable ``min_version`` costs no loads, while a real new version is still read at once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from app.credentials.principal import Principal
from app.rbac import versioning
from app.rbac.compiled import CompiledOrg, Decision
from app.rbac.keycache import ApiKeyCache
from app.rbac.loader import changed_since, live_keys, load_org, versions_of

log = logging.getLogger("tenantry.authz")
POLL_WINDOW = 10.0  # seconds of changes each poll re-reads: covers commits that land late and clock skew


class AuthzEngine:
    def __init__(
        self,
        bind: Engine,
        *,
        capacity: int = 50_000,
        poll_interval: float = 0.5,
        sweep_interval: float = 30.0,
        listen: bool = True,
        key_ttl: float = 5.0,
        sync: bool = True,
    ) -> None:
        self.bind = bind
        # Loads use their own small pool without pre-ping: a cold org costs one round trip, not two. One
        # connection per sync worker is enough (loads are rare); threads may open a few more.
        self.reader = (
            create_engine(
                bind.url, pool_size=1, max_overflow=3, pool_pre_ping=False,
                connect_args={"application_name": "tenantry-authz-loader"},
            )
            if bind.dialect.name == "postgresql"
            else bind
        )  # fmt: skip
        self.capacity = capacity
        self.poll_interval = poll_interval
        self.sweep_interval = sweep_interval
        self.listen = listen and bind.dialect.name == "postgresql"
        self.keys = ApiKeyCache(ttl=key_ttl)
        self.loads = 0  # full loads of an org (policy read and compiled)
        self.version_reads = 0  # reads of one org's version, before a load that may not be needed
        self._refreshes: dict[str, _Refresh] = {}
        self._cache: OrderedDict[str, CompiledOrg] = OrderedDict()
        self._lock = threading.Lock()
        self._pid: int | None = None if sync else os.getpid()  # sync=False: never start the thread
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Finished sync rounds, so tests (and operators) can wait for one instead of sleeping.
        self.sync_rounds = 0
        # Set while the sync thread LISTENs (PostgreSQL): from then on a commit's NOTIFY reaches this process.
        self.listening = threading.Event()
        self._round_done = threading.Condition()
        versioning.install()
        versioning.listen_local(bind, self.note_versions)
        event.listen(bind, "engine_disposed", self._on_dispose)

    # --- checks ------------------------------------------------------------------------------------------
    def snapshot(self, org_id: str, min_version: int | None = None) -> CompiledOrg:
        if self._pid != os.getpid():
            self._start()
        snap = self._cache.get(org_id)
        if snap is not None and (min_version is None or snap.version >= min_version):
            try:
                self._cache.move_to_end(org_id)
            except KeyError:  # dropped by another thread meanwhile: the snapshot we hold is still valid
                pass
            return snap
        return self._refresh(org_id, min_version)

    def remember_key(self, key_hash: str, principal: Principal) -> None:
        """Cache an authenticated API key; the sync thread (started here if need be) revalidates it."""
        if self._pid != os.getpid():
            self._start()
        self.keys.put(key_hash, principal)

    def check(self, org_id: str, subject: str, permission: str, min_version: int | None = None) -> Decision:
        return self.snapshot(org_id, min_version).decide(subject, permission)

    def _refresh(self, org_id: str, min_version: int | None) -> CompiledOrg:
        """The org's snapshot as of a database read that began after this call did, shared with concurrent
        callers: the answer honours ``min_version`` as a read of one's own would, at the cost of one."""
        with self._lock:
            refresh = self._refreshes.setdefault(org_id, _Refresh())
            refresh.users += 1
            ticket = refresh.started
        try:
            with refresh.lock:
                if refresh.started > ticket and refresh.result is not None:
                    return refresh.result  # began after this caller arrived: as fresh as its own read
                with self._lock:
                    refresh.started += 1
                refresh.result = None
                refresh.result = self._read_through(org_id, min_version)
                return refresh.result
        finally:
            with self._lock:
                refresh.users -= 1
                if refresh.users == 0:
                    self._refreshes.pop(org_id, None)

    def _read_through(self, org_id: str, min_version: int | None) -> CompiledOrg:
        cached = self._cache.get(org_id)
        if cached is not None:
            if min_version is None or cached.version >= min_version:
                return cached  # refreshed meanwhile
            if self.db_version(org_id) <= cached.version:
                return cached  # the database holds nothing newer: min_version is ahead of every commit
        return self.reload(org_id)

    def db_version(self, org_id: str) -> int:
        """The org's committed version (0 when none): one indexed row."""
        try:
            found = versions_of(self.reader, [org_id])
        except (DBAPIError, self.reader.dialect.loaded_dbapi.Error):  # a dropped pooled connection: again
            found = versions_of(self.reader, [org_id])
        self.version_reads += 1
        return found.get(org_id, 0)

    def reload(self, org_id: str) -> CompiledOrg:
        try:
            snap = load_org(self.reader, org_id)
        except (DBAPIError, self.reader.dialect.loaded_dbapi.Error):  # a dropped pooled connection: again
            snap = load_org(self.reader, org_id)
        self.loads += 1
        with self._lock:
            current = self._cache.get(org_id)
            if current is None or current.version <= snap.version:
                self._cache[org_id] = snap
                self._cache.move_to_end(org_id)
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        return snap

    def put(self, snapshot: CompiledOrg) -> None:
        """Install a snapshot compiled elsewhere (benchmarks, warm-up)."""
        with self._lock:
            self._cache[snapshot.org_id] = snapshot
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)

    def cached_version(self, org_id: str) -> int | None:
        snap = self._cache.get(org_id)
        return None if snap is None else snap.version

    def cached_orgs(self) -> int:
        return len(self._cache)

    # --- hearing of changes --------------------------------------------------------------------------------
    def note_versions(self, versions: dict[str, int], revoked_keys: set[str]) -> None:
        """Drop snapshots older than the versions heard of; forget revoked API keys."""
        for org_id, version in versions.items():
            snap = self._cache.get(org_id)
            if snap is not None and snap.version < version:
                with self._lock:
                    if (cur := self._cache.get(org_id)) is not None and cur.version < version:
                        del self._cache[org_id]
        if revoked_keys:
            self.keys.revoke(revoked_keys)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop syncing; waits (up to ``timeout``) for the sync thread's round in progress to end."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def wait_for_rounds(self, count: int, timeout: float = 10.0) -> bool:
        """Block until ``count`` more sync rounds have finished (False on timeout)."""
        with self._round_done:
            target = self.sync_rounds + count
            return self._round_done.wait_for(lambda: self.sync_rounds >= target, timeout)

    def note_round(self) -> None:
        with self._round_done:
            self.sync_rounds += 1
            self._round_done.notify_all()

    def _on_dispose(self, _bind: Engine) -> None:
        """The database engine was disposed (shutdown, tests): stop syncing; the next check restarts it."""
        with self._lock:
            self._stop.set()
            self._pid = None
        if self.reader is not self.bind:
            self.reader.dispose()

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            if self._pid is not None:  # forked (gunicorn --preload): the parent's notifications are not ours
                self._cache.clear()
                self.keys.clear()
            self._pid = os.getpid()
            self._stop = threading.Event()
        thread = threading.Thread(
            target=_sync_loop, args=(weakref.ref(self), self._stop), name="authz-sync", daemon=True
        )
        self._thread = thread
        thread.start()

    def poll_once(self, since: float, cur: Any = None) -> None:
        self.note_versions(dict(changed_since(self.bind, since, cur)), set())

    def revalidate_keys(self, cur: Any = None) -> None:
        """Drop cached API keys that were revoked (or whose org was deleted) since they were cached."""
        cached = self.keys.hashes()
        if cached:
            self.keys.revoke(set(cached) - live_keys(self.bind, cached, cur))

    def sweep_once(self, cur: Any = None) -> None:
        orgs = list(self._cache)
        current = versions_of(self.bind, orgs, cur)
        self.note_versions({o: current.get(o, 0) for o in orgs if o in current}, set())


@dataclass
class _Refresh:
    """One org's refreshes in flight: ``started`` counts them, ``result`` is the last one's snapshot."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    started: int = 0
    result: CompiledOrg | None = None
    users: int = 0


def _sync_loop(ref: weakref.ref[AuthzEngine], stop: threading.Event) -> None:
    """Background thread: LISTEN (PostgreSQL) while waiting between polls; exits with its engine."""
    holder: list[_Listener] = []
    try:
        _sync_rounds(ref, stop, holder)
    finally:
        for listener in holder:
            listener.close()


def _sync_rounds(ref: weakref.ref[AuthzEngine], stop: threading.Event, holder: list[_Listener]) -> None:
    listener: _Listener | None = None
    last_sweep = time.monotonic()
    while not stop.is_set():
        engine = ref()
        if engine is None:
            return
        started = time.time()
        try:
            if engine.listen and listener is None:
                listener = _Listener(engine.bind)
                holder[:] = [listener]
                engine.listening.set()
            if listener is not None:
                listener.wait(engine, engine.poll_interval)
            else:
                stop.wait(engine.poll_interval)
            if stop.is_set():
                return
            # On PostgreSQL the listening connection also polls: the thread never touches the pool.
            cur = listener.conn.cursor() if listener is not None else None
            engine.poll_once(started - POLL_WINDOW, cur)
            engine.revalidate_keys(cur)
            if time.monotonic() - last_sweep >= engine.sweep_interval:
                engine.sweep_once(cur)
                last_sweep = time.monotonic()
            engine.note_round()
        except Exception as exc:  # the database may be down: keep serving snapshots, retry
            if stop.is_set():
                return  # disposed meanwhile (shutdown): its connections going away is no failure
            if isinstance(exc, (DBAPIError, psycopg.OperationalError)):
                # The database said why (unreachable, restarted): its message is the whole story. No traceback
                # is formatted off the main thread: on CPython 3.11 that parses source (ast) and can race
                # another thread's ast use into "AST constructor recursion depth mismatch" (CPython #106905).
                log.warning("authz sync failed (%s); retrying", str(exc).strip().splitlines()[0][:300])
            else:
                log.warning("authz sync failed; retrying", exc_info=True)
            if listener is not None:
                engine.listening.clear()
                listener.close()
                listener = None
                holder.clear()
            stop.wait(min(5.0, engine.poll_interval * 4))
        del engine


class _Listener:
    """A dedicated autocommit psycopg connection LISTENing on the authz channel."""

    def __init__(self, bind: Engine) -> None:
        url = bind.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.conn = psycopg.connect(url, autocommit=True, application_name="tenantry-authz-listener")
        self.conn.execute(f"LISTEN {versioning.CHANNEL}")

    def wait(self, engine: AuthzEngine, timeout: float) -> None:
        for note in self.conn.notifies(timeout=timeout):
            versions, revoked = versioning.decode_payload(note.payload)
            engine.note_versions(versions, revoked)

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # noqa: S110 - already broken
            pass
