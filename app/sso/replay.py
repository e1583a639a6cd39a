"""The SAML replay cache: an assertion is accepted once, by any worker of any instance.

An assertion's key (issuer and id, hashed with the connection id) is remembered until its NotOnOrAfter (plus
the allowed skew): afterwards the assertion is refused as expired anyway. ``remember`` is one atomic
insert-if-absent answering whether this caller was first: ``SET NX PX`` in Redis when
``TENANTRY_RATE_LIMIT_URL`` is a Redis URL (under its prefix), else an ``INSERT … ON CONFLICT DO NOTHING``
into ``sso_replay_cache`` in its own short transaction (committed before the login goes on, so a second
request with the same assertion, racing on another worker, sees it).
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime
from typing import Protocol

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from app.clock import Clock
from app.db import is_postgres, transaction
from app.sso.models import SamlReplay


class ReplayCache(Protocol):
    def remember(self, connection_id: str, key: str, until: datetime) -> bool:
        """True when ``key`` was not seen before (and is now remembered until ``until``)."""
        ...


def replay_digest(connection_id: str, key: str) -> str:
    return hashlib.sha256(f"{connection_id}\n{key}".encode()).hexdigest()


class DatabaseReplayCache:
    def __init__(self, session_factory: sessionmaker[Session], clock: Clock) -> None:
        self.session_factory = session_factory
        self.clock = clock

    def remember(self, connection_id: str, key: str, until: datetime) -> bool:
        digest = replay_digest(connection_id, key)
        with transaction(self.session_factory) as session:
            insert = postgresql.insert if is_postgres(session) else sqlite.insert
            # An expired row of the same key no longer protects anything: replace it.
            session.execute(
                delete(SamlReplay).where(SamlReplay.key == digest, SamlReplay.expires_at <= self.clock.now())
            )
            stmt = (
                insert(SamlReplay)
                .values(key=digest, expires_at=until)
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(SamlReplay.key)
            )
            return session.execute(stmt).first() is not None

    def purge(self) -> int:
        with transaction(self.session_factory) as session:
            result = session.execute(delete(SamlReplay).where(SamlReplay.expires_at <= self.clock.now()))
            return int(getattr(result, "rowcount", 0) or 0)


class RedisReplayCache:
    def __init__(self, url: str, prefix: str, clock: Clock) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.prefix = prefix
        self.clock = clock

    def remember(self, connection_id: str, key: str, until: datetime) -> bool:
        ttl_ms = max(1, math.ceil((until - self.clock.now()).total_seconds() * 1000))
        name = f"{self.prefix}:saml-replay:{replay_digest(connection_id, key)}"
        return bool(self.client.set(name, b"1", nx=True, px=ttl_ms))

    def purge(self) -> int:
        return 0  # keys expire by themselves


def replay_cache_for(
    rate_limit_url: str, prefix: str, session_factory: sessionmaker[Session], clock: Clock
) -> DatabaseReplayCache | RedisReplayCache:
    if rate_limit_url.startswith(("redis://", "rediss://")):
        return RedisReplayCache(rate_limit_url, prefix, clock)
    return DatabaseReplayCache(session_factory, clock)
