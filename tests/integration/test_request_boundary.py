"""Input that pydantic accepts but a database cannot store is refused at the boundary, never a 500."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy.exc import DataError

from tests.conftest import Api


def test_nul_in_a_body_field_is_422_naming_the_field(platform: Api) -> None:
    resp = platform.post("/v1/orgs", {"name": "Ac\x00me"})
    assert resp.status_code == 422
    assert resp.json["errors"] == [{"field": "name", "message": "must not contain NUL characters"}]


def test_nul_in_a_nested_key_is_named(admin: Api, org: dict[str, Any]) -> None:
    resp = admin.patch(f"/v1/orgs/{org['id']}", {"name": "ok", "x\x00": 1})
    assert resp.status_code == 422
    assert resp.json["errors"][0]["field"] == "x\x00"


def test_nul_in_a_path_id_is_404(platform: Api) -> None:
    resp = platform.get("/v1/orgs/org_%00")
    assert resp.status_code == 404
    assert resp.mimetype == "application/problem+json"


def test_nul_in_a_path_id_still_needs_a_key(platform: Api) -> None:
    assert platform.as_key(None).get("/v1/orgs/org_%00").status_code == 401


def test_nothing_is_written_when_a_field_is_refused(platform: Api) -> None:
    assert platform.post("/v1/orgs", {"name": "Nul\x00Corp", "slug": "nulcorp"}).status_code == 422
    # the slug is still free: the refused request left no row behind
    assert platform.post("/v1/orgs", {"name": "NulCorp", "slug": "nulcorp"}).status_code == 201


def test_a_value_the_database_refuses_is_422_not_500(app: Flask) -> None:
    def refuse() -> None:
        raise DataError("INSERT …", {}, Exception("value too long for type character varying(40)"))

    app.add_url_rule("/_test/data-error", "data_error", refuse)
    resp = app.test_client().get("/_test/data-error")
    assert resp.status_code == 422
    assert resp.json["code"] == "validation_failed"
    assert "character varying" not in resp.get_data(as_text=True)  # no database detail leaks
