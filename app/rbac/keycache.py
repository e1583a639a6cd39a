"""API keys already authenticated, by key hash, for a few seconds: check API callers repeat on every request.

A revocation reaches every worker: this process's own commits drop the entry at once, other workers' commits
at once on PostgreSQL (NOTIFY), and within one sync round (``AuthzEngine.poll_interval``) everywhere, because
each round re-reads which cached keys are still live (``AuthzEngine.revalidate_keys``; the only channel on
SQLite). ``ttl`` is the last resort, for a database that cannot be read.

A revoked hash is remembered for a while (a tombstone): a request that read the key just before the revocation
committed must not put it back after the revocation was heard of.
"""

from __future__ import annotations

import threading
import time

from app.credentials.principal import Principal


class ApiKeyCache:
    def __init__(self, ttl: float = 5.0, capacity: int = 10_000, tombstone_ttl: float = 60.0) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self.tombstone_ttl = tombstone_ttl
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._tombstones: dict[str, float] = {}
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> Principal | None:
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._entries.pop(key_hash, None)
            return None
        return entry[1]

    def put(self, key_hash: str, principal: Principal) -> None:
        with self._lock:
            until = self._tombstones.get(key_hash)
            if until is not None and until >= time.monotonic():
                return  # revoked after the caller's read: never cache it again
            if len(self._entries) >= self.capacity:
                self._entries.clear()  # crude but bounded; entries refill on the next request
            self._entries[key_hash] = (time.monotonic() + self.ttl, principal)

    def hashes(self) -> list[str]:
        """The cached key hashes, for revalidation."""
        with self._lock:
            return list(self._entries)

    def revoke(self, key_hashes: set[str]) -> None:
        if not key_hashes:
            return
        now = time.monotonic()
        with self._lock:
            if len(self._tombstones) >= self.capacity:
                self._tombstones = {h: t for h, t in self._tombstones.items() if t >= now}
                if len(self._tombstones) >= self.capacity:
                    self._tombstones.clear()  # bounded; the database refuses these keys anyway
            for key_hash in key_hashes:
                self._entries.pop(key_hash, None)
                self._tombstones[key_hash] = now + self.tombstone_ttl

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._tombstones.clear()
