"""Recorded Okta and Entra ID request flows (tests/fixtures/scim/okta_*.json, entra_*.json) replayed in order.

Each step is a request and what the answer must hold: its status, a subset of its body (lists compared item
by item, ``{{name}}`` standing for an id captured from an earlier answer) and attributes that must be absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.container import Container
from tests.integration.scim_client import BASE, SCIM_JSON, make_scim_token

FLOWS = sorted((Path(__file__).parent.parent / "fixtures" / "scim").glob("*_*.json"))
FLOWS = [p for p in FLOWS if p.stem.split("_")[0] in ("okta", "entra")]


def _fill(value: Any, ids: dict[str, str]) -> Any:
    text = json.dumps(value)
    for name, found in ids.items():
        text = text.replace("{{" + name + "}}", found)
    return json.loads(text)


def _holds(actual: Any, expected: Any, where: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r} is not an object"
        for key, value in expected.items():
            assert key in actual, f"{where}: '{key}' missing from {actual!r}"
            _holds(actual[key], value, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (
            f"{where}: {actual!r} != {expected!r}"
        )
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _holds(a, e, f"{where}[{i}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def test_the_recorded_flows_are_there() -> None:
    assert {p.stem.split("_")[0] for p in FLOWS} == {"okta", "entra"}


@pytest.mark.parametrize("flow", FLOWS, ids=[p.stem for p in FLOWS])
def test_recorded_flow(flow: Path, client: FlaskClient, container: Container, org: dict[str, Any]) -> None:
    token = make_scim_token(container, org["id"])
    ids: dict[str, str] = {}
    for n, step in enumerate(json.loads(flow.read_text())["steps"]):
        path = _fill(step["path"], ids)
        body = _fill(step.get("body"), ids)
        resp = client.open(
            BASE + path,
            method=step["method"],
            data=None if body is None else json.dumps(body),
            content_type=SCIM_JSON,
            headers={"Authorization": f"Bearer {token}"},
        )
        where = f"step {n} {step['method']} {path}"
        expect = step["expect"]
        assert resp.status_code == expect["status"], (
            f"{where}: {resp.status_code} {resp.get_data(as_text=True)}"
        )
        if resp.status_code == 204:
            continue
        assert resp.mimetype == SCIM_JSON, where
        got = resp.json
        _holds(got, _fill(expect.get("body", {}), ids), where)
        for name in expect.get("absent", []):
            assert name not in got, f"{where}: '{name}' should be absent"
        for name in expect.get("absent_in_resources", []):
            assert all(name not in r for r in got["Resources"]), where
        for name, key in step.get("capture", {}).items():
            ids[name] = got[key]
