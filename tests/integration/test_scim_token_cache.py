"""A SCIM token is read from the database once, then served from the key cache API keys share
(``app/rbac/keycache.py``): its revocation still reaches every worker promptly, on SQLite and PostgreSQL."""

from __future__ import annotations

from flask import Flask

from app.credentials.secrets import hash_secret
from tests.conftest import Api, make_org_key
from tests.integration.scim_client import Scim, make_scim_token
from tests.integration.test_authz_consistency import (
    _container,
    _new_org,
    authz_fast_path,
    shared_url,
    workers,
)
from tests.support import wait_until

__all__ = ["authz_fast_path", "shared_url", "workers"]  # fixtures, imported for pytest


def _token_of(app_a: Flask, org: str) -> tuple[str, str, Api]:
    ca = _container(app_a)
    token = make_scim_token(ca, org)
    owner_a = Api(app_a.test_client(), make_org_key(ca, org, "owner"))
    listed = owner_a.get(f"/v1/orgs/{org}/scim-tokens").json["data"]
    token_id = next(t["id"] for t in listed if token.startswith(t["prefix"]))
    return token_id, token, owner_a


def _cached(app: Flask, token: str) -> Scim:
    engine = _container(app).authorizer.engine
    assert engine is not None
    engine.keys.ttl = 3600.0  # only a revocation can drop it, never its expiry
    scim = Scim(app.test_client(), token)
    assert scim.get("/Users").status_code == 200
    assert engine.keys.get(hash_secret(token)) is not None
    return scim


def test_a_cached_scim_token_is_refused_at_once_after_revocation_on_the_same_worker(
    workers: tuple[Flask, Flask],
) -> None:
    app_a, _ = workers
    org = _new_org(app_a)
    token_id, token, owner_a = _token_of(app_a, org)
    scim = _cached(app_a, token)
    assert scim.get("/Users").status_code == 200
    assert owner_a.delete(f"/v1/orgs/{org}/scim-tokens/{token_id}").status_code == 204
    refused = scim.get("/Users")
    assert refused.status_code == 401 and refused.json["status"] == "401"


def test_a_scim_token_revoked_on_one_worker_is_refused_by_the_other(workers: tuple[Flask, Flask]) -> None:
    """NOTIFY on PostgreSQL, one sync round (0.5 s) on SQLite; the cached entry's hour of life is what a
    missed revocation would show."""
    app_a, app_b = workers
    org = _new_org(app_a)
    token_id, token, owner_a = _token_of(app_a, org)
    scim_b = _cached(app_b, token)
    assert owner_a.delete(f"/v1/orgs/{org}/scim-tokens/{token_id}").status_code == 204
    assert wait_until(lambda: scim_b.get("/Users").status_code == 401, timeout=10.0)


def test_one_sync_round_drops_a_scim_token_revoked_elsewhere(workers: tuple[Flask, Flask]) -> None:
    app_a, app_b = workers
    org = _new_org(app_a)
    token_id, token, owner_a = _token_of(app_a, org)
    _cached(app_b, token)
    engine = _container(app_b).authorizer.engine
    assert engine is not None
    engine.stop()
    assert owner_a.delete(f"/v1/orgs/{org}/scim-tokens/{token_id}").status_code == 204
    assert engine.keys.get(hash_secret(token)) is not None  # nothing told B
    engine.revalidate_keys()
    assert engine.keys.get(hash_secret(token)) is None


def test_a_deleted_orgs_scim_token_is_dropped_by_revalidation(workers: tuple[Flask, Flask]) -> None:
    app_a, app_b = workers
    org = _new_org(app_a)
    _token_id, token, owner_a = _token_of(app_a, org)
    _cached(app_b, token)
    engine = _container(app_b).authorizer.engine
    assert engine is not None
    assert owner_a.delete(f"/v1/orgs/{org}").status_code in (200, 204)
    engine.revalidate_keys()
    assert engine.keys.get(hash_secret(token)) is None
