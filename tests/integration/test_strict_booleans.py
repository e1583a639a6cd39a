"""Booleans are strict: JSON ``true``/``false`` in bodies, the text ``true``/``false`` in query strings."""

from __future__ import annotations

import types
import typing
from typing import Any

import pytest
from flask import Flask
from pydantic import BaseModel, ValidationError

from app.api.endpoint import REGISTRY
from tests.conftest import Api

NOT_BOOLEANS = ["no", "yes", "true", "false", "off", "on", "t", "f", "0", "1", 0, 1, 0.0, [], {}]


@pytest.mark.parametrize("field", ["audit_logs_enabled", "sso_enforced"])
@pytest.mark.parametrize("value", NOT_BOOLEANS, ids=repr)
def test_org_settings_refuse_what_is_not_a_json_boolean(
    admin: Api, org: dict[str, Any], field: str, value: Any
) -> None:
    resp = admin.patch(f"/v1/orgs/{org['id']}", {field: value})
    assert resp.status_code == 422, resp.json
    assert [e["field"] for e in resp.json["errors"]] == [field]
    assert admin.get(f"/v1/orgs/{org['id']}").json[field] == org[field]  # unchanged


@pytest.mark.parametrize("field", ["audit_logs_enabled", "sso_enforced"])
def test_org_settings_take_json_booleans(admin: Api, org: dict[str, Any], field: str) -> None:
    # sso_enforced can only be turned on with a verified domain (tests/integration/domains): set it as it is.
    values = (not org[field], org[field]) if field == "audit_logs_enabled" else (org[field],)
    for value in values:
        resp = admin.patch(f"/v1/orgs/{org['id']}", {field: value})
        assert resp.status_code == 200 and resp.json[field] is value
    assert admin.patch(f"/v1/orgs/{org['id']}", {field: None}).json[field] is org[field]  # null: unchanged


@pytest.mark.parametrize(
    ("text", "status", "revoked_listed"),
    [("true", 200, True), ("false", 200, False), ("yes", 422, None), ("1", 422, None), ("on", 422, None),
     ("True", 422, None), ("", 422, None)],
)  # fmt: skip
def test_query_booleans_are_true_or_false(
    admin: Api, org: dict[str, Any], text: str, status: int, revoked_listed: bool | None
) -> None:
    created = admin.post(f"/v1/orgs/{org['id']}/scim-tokens", {"name": "old"}).json
    assert admin.delete(f"/v1/orgs/{org['id']}/scim-tokens/{created['id']}").status_code == 204
    resp = admin.get(f"/v1/orgs/{org['id']}/scim-tokens", query_string={"include_revoked": text})
    assert resp.status_code == status, resp.json
    if status == 200:
        assert (created["id"] in [t["id"] for t in resp.json["data"]]) is revoked_listed
    else:
        assert resp.json["errors"][0]["field"] == "include_revoked"


def _has_bool(annotation: Any) -> bool:
    if annotation is bool:
        return True
    if typing.get_origin(annotation) is typing.Annotated:
        return _has_bool(typing.get_args(annotation)[0])
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return any(_has_bool(arg) for arg in typing.get_args(annotation))
    return False


def _models(app: Flask) -> tuple[set[type[BaseModel]], set[type[BaseModel]]]:
    assert app  # building the app fills the registry
    bodies = {op.body for op in REGISTRY if op.body is not None}
    queries = {op.query for op in REGISTRY if op.query is not None}
    return bodies, queries


def test_every_boolean_in_a_request_is_strict(app: Flask) -> None:
    """A new boolean field anywhere in a body or a query joins this check by itself."""
    bodies, queries = _models(app)
    seen = 0
    for model in bodies | queries:
        for name, info in model.model_fields.items():
            if not _has_bool(info.annotation):
                continue
            seen += 1
            for loose in ("no", "yes", "1", "on") + (() if model in queries else ("true", "false")):
                with pytest.raises(ValidationError) as refused:
                    model.model_validate({name: loose})
                assert any(e["loc"][:1] == (name,) for e in refused.value.errors()), (model, name, loose)
            if model in queries:
                assert getattr(model.model_validate({name: "true"}), name) is True
                assert getattr(model.model_validate({name: "false"}), name) is False
    assert seen >= 3  # audit_logs_enabled, sso_enforced, include_revoked
