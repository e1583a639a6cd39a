"""`/openapi.json`: valid OpenAPI 3.1 describing every `/v1` route; fuzzed by schemathesis with all its checks
(status codes, content types, response schemas, headers, negative data refused, ...), with both key kinds."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from openapi_spec_validator.versions.shortcuts import get_spec_version
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode

from app import create_app
from app.api.openapi import build_openapi
from app.api.routes import VIEW_MODULES
from app.config import Settings
from app.container import Container
from tests.conftest import make_org_key

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
# Small on purpose: every operation, twice (platform and org key), both positive and negative data,
# within the suite's time budget. Raise it locally to hunt: TENANTRY_TEST_FUZZ_EXAMPLES=200 pytest -k fuzz.
FUZZ_EXAMPLES = int(os.environ.get("TENANTRY_TEST_FUZZ_EXAMPLES", "10"))


def _operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every documented operation, known at collection time from the registry (filled
    when app.api.routes imported the views modules)."""
    assert VIEW_MODULES
    paths: dict[str, dict[str, Any]] = build_openapi()["paths"]
    return sorted((method.upper(), path) for path, item in paths.items() for method in item)


OPERATIONS = _operations()


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    resp = client.get("/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    doc: dict[str, Any] = resp.json
    return doc


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    assert str(get_spec_version(document)) == "OpenAPIV3.1"
    validate(document)  # raises OpenAPIValidationError with the path of the first problem


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_every_v1_route_is_documented_with_its_method(app: Flask, document: dict[str, Any]) -> None:
    routes = {
        (method.lower(), _openapi_path(rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/v1/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    documented = {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    assert routes, "no /v1 routes registered"
    assert routes - documented == set(), "routes missing from /openapi.json"
    assert documented - routes == set(), "documented operations with no route"


def test_every_operation_documents_its_responses_with_schemas(document: dict[str, Any]) -> None:
    problems: list[str] = []
    for path, item in document["paths"].items():
        for method, spec in item.items():
            where = f"{method.upper()} {path}"
            if not spec.get("operationId") or not spec.get("summary"):
                problems.append(f"{where}: no operationId or summary")
            responses: dict[str, Any] = spec.get("responses", {})
            successes = [code for code in responses if code.startswith("2")]
            if not successes:
                problems.append(f"{where}: no 2xx response")
            for code, response in responses.items():
                if code == "204":
                    if "content" in response:
                        problems.append(f"{where}: 204 with a body")
                    continue
                content = response.get("content")
                if not content:
                    problems.append(f"{where}: {code} has no content")
                    continue
                for media, body in content.items():
                    if "schema" not in body:
                        problems.append(f"{where}: {code} {media} has no schema")
                if code.startswith(("4", "5")) and "application/problem+json" not in content:
                    problems.append(f"{where}: {code} is not problem+json")
            if spec.get("security") and "401" not in responses:
                problems.append(f"{where}: authenticated but no 401")
            if method in ("post", "put", "patch") and "requestBody" in spec:
                if "schema" not in spec["requestBody"]["content"].get("application/json", {}):
                    problems.append(f"{where}: request body without a schema")
    assert problems == []


def test_every_schema_reference_resolves(document: dict[str, Any]) -> None:
    text = str(document)
    refs = set(re.findall(r"#/components/schemas/([A-Za-z0-9_.-]+)", text))
    assert refs <= set(document["components"]["schemas"])


@pytest.mark.parametrize("key_kind", ["platform", "org"])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_fuzz_no_server_errors(
    app: Flask,
    container: Container,
    org: dict[str, Any],
    platform_key: str,
    key_kind: str,
    method: str,
    path: str,
) -> None:
    """Schemathesis against the live document: positive and negative data, never a 5xx."""
    # The parsed document is shared, and so are its operations, which keep the app of the first test that read
    # them: every call names this test's app (its container, its database state).
    operation = _fuzz_schema()[path][method]
    key = platform_key if key_kind == "platform" else make_org_key(container, org["id"], "owner")
    headers = {"Authorization": f"Bearer {key}"}
    # The org exists, so requests reach the handlers instead of stopping at 404.
    pinned = {"org_id": org["id"]} if "{org_id}" in path else None
    strategies = [operation.as_strategy(GenerationMode.POSITIVE, path_parameters=pinned)]
    if _can_be_negated(operation):
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=pinned))

    @given(case=st.one_of(strategies))
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        header = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
        if header is not None and header.mode is GenerationMode.NEGATIVE:
            # A negative case about headers (e.g. Authorization left out): send it as generated, since adding
            # our key back would make it a valid request that the check then calls "wrongly accepted".
            case.call_and_validate(app=app)
        else:
            case.call_and_validate(app=app, headers=headers)  # every built-in check, not only "no 5xx"

    run()


@functools.cache
def _fuzz_schema() -> Any:
    """Parsed once per process (parsing is most of a fuzz test's fixed cost); the document is static."""
    app = create_app(
        Settings(env="test", database_url="sqlite://", secret_key="fuzz-schema-only", log_json=False)
    )
    config = SchemathesisConfig.from_path(Path(__file__).resolve().parent.parent / "schemathesis.toml")
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app, config=config)
    app.extensions["tenantry"].engine.dispose()
    return schema


def _can_be_negated(operation: Any) -> bool:
    """Negative data needs something to break: a body, a query or a path parameter we do not pin."""
    definition = operation.definition.raw
    params = [p for p in definition.get("parameters", []) if p.get("name") != "org_id"]
    return "requestBody" in definition or bool(params)
