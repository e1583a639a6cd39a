"""Extract storage: the local directory and S3 (boto3 over HTTP against moto's standalone server) keep the
same contract, and a whole extract runs and downloads with S3 storage."""

from __future__ import annotations

import gzip
import socket
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.container import Container
from app.extracts.storage import ExtractStorage, LocalStorage
from tests.conftest import Api
from tests.integration.extracts.conftest import START, create, runner, seed_days, source_lines

BUCKET = "tenantry-extracts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    # moto keeps its buckets per process, not per server: start each test from none.
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()  # noqa: S310
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


def _s3(endpoint: str, prefix: str = "tenants") -> ExtractStorage:
    import boto3

    from app.extracts.s3 import S3Storage

    return S3Storage(boto3.client("s3", endpoint_url=endpoint), BUCKET, prefix)


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> ExtractStorage:
    if request.param == "local":
        return LocalStorage(tmp_path / "store")
    return _s3(request.getfixturevalue("s3_endpoint"))


def test_the_storage_contract(storage: ExtractStorage) -> None:
    big = bytes(range(256)) * 20_000  # 5 MB: more than one read chunk
    storage.write("org_a/ext_1/a.jsonl.gz", iter([b"hello ", b"world"]))
    storage.write("org_a/ext_1/parts/2026-03-01/000000", [big])
    storage.write("org_a/ext_2/a.jsonl.gz", [b"other job"])
    assert b"".join(storage.read("org_a/ext_1/a.jsonl.gz")) == b"hello world"
    assert b"".join(storage.read("org_a/ext_1/parts/2026-03-01/000000")) == big
    storage.write("org_a/ext_1/a.jsonl.gz", [b"replaced"])
    assert b"".join(storage.read("org_a/ext_1/a.jsonl.gz")) == b"replaced"
    assert storage.delete_prefix("org_a/ext_1") == 2
    with pytest.raises(FileNotFoundError):
        b"".join(storage.read("org_a/ext_1/a.jsonl.gz"))
    assert b"".join(storage.read("org_a/ext_2/a.jsonl.gz")) == b"other job"
    assert storage.delete_prefix("org_a/ext_9") == 0


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    if "s3_job" not in request.node.name:
        return settings
    endpoint = request.getfixturevalue("s3_endpoint")
    return settings.model_copy(
        update={
            "extract_storage": "s3",
            "extract_s3_bucket": BUCKET,
            "extract_s3_prefix": "tenants",
            "extract_s3_endpoint_url": endpoint,
        }
    )


def test_an_s3_job_runs_and_downloads(admin: Api, org: dict[str, Any], container: Container) -> None:
    seed_days(container, org["id"], [6, 8])
    job = create(admin, org["id"]).json
    assert runner(container).run_pending() == {job["id"]: "succeeded"}
    base = f"/v1/orgs/{org['id']}/extracts/{job['id']}/download"
    manifest = admin.get(base).json
    lines: list[str] = []
    for entry in manifest["files"]:
        raw = admin.get(f"{base}?file={entry['name']}").data
        lines.extend(gzip.decompress(raw).decode().splitlines(keepends=True))
    assert lines == source_lines(container, org["id"], START, datetime.fromisoformat(manifest["to"]))
    keys = _s3_keys(container)
    assert f"tenants/{org['id']}/{job['id']}/manifest.json" in keys
    assert sorted(keys) == sorted(
        f"tenants/{org['id']}/{job['id']}/{name}"
        for name in ["manifest.json", *(f["name"] for f in manifest["files"])]
    )  # the parts are gone once the day files are committed


def _s3_keys(container: Container) -> list[str]:
    import boto3

    client = boto3.client("s3", endpoint_url=container.settings.extract_s3_endpoint_url)
    return [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
