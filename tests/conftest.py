"""Shared fixtures: a fresh database per run (SQLite by default, PostgreSQL with
``TENANTRY_TEST_DATABASE_URL``), an app and client per test, and real-service fixtures that fail under
``CI=true`` when the service is missing instead of skipping."""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from app import create_app, migrate
from app.config import Settings
from app.container import Container
from app.models import metadata
from tests.mailbox import Mailbox

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_SERVER_URL = os.environ.get("TENANTRY_TEST_PG_SERVER", "postgresql://postgres@127.0.0.1:5432/postgres")
NATS_URL = os.environ.get("TENANTRY_TEST_NATS_URL", "nats://127.0.0.1:4222")
REDIS_URL = os.environ.get("TENANTRY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# Real IdPs on loopback (saml-idp, SimpleSAMLphp, oidc-provider): saml_idp_factory, simplesamlphp_factory,
# oidc_provider_factory. They skip locally and fail under CI=true when scripts/install-idps.sh has not run.
pytest_plugins = ["tests.idps.fixtures"]


def service_missing(what: str) -> None:
    """Skip locally; under CI a missing service is a failure, never a silent skip."""
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but is not reachable")
    pytest.skip(f"{what} not reachable")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1
        ):
            return True
    except OSError:
        return False


def create_pg_database(server_url: str) -> str:
    """A fresh, uniquely named database on the server; returns its URL."""
    name = f"tenantry_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(
        server_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str) -> None:
    server, name = url.rsplit("/", 1)
    engine = create_engine(
        (server + "/postgres").replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The suite's database, migrated with Alembic (so the migrations are exercised on every run)."""
    server = os.environ.get("TENANTRY_TEST_DATABASE_URL")
    if server:
        url = create_pg_database(server)
        migrate.upgrade(url)
        yield url
        drop_pg_database(url)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'tenantry.db'}"
        migrate.upgrade(url)
        yield url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        instance_path=tmp_path / "instance",
        secret_key="test-secret-key-not-for-production",
        log_json=False,
        log_level="WARNING",
    )


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    # Mail is kept in a Mailbox (tests read invitation tokens from it, as invitees do), unless the test
    # configures a real SMTP server.
    c = Container.build(settings, mailer=None if settings.smtp_url else Mailbox())
    yield c
    _truncate(c)
    c.engine.dispose()


def _truncate(c: Container) -> None:
    with c.engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def app(settings: Settings, container: Container) -> Flask:
    return create_app(settings, container)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    if not _reachable(PG_SERVER_URL, 5432):
        service_missing(f"PostgreSQL at {PG_SERVER_URL}")
    return PG_SERVER_URL


@pytest.fixture
def pg_database(pg_server_url: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test (independent of the suite's backend)."""
    url = create_pg_database(pg_server_url)
    migrate.upgrade(url)
    yield url
    drop_pg_database(url)


@pytest.fixture
def pg_container(pg_database: str, tmp_path: Path) -> Iterator[Container]:
    """A container of its own on a fresh PostgreSQL database (race tests, whatever the suite's backend)."""
    from tests.support import container_on

    c = container_on(pg_database, tmp_path)
    yield c
    c.engine.dispose()


@pytest.fixture(scope="session")
def nats_url() -> str:
    if not _reachable(NATS_URL, 4222):
        service_missing(f"NATS at {NATS_URL}")
    return NATS_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not _reachable(REDIS_URL, 6379):
        service_missing(f"Redis at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix of this test's own: tests share the machine's Redis."""
    return f"tenantry-test-{uuid.uuid4().hex[:12]}"


class Api:
    """A thin JSON client over the Flask test client, with a bearer key."""

    def __init__(self, client: FlaskClient, key: str | None) -> None:
        self.client = client
        self.key = key

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}

    def call(self, method: str, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.open(path, method=method, json=json, headers=self._headers(), **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self.call("GET", path, **kw)

    def post(self, path: str, json: Any = None) -> Any:
        return self.call("POST", path, json=json if json is not None else {})

    def patch(self, path: str, json: Any) -> Any:
        return self.call("PATCH", path, json=json)

    def put(self, path: str, json: Any) -> Any:
        return self.call("PUT", path, json=json)

    def delete(self, path: str) -> Any:
        return self.call("DELETE", path)

    def as_key(self, key: str | None) -> Api:
        return Api(self.client, key)


def make_platform_key(container: Container) -> str:
    from app.db import transaction

    with transaction(container.session_factory) as session:
        return container.services(session).credentials.create_api_key(org_id=None, name="tests").secret


@pytest.fixture
def platform_key(container: Container) -> str:
    return make_platform_key(container)


@pytest.fixture
def platform(client: FlaskClient, platform_key: str) -> Api:
    return Api(client, platform_key)


@pytest.fixture
def org(platform: Api) -> dict[str, Any]:
    resp = platform.post("/v1/orgs", {"name": "Acme"})
    assert resp.status_code == 201, resp.json
    data: dict[str, Any] = resp.json
    return data


def make_org_key(container: Container, org_id: str, role: str = "admin") -> str:
    from app.db import transaction

    with transaction(container.session_factory) as session:
        return container.services(session).credentials.create_api_key(org_id=org_id, role=role).secret


@pytest.fixture
def admin(client: FlaskClient, container: Container, org: dict[str, Any]) -> Api:
    """An org key acting as admin of ``org``."""
    return Api(client, make_org_key(container, org["id"], "admin"))


@pytest.fixture
def owner(client: FlaskClient, container: Container, org: dict[str, Any]) -> Api:
    """An org key acting as owner of ``org``."""
    return Api(client, make_org_key(container, org["id"], "owner"))


# The services a fixture needs, so that every test using one carries its marker (`-m "not postgres"` and the
# like select exactly), whether or not the module remembered to mark it.
SERVICE_FIXTURES = {
    "postgres": {"pg_server_url", "pg_database", "pg_container"},
    "nats": {"nats_url"},
    "redis": {"redis_url"},
    "idp": {"saml_idp_factory", "simplesamlphp_factory", "oidc_provider_factory"},
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in SERVICE_FIXTURES.items():
            if used & fixtures and item.get_closest_marker(marker) is None:
                item.add_marker(getattr(pytest.mark, marker))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[object]:
    """Under pytest-xdist (``make test`` runs ``-n auto``), a test that takes its own PostgreSQL database runs
    alone: several open about 50 connections at once, and together with another of them, or with the other
    workers' tests on the suite's PostgreSQL database (up to ~70 connections at their peak), they would pass
    PostgreSQL's default ``max_connections`` (100). A reader-writer lock: every test holds it shared, those
    tests exclusively. (``--dist loadgroup`` would group them, but it does not group under pytest 9.2 with
    pytest-xdist 3.8.)"""
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run_id:
        return (yield)
    own_database = bool({"pg_database", "pg_server_url"} & set(getattr(item, "fixturenames", ())))
    lock_path = Path(tempfile.gettempdir()) / f"tenantry-tests-{run_id}-postgres.lock"
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if own_database else fcntl.LOCK_SH)
        try:
            return (yield)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
