"""Every org-scoped read answers an unknown, a deleted and an implausible org id with the same 404."""

from __future__ import annotations

from urllib.parse import quote

from flask import Flask

from tests.conftest import Api


def _org_reads(app: Flask) -> list[str]:
    """Every GET under ``/v1/orgs/<org_id>`` whose only path parameter is the org (new ones join by
    themselves)."""
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/v1/orgs/<org_id>")
        and "GET" in (rule.methods or ())
        and rule.arguments == {"org_id"}
    )


def _deleted_org(platform: Api) -> str:
    org_id: str = platform.post("/v1/orgs", {"name": "Gone"}).json["id"]
    assert platform.delete(f"/v1/orgs/{org_id}").status_code == 204
    return org_id


def test_every_org_read_refuses_unknown_deleted_and_implausible_orgs(app: Flask, platform: Api) -> None:
    reads = _org_reads(app)
    assert "/v1/orgs/<org_id>/api-keys" in reads and "/v1/orgs/<org_id>/members" in reads
    # Too long, and not ASCII: neither can be an id we issued.
    org_ids = ["org_" + "0" * 32, _deleted_org(platform), "org_" + "x" * 100, "org_é"]
    for rule in reads:
        for org_id in org_ids:
            resp = platform.get(rule.replace("<org_id>", quote(org_id)))
            body = resp.json or {}
            assert (resp.status_code, body.get("code"), body.get("detail")) == (
                404,
                "not_found",
                f"Organisation {org_id} not found",
            ), rule


def test_creating_credentials_in_a_deleted_org_is_404(platform: Api) -> None:
    deleted = _deleted_org(platform)
    for path, body in (
        (f"/v1/orgs/{deleted}/api-keys", {"role": "admin"}),
        (f"/v1/orgs/{deleted}/scim-tokens", {}),
    ):
        resp = platform.post(path, body)
        assert (resp.status_code, resp.json["detail"]) == (404, f"Organisation {deleted} not found"), path
