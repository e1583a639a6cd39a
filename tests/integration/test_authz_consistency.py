"""Two workers (two apps with their own containers, caches and sync threads) over one database.

A role change made through worker A is seen by a check on worker B at once when the check carries
``min_version``, and within one second without it (LISTEN/NOTIFY on PostgreSQL, the version poll on SQLite).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import create_app, migrate
from app.config import Settings
from app.container import Container
from app.credentials.secrets import hash_secret
from tests.conftest import Api, make_org_key
from tests.member_factories import add_person, session_token
from tests.support import authz_check as _check
from tests.support import wait_until


def _settings(url: str, path: Path, fast_path: bool) -> Settings:
    return Settings(
        env="test", database_url=url, instance_path=path / "instance", authz_fast_path=fast_path,
        secret_key="test-secret-key-not-for-production", log_json=False, log_level="WARNING",
    )  # fmt: skip


@pytest.fixture
def authz_fast_path() -> bool:
    """On, as in production; the test that turns on min_version alone runs with it off too."""
    return True


@pytest.fixture(params=["sqlite", "postgres"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_database")
        return url
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture
def workers(shared_url: str, tmp_path: Path, authz_fast_path: bool) -> Iterator[tuple[Flask, Flask]]:
    containers = [
        Container.build(_settings(shared_url, tmp_path / name, authz_fast_path)) for name in ("a", "b")
    ]
    apps = [create_app(c.settings, c) for c in containers]
    yield apps[0], apps[1]
    for c in containers:
        assert c.authorizer.engine is not None
        c.authorizer.engine.stop()
        c.engine.dispose()


def _container(app: Flask) -> Container:
    c: Container = app.extensions["tenantry"]
    return c


def test_role_change_on_one_worker_is_seen_by_the_other(workers: tuple[Flask, Flask]) -> None:
    app_a, app_b = workers
    ca = _container(app_a)
    with ca.session_factory() as session:
        key = ca.services(session).credentials.create_api_key(org_id=None, name="t").secret
        session.commit()
    platform_a, platform_b = Api(app_a.test_client(), key), Api(app_b.test_client(), key)
    org = platform_a.post("/v1/orgs", {"name": "Acme"}).json["id"]
    owner_a = Api(app_a.test_client(), make_org_key(ca, org, "owner"))
    eve = add_person(ca, org, "eve@acme.test", role="member")

    assert _check(platform_b, org, eve.user_id, "members:update")["allowed"] is False  # B caches it
    changed = owner_a.patch(f"/v1/orgs/{org}/members/{eve.member_id}", {"role": "admin"})
    assert changed.status_code == 200
    new_version = int(changed.headers["Tenantry-Authz-Version"].split("=")[1])

    # At once with min_version: B reloads synchronously before answering.
    fresh = _check(platform_b, org, eve.user_id, "members:update", min_version=new_version)
    assert fresh == {"allowed": True, "version": new_version, "reason": "granted_by_role"}

    # Soon without it: B's sync thread hears of it (a second or so; the bound here only catches "never",
    # timing on a busy 2-core machine is the benchmark's job).
    assert owner_a.patch(f"/v1/orgs/{org}/members/{eve.member_id}", {"role": "member"}).status_code == 200
    assert wait_until(lambda: not _check(platform_b, org, eve.user_id, "members:update")["allowed"]), (
        "worker B still answers from the old snapshot"
    )


@pytest.mark.parametrize("authz_fast_path", [True, False], ids=["fast-path", "flask-path"])
def test_min_version_alone_makes_a_stale_worker_fresh(workers: tuple[Flask, Flask]) -> None:
    """With B's sync thread stopped, only min_version can bring B forward: without it B stays stale.

    B's key is cached after its first check, so with the fast path on the fast path answers the rest."""
    app_a, app_b = workers
    ca, cb = _container(app_a), _container(app_b)
    assert cb.authorizer.engine is not None
    with ca.session_factory() as session:
        key = ca.services(session).credentials.create_api_key(org_id=None, name="t").secret
        session.commit()
    platform_b = Api(app_b.test_client(), key)
    org = Api(app_a.test_client(), key).post("/v1/orgs", {"name": "Acme"}).json["id"]
    owner_a = Api(app_a.test_client(), make_org_key(ca, org, "owner"))
    gus = add_person(ca, org, "gus@acme.test", role="billing")
    assert _check(platform_b, org, gus.user_id, "members:update")["allowed"] is False
    cb.authorizer.engine.stop()  # returns once B's sync thread has finished its last round
    changed = owner_a.patch(f"/v1/orgs/{org}/members/{gus.member_id}", {"role": "admin"})
    new_version = int(changed.headers["Tenantry-Authz-Version"].split("=")[1])
    stale = _check(platform_b, org, gus.user_id, "members:update")
    assert stale["allowed"] is False and stale["version"] < new_version
    fresh = _check(platform_b, org, gus.user_id, "members:update", min_version=new_version)
    assert fresh == {"allowed": True, "version": new_version, "reason": "granted_by_role"}


