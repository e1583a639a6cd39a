"""API keys already authenticated, by key hash, for a few seconds: check API callers repeat on every request.

Revocations committed in this process drop the entry at once; other workers drop it when the revocation is
announced (PostgreSQL NOTIFY) and at the latest after ``ttl`` seconds.
"""

from __future__ import annotations

import threading
import time

from app.credentials.principal import Principal


class ApiKeyCache:
    def __init__(self, ttl: float = 5.0, capacity: int = 10_000) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self._entries: dict[str, tuple[float, Principal]] = {}
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
            if len(self._entries) >= self.capacity:
                self._entries.clear()  # crude but bounded; entries refill on the next request
            self._entries[key_hash] = (time.monotonic() + self.ttl, principal)

    def revoke(self, key_hashes: set[str]) -> None:
        with self._lock:
            for key_hash in key_hashes:
                self._entries.pop(key_hash, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
