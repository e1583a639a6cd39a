"""The ``tenantry`` CLI contract (DESIGN.md §4), run as the real console script in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app import create_app
from app.config import Settings
from app.container import Container

TENANTRY = Path(sys.executable).parent / "tenantry"


@dataclass
class Cli:
    """Runs ``tenantry`` against one scratch SQLite database and instance folder."""

    database_url: str
    instance_path: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_")}
        env.update(
            TENANTRY_DATABASE_URL=self.database_url,
            TENANTRY_INSTANCE_PATH=str(self.instance_path),
            TENANTRY_LOG_LEVEL="WARNING",
        )
        return subprocess.run(  # noqa: S603 - our own console script
            [str(TENANTRY), *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    if not TENANTRY.exists():
        pytest.fail(f"the tenantry console script is missing at {TENANTRY}: run `pip install -e .`")
    root = tmp_path_factory.mktemp("cli")
    cli = Cli(f"sqlite:///{root / 'cli.db'}", root / "instance")
    upgraded = cli.run("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "is at head" in upgraded.stdout
    return cli


@pytest.fixture(scope="module")
def cli_org(cli: Cli) -> dict[str, Any]:
    org: dict[str, Any] = cli.json("orgs", "create", "Initech")
    return org


@pytest.fixture
def app_on_cli_db(cli: Cli, tmp_path: Path) -> Iterator[Any]:
    """The app on the database the CLI wrote, as an HTTP client."""
    settings = Settings(
        env="test",
        database_url=cli.database_url,
        instance_path=tmp_path / "instance",
        secret_key="test-secret-key-not-for-production",
        log_json=False,
        log_level="WARNING",
    )
    container = Container.build(settings)
    yield create_app(settings, container).test_client()
    container.engine.dispose()


def test_orgs_create_prints_id_and_name(cli_org: dict[str, Any]) -> None:
    assert cli_org["id"].startswith("org_")
    assert cli_org["name"] == "Initech"


def _pools(database_url: str, org_id: str) -> list[tuple[str, int]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as conn:
        query = text('SELECT seat_type, "limit" FROM seat_pools WHERE org_id = :o ORDER BY seat_type')
        rows = conn.execute(query, {"o": org_id})
        pools = [(str(t), int(n)) for t, n in rows]
    engine.dispose()
    return pools


def test_orgs_create_gives_the_org_its_seat_pools(cli: Cli, cli_org: dict[str, Any]) -> None:
    from app.orgs.seats import SEAT_TYPES

    assert _pools(cli.database_url, cli_org["id"]) == [(t, 0) for t in sorted(SEAT_TYPES)]


def test_orgs_create_without_json_is_readable(cli: Cli) -> None:
    result = cli.run("orgs", "create", "Umbrella")
    assert result.returncode == 0, result.stderr
    assert "created organisation org_" in result.stdout and "Umbrella" in result.stdout


def test_platform_key_creates_orgs_over_http(cli: Cli, app_on_cli_db: Any) -> None:
    issued = cli.json("api-keys", "create", "--platform")
    assert issued["id"] and issued["key"].startswith("tnt_pk_")
    headers = {"Authorization": f"Bearer {issued['key']}"}
    created = app_on_cli_db.post("/v1/orgs", json={"name": "Made over HTTP"}, headers=headers)
    assert created.status_code == 201, created.json


def test_org_key_reads_its_org_over_http(cli: Cli, cli_org: dict[str, Any], app_on_cli_db: Any) -> None:
    issued = cli.json("api-keys", "create", "--org", cli_org["id"])
    assert issued["id"] and issued["key"].startswith("tnt_ok_")
    assert issued["role"] == "admin"
    resp = app_on_cli_db.get(
        f"/v1/orgs/{cli_org['id']}", headers={"Authorization": f"Bearer {issued['key']}"}
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["id"] == cli_org["id"] and resp.json["name"] == "Initech"


def test_org_key_with_role_acts_with_that_role(cli: Cli, cli_org: dict[str, Any], app_on_cli_db: Any) -> None:
    issued = cli.json("api-keys", "create", "--org", cli_org["id"], "--role", "billing")
    assert issued["role"] == "billing"
    headers = {"Authorization": f"Bearer {issued['key']}"}
    assert app_on_cli_db.get(f"/v1/orgs/{cli_org['id']}", headers=headers).status_code == 200
    # billing may read the org but not change its settings
    denied = app_on_cli_db.patch(f"/v1/orgs/{cli_org['id']}", json={"name": "Renamed"}, headers=headers)
    assert denied.status_code == 403


def test_key_is_only_printed_never_stored(cli: Cli, cli_org: dict[str, Any]) -> None:
    from sqlalchemy import create_engine, text

    issued = cli.json("api-keys", "create", "--org", cli_org["id"])
    engine = create_engine(cli.database_url)
    with engine.connect() as conn:
        dumped = "\n".join(str(row) for row in conn.execute(text("SELECT * FROM api_keys")))
    engine.dispose()
    assert issued["id"] in dumped
    assert issued["key"] not in dumped


def test_scim_token_create(cli: Cli, cli_org: dict[str, Any]) -> None:
    issued = cli.json("scim-tokens", "create", "--org", cli_org["id"])
    assert issued["id"] and issued["token"].startswith("tnt_scim_")
    assert cli.json("scim-tokens", "create", "--org", cli_org["id"])["token"] != issued["token"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("api-keys", "create", "--org", "org_doesnotexist"), "org_doesnotexist"),
        (("api-keys", "create", "--platform", "--org", "org_x"), "exactly one of --platform or --org"),
        (("api-keys", "create"), "exactly one of --platform or --org"),
        (("scim-tokens", "create", "--org", "org_doesnotexist"), "org_doesnotexist"),
        (("scim-tokens", "create"), "--org"),
    ],
    ids=["unknown-org", "both-flags", "no-flag", "scim-unknown-org", "scim-no-org"],
)
def test_bad_input_exits_non_zero_with_a_clear_message(cli: Cli, args: tuple[str, ...], message: str) -> None:
    result = cli.run(*args, "--json")
    assert result.returncode != 0
    assert message in result.stderr
    assert result.stdout == ""  # nothing a script could mistake for a key


def test_unknown_role_is_refused(cli: Cli, cli_org: dict[str, Any]) -> None:
    result = cli.run("api-keys", "create", "--org", cli_org["id"], "--role", "emperor")
    assert result.returncode != 0 and "emperor" in result.stderr


def test_db_check_passes_after_upgrade(cli: Cli) -> None:
    result = cli.run("db", "check")
    assert result.returncode == 0, result.stderr
    assert "agree" in result.stdout


def test_demo_prints_keys_once(tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path / 'demo.db'}", tmp_path / "instance")
    assert cli.run("db", "upgrade").returncode == 0
    first = cli.json("demo")
    assert first["created"] is True
    assert _pools(cli.database_url, first["org_id"]) == [("pro", 5)]
    assert first["org_key"].startswith("tnt_ok_") and first["platform_key"].startswith("tnt_pk_")
    again = cli.run("demo")
    assert again.returncode == 0 and "exists already" in again.stdout
    assert first["org_key"] not in again.stdout