def test_member_session_on_the_other_worker_is_never_stale(workers: tuple[Flask, Flask]) -> None:
    app_a, app_b = workers
    ca = _container(app_a)
    with ca.session_factory() as session:
        key = ca.services(session).credentials.create_api_key(org_id=None, name="t").secret
        session.commit()
    org = Api(app_a.test_client(), key).post("/v1/orgs", {"name": "Acme"}).json["id"]
    owner_a = Api(app_a.test_client(), make_org_key(ca, org, "owner"))
    fay = add_person(ca, org, "fay@acme.test", role="member")
    fay_b = Api(app_b.test_client(), session_token(ca, fay.user_id, org))
    assert fay_b.get(f"/v1/orgs/{org}/roles").status_code == 403  # B caches fay as member
    assert owner_a.patch(f"/v1/orgs/{org}/members/{fay.member_id}", {"role": "admin"}).status_code == 200
    assert fay_b.get(f"/v1/orgs/{org}/roles").status_code == 200  # no wait: read through the version
    assert (
        owner_a.patch(f"/v1/orgs/{org}/members/{fay.member_id}", {"status": "suspended"}).status_code == 200
    )
    assert fay_b.get(f"/v1/orgs/{org}/roles").status_code == 401  # suspended: the session ended


@pytest.mark.parametrize("shared_url", ["postgres"], indirect=True)  # LISTEN/NOTIFY is PostgreSQL's
def test_postgres_notify_alone_delivers_the_change(shared_url: str, workers: tuple[Flask, Flask]) -> None:
    """With B's poll pushed out to 30 s, only LISTEN/NOTIFY can tell B of A's commit within a second."""
    assert shared_url.startswith("postgresql")
    app_a, app_b = workers
    ca, cb = _container(app_a), _container(app_b)
    assert cb.authorizer.engine is not None
    with ca.session_factory() as session:
        key = ca.services(session).credentials.create_api_key(org_id=None, name="t").secret
        session.commit()
    # Before B's sync thread starts (on its first check): every round of it waits 30 s on LISTEN, so within
    # this test only a notification can tell B of anything.
    cb.authorizer.engine.poll_interval = 30.0
    platform_b = Api(app_b.test_client(), key)
    org = Api(app_a.test_client(), key).post("/v1/orgs", {"name": "Acme"}).json["id"]
    owner_a = Api(app_a.test_client(), make_org_key(ca, org, "owner"))
    ian = add_person(ca, org, "ian@acme.test", role="member")
    assert _check(platform_b, org, ian.user_id, "members:update")["allowed"] is False
    assert cb.authorizer.engine.listening.wait(10), "worker B never began to LISTEN"
    assert owner_a.patch(f"/v1/orgs/{org}/members/{ian.member_id}", {"role": "admin"}).status_code == 200
    assert wait_until(
        lambda: _check(platform_b, org, ian.user_id, "members:update")["allowed"], timeout=10
    ), "no notification reached worker B (a poll would have taken 30 s)"


def _key_to_revoke(app_a: Flask, org: str) -> tuple[str, str, Api]:
    """An admin key of ``org`` (its id and secret) and an owner key on worker A that can revoke it."""
    ca = _container(app_a)
    key = make_org_key(ca, org, "admin")
    owner_a = Api(app_a.test_client(), make_org_key(ca, org, "owner"))
    listed = owner_a.get(f"/v1/orgs/{org}/api-keys").json["data"]
    key_id = next(k["id"] for k in listed if key.startswith(k["prefix"]))
    return key_id, key, owner_a


