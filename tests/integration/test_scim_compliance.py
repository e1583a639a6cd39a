"""scim2-tester (an independent SCIM compliance checker) against the app in process: every check passes.

It reads /ServiceProviderConfig, /ResourceTypes and /Schemas and exercises everything they advertise.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from scim2_client.engines.wsgi import WSGISCIMClient
from scim2_tester import Status, check_server

from app.container import Container
from tests.integration.scim_client import make_scim_token


def test_scim2_tester_passes_every_check(app: Flask, container: Container, org: dict[str, Any]) -> None:
    token = make_scim_token(container, org["id"])
    client = WSGISCIMClient(
        app, base_url="http://localhost/scim/v2", headers={"Authorization": f"Bearer {token}"}
    )
    client.discover()
    results = check_server(client)
    failed = [
        f"{r.title}: {r.reason} {r.data if r.data else ''}"
        for r in results
        if r.status not in (Status.SUCCESS, Status.SKIPPED)
    ]
    assert results and not failed, "\n".join(failed)
    assert sum(r.status == Status.SUCCESS for r in results) >= 100  # the checks ran, not skipped
