"""Every event type has a data schema and a message in docs/asyncapi.yaml, the files are generated from
app/audit/contract.py and fresh, and the AsyncAPI document is valid AsyncAPI 3.0."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from app.audit.catalogue import AuditAction
from app.audit.contract import CONTRACT

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "docs" / "events" / "schemas"
FIXTURES = ROOT / "tests" / "fixtures" / "asyncapi"


@functools.cache
def _asyncapi_text() -> str:
    return (ROOT / "docs" / "asyncapi.yaml").read_text()


def asyncapi() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    doc: dict[str, Any] = yaml.load(_asyncapi_text(), Loader=loader)  # noqa: S506 - a safe loader
    return doc


@pytest.mark.parametrize("action", list(AuditAction), ids=str)
def test_every_action_has_a_contract_a_schema_and_a_message(action: AuditAction) -> None:
    assert action in CONTRACT, (
        f"add {action!r} to app/audit/contract.py, then run scripts/gen_event_contract.py"
    )
    schema = json.loads((SCHEMAS / f"{action.event_type}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = asyncapi()
    assert action.event_type in doc["components"]["messages"]
    channel = doc["channels"][action.value]
    assert channel["address"] == f"tenantry.v1.{{org}}.{action.value}"
    assert action.event_type in channel["messages"]


def test_generated_files_are_fresh() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen_event_contract.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, "stale; run scripts/gen_event_contract.py\n" + result.stdout


def test_asyncapi_document_is_valid_asyncapi_3() -> None:
    schema = json.loads((FIXTURES / "asyncapi-3.0.0.schema.json").read_text())
    errors = [e.message[:200] for e in jsonschema.Draft7Validator(schema).iter_errors(asyncapi())]
    assert errors == []


def test_the_official_schema_catches_a_broken_document() -> None:
    schema = json.loads((FIXTURES / "asyncapi-3.0.0.schema.json").read_text())
    doc = asyncapi()
    next(iter(doc["operations"].values()))["action"] = "publish"  # AsyncAPI 2 wording
    assert not jsonschema.Draft7Validator(schema).is_valid(doc)


def test_no_contract_for_actions_that_do_not_exist() -> None:
    assert set(CONTRACT) == set(AuditAction)