def _cached_on_b(app_b: Flask, key: str, org: str) -> Api:
    cb = _container(app_b)
    engine = cb.authorizer.engine
    assert engine is not None
    engine.keys.ttl = 3600.0  # only a revocation can drop the key, never its expiry
    api_b = Api(app_b.test_client(), key)
    for _ in range(2):  # the first call authenticates and caches; the second takes the fast path
        assert _check(api_b, org, "usr_" + "1" * 32, "org:read")["allowed"] is False
    assert engine.keys.get(hash_secret(key)) is not None
    return api_b


def _refused_within(api_b: Api, org: str, bound: float) -> float:
    body = {"org": org, "subject": "usr_" + "1" * 32, "action": "org:read"}
    started = time.monotonic()
    refused = wait_until(lambda: api_b.post("/v1/authz/check", body).status_code != 200, timeout=bound)
    assert refused, f"worker B still accepts the revoked key after {bound} s"
    assert api_b.post("/v1/authz/check", body).status_code == 401
    return time.monotonic() - started


def _new_org(app_a: Flask) -> str:
    ca = _container(app_a)
    with ca.session_factory() as session:
        key = ca.services(session).credentials.create_api_key(org_id=None, name="t").secret
        session.commit()
    org: str = Api(app_a.test_client(), key).post("/v1/orgs", {"name": "Acme"}).json["id"]
    return org


def test_a_key_revoked_on_one_worker_is_refused_by_the_other(workers: tuple[Flask, Flask]) -> None:
    """B's cached key outlives no sync round: one poll interval (0.5 s) on SQLite, NOTIFY on PostgreSQL.
    The bound is generous; the key's hour-long cache life is what a missed revocation would show."""
    app_a, app_b = workers
    org = _new_org(app_a)
    key_id, key, owner_a = _key_to_revoke(app_a, org)
    api_b = _cached_on_b(app_b, key, org)
    assert owner_a.delete(f"/v1/orgs/{org}/api-keys/{key_id}").status_code == 204
    _refused_within(api_b, org, bound=10.0)


def test_one_sync_round_drops_a_key_revoked_elsewhere(workers: tuple[Flask, Flask]) -> None:
    """With B's sync thread stopped and no notification, the revalidation of one round is enough."""
    app_a, app_b = workers
    org = _new_org(app_a)
    key_id, key, owner_a = _key_to_revoke(app_a, org)
    api_b = _cached_on_b(app_b, key, org)
    engine = _container(app_b).authorizer.engine
    assert engine is not None
    engine.stop()  # returns once B's sync thread has finished its last round
    assert owner_a.delete(f"/v1/orgs/{org}/api-keys/{key_id}").status_code == 204
    assert engine.keys.get(hash_secret(key)) is not None  # nothing told B
    engine.revalidate_keys()
    assert engine.keys.get(hash_secret(key)) is None
    body = {"org": org, "subject": "usr_x", "action": "org:read"}
    assert api_b.post("/v1/authz/check", body).status_code == 401


def test_a_deleted_orgs_keys_are_dropped_by_revalidation(workers: tuple[Flask, Flask]) -> None:
    app_a, app_b = workers
    org = _new_org(app_a)
    _key_id, key, owner_a = _key_to_revoke(app_a, org)
    _cached_on_b(app_b, key, org)
    engine = _container(app_b).authorizer.engine
    assert engine is not None
    assert owner_a.delete(f"/v1/orgs/{org}").status_code in (200, 204)
    engine.revalidate_keys()
    assert engine.keys.get(hash_secret(key)) is None


