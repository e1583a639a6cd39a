"""The API key cache: a revoked hash is dropped and never put back by a request that read it earlier."""

from __future__ import annotations

from app.credentials.principal import Principal
from app.rbac.keycache import ApiKeyCache

KEY = Principal("org_key", "key_1", "ci", org_id="org_1", role="admin")


def test_revoke_drops_the_entry() -> None:
    cache = ApiKeyCache()
    cache.put("h1", KEY)
    cache.put("h2", KEY)
    cache.revoke({"h1"})
    assert cache.get("h1") is None and cache.get("h2") == KEY
    assert cache.hashes() == ["h2"]


def test_a_put_after_the_revocation_was_heard_is_ignored() -> None:
    """A request read the key just before the revocation committed, and caches it just after."""
    cache = ApiKeyCache()
    cache.revoke({"h1"})
    cache.put("h1", KEY)
    assert cache.get("h1") is None


def test_tombstones_expire_and_stay_bounded() -> None:
    cache = ApiKeyCache(capacity=3, tombstone_ttl=-1.0)  # already expired
    cache.revoke({"a", "b", "c"})
    cache.put("a", KEY)
    assert cache.get("a") == KEY  # an expired tombstone blocks nothing
    cache.revoke({"d"})  # at capacity: the expired ones are pruned
    assert len(cache._tombstones) == 1
