"""The replay cache answers "first time?" atomically, across threads, on SQLite, PostgreSQL and Redis."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from app.clock import SystemClock
from app.container import Container
from app.sso.replay import DatabaseReplayCache, RedisReplayCache, ReplayCache


def _race(cache: ReplayCache, until_s: float = 60) -> list[bool]:
    clock = SystemClock()
    until = clock.now() + timedelta(seconds=until_s)
    results: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def attempt() -> None:
        barrier.wait()
        first = cache.remember("sso_a", "https://idp\n_assertion1", until)
        with lock:
            results.append(first)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _behaves(cache: ReplayCache) -> None:
    results = _race(cache)
    assert sorted(results) == [False] * 7 + [True]  # exactly one of eight concurrent attempts wins
    until = SystemClock().now() + timedelta(seconds=60)
    assert cache.remember("sso_b", "https://idp\n_assertion1", until) is True  # per connection
    assert cache.remember("sso_a", "https://idp\n_assertion2", until) is True
    assert cache.remember("sso_a", "https://idp\n_assertion2", until) is False


def test_database_cache(container: Container) -> None:
    cache = DatabaseReplayCache(container.session_factory, container.clock)
    _behaves(cache)
    past = container.clock.now() - timedelta(seconds=1)
    assert cache.remember("sso_c", "x", past) is True
    assert cache.purge() >= 1
    assert cache.remember("sso_c", "x", container.clock.now() + timedelta(seconds=5)) is True  # expired: new


def test_postgres_cache(pg_container: Container) -> None:
    _behaves(DatabaseReplayCache(pg_container.session_factory, pg_container.clock))


def test_redis_cache(redis_url: str, redis_prefix: str) -> None:
    cache = RedisReplayCache(redis_url, redis_prefix, SystemClock())
    _behaves(cache)
    assert cache.remember("sso_d", "y", SystemClock().now() + timedelta(milliseconds=50)) is True
    import time

    time.sleep(0.2)
    assert cache.remember("sso_d", "y", SystemClock().now() + timedelta(seconds=5)) is True  # TTL ended


def test_container_picks_redis_when_configured(
    container: Container, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    assert isinstance(container.saml_replay_cache, DatabaseReplayCache)
    settings = container.settings.model_copy(
        update={"rate_limit_url": redis_url, "rate_limit_prefix": redis_prefix}
    )
    other = Container.build(settings)
    try:
        assert isinstance(other.saml_replay_cache, RedisReplayCache)
    finally:
        other.engine.dispose()