@pytest.mark.parametrize("shared_url", ["postgres"], indirect=True)  # LISTEN/NOTIFY is PostgreSQL's
def test_postgres_notify_alone_delivers_a_revocation(shared_url: str, workers: tuple[Flask, Flask]) -> None:
    """With B's poll and revalidation pushed out to 30 s, only NOTIFY can drop B's cached key in time."""
    app_a, app_b = workers
    org = _new_org(app_a)
    key_id, key, owner_a = _key_to_revoke(app_a, org)
    engine = _container(app_b).authorizer.engine
    assert engine is not None
    # Before B's sync thread starts (on its first request): every round of it waits 30 s on LISTEN, so
    # within this test only a notification can drop B's cached key.
    engine.poll_interval = 30.0
    api_b = _cached_on_b(app_b, key, org)
    assert engine.listening.wait(10), "worker B never began to LISTEN"
    assert owner_a.delete(f"/v1/orgs/{org}/api-keys/{key_id}").status_code == 204
    _refused_within(api_b, org, bound=5.0)


UNREACHABLE = 10**9


def test_unreachable_min_version_costs_no_loads_but_a_real_one_is_read_at_once(
    workers: tuple[Flask, Flask],
) -> None:
    app_a, app_b = workers
    ca, cb = _container(app_a), _container(app_b)
    engine = cb.authorizer.engine
    assert engine is not None
    org = _new_org(app_a)
    owner_a = Api(app_a.test_client(), make_org_key(ca, org, "owner"))
    eve = add_person(ca, org, "eve@acme.test", role="member")
    with cb.session_factory() as session:
        platform_b = Api(
            app_b.test_client(), cb.services(session).credentials.create_api_key(org_id=None).secret
        )
        session.commit()
    version = _check(platform_b, org, eve.user_id, "members:update")["version"]  # B caches the org
    engine.stop()  # B hears of nothing by itself from here: only min_version can bring it forward
    loads, reads = engine.loads, engine.version_reads

    for _ in range(50):
        answer = _check(platform_b, org, eve.user_id, "members:update", min_version=UNREACHABLE)
        assert answer == {"allowed": False, "version": version, "reason": "not_granted"}
    assert engine.loads == loads  # before: one full load per call
    assert engine.version_reads - reads == 50  # one indexed row each

    changed = owner_a.patch(f"/v1/orgs/{org}/members/{eve.member_id}", {"role": "admin"})
    new_version = int(changed.headers["Tenantry-Authz-Version"].split("=")[1])
    fresh = _check(platform_b, org, eve.user_id, "members:update", min_version=new_version)
    assert fresh == {"allowed": True, "version": new_version, "reason": "granted_by_role"}
    assert engine.loads == loads + 1


@pytest.mark.parametrize("case", ["unreachable_min_version", "cold_org"])
def test_concurrent_refreshes_of_one_org_are_coalesced(workers: tuple[Flask, Flask], case: str) -> None:
    """N checks arrive while a refresh of their org is in flight: one more refresh serves them all."""
    app_a, app_b = workers
    ca, cb = _container(app_a), _container(app_b)
    engine = cb.authorizer.engine
    assert engine is not None
    org = _new_org(app_a)
    eve = add_person(ca, org, "eve@acme.test", role="admin")
    engine.check(org, eve.user_id, "members:update")
    if case == "cold_org":
        engine.clear()
    loads, reads = engine.loads, engine.version_reads
    # The first caller's database read waits at the gate until every caller has arrived.
    gate = threading.Event()
    name = "db_version" if case == "unreachable_min_version" else "reload"
    real = getattr(engine, name)

    def gated(org_id: str) -> Any:
        assert gate.wait(10), "the gate never opened"
        return real(org_id)

    setattr(engine, name, gated)
    n = 16
    min_version = UNREACHABLE if case == "unreachable_min_version" else None
    decisions: list[Any] = []

    def check() -> None:
        decisions.append(engine.check(org, eve.user_id, "members:update", min_version))

    threads = [threading.Thread(target=check) for _ in range(n)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while (refresh := engine._refreshes.get(org)) is None or refresh.users < n:
        assert time.monotonic() < deadline, "the callers never all arrived"
        time.sleep(0.005)
    gate.set()
    for thread in threads:
        thread.join(10)
    assert len(decisions) == n and {d.allowed for d in decisions} == {True}
    # The read in flight when they arrived, and one that began after: never one each.
    if case == "cold_org":
        assert engine.loads - loads <= 2
    else:
        assert engine.loads == loads and engine.version_reads - reads <= 2
    assert org not in engine._refreshes  # nothing left behind
