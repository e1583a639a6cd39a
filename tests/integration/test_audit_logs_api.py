from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.audit.catalogue import AuditAction
from app.container import Container
from tests.conftest import Api, make_org_key
from tests.integration.audit_helpers import T0, record, seed

UNTIL = (T0 + timedelta(days=1)).isoformat()


def _path(org: dict[str, Any]) -> str:
    return f"/v1/orgs/{org['id']}/audit-logs"


def _all(api: Api, path: str, **params: Any) -> list[dict[str, Any]]:
    resp = api.get(path, query_string={"until": UNTIL, "limit": 1000, **params})
    assert resp.status_code == 200, resp.json
    data: list[dict[str, Any]] = resp.json["data"]
    return data


def test_page_shape_newest_first(container: Container, admin: Api, org: dict[str, Any]) -> None:
    ids = seed(container, org["id"], 12)
    events = _all(admin, _path(org))
    assert [e["id"] for e in events] == list(reversed(ids))
    first = events[-1]
    assert set(first) == {
        "id", "sequence", "action", "type", "occurred_at", "actor", "targets", "context",
        "outcome", "reason", "changes", "data",
    }  # fmt: skip
    assert first["type"] == "tenantry.member.invited.v1"
    assert first["actor"] == {"type": "user", "id": "usr_alice", "name": "Alice"}
    assert first["context"] == {"ip": "198.51.100.0", "user_agent": "tests", "request_id": None}
    assert first["targets"] == [{"type": "member", "id": "mem_0"}, {"type": "seat", "id": "pro"}]
    assert first["occurred_at"] == "2026-01-01T12:00:00.000000Z"
    seqs = [e["sequence"] for e in events]
    assert seqs == sorted(seqs, reverse=True)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"action": "member.invited"}, lambda i: i % 5 == 0),
        ({"action": "member.*"}, lambda i: i % 5 in (0, 1, 4)),
        ({"action": "member."}, lambda i: i % 5 in (0, 1, 4)),
        ({"action": "seat*"}, lambda i: i % 5 == 2),
        ({"action": "nothing.*"}, lambda i: False),
        ({"actor": "key_ci"}, lambda i: i % 3 == 1),
        ({"actor_type": "system"}, lambda i: i % 3 == 2),
        ({"target": "mem_2"}, lambda i: i % 2 == 0 and i % 4 == 2),
        ({"target_type": "seat"}, lambda i: i % 2 == 0),
        ({"target": "mem_0", "target_type": "member"}, lambda i: i % 4 == 0),
        ({"target": "mem_0", "target_type": "seat"}, lambda i: False),
        ({"outcome": "failure"}, lambda i: i % 10 == 9),
        ({"ip": "198.51.100.3"}, lambda i: i % 6 == 3),
        (
            {"action": "member.*", "actor_type": "user", "outcome": "success"},
            lambda i: i % 5 in (0, 1, 4) and i % 3 == 0 and i % 10 != 9,
        ),
        ({"since": (T0 + timedelta(minutes=25)).isoformat()}, lambda i: i >= 25),
        (
            {
                "since": (T0 + timedelta(minutes=5)).isoformat(),
                "until": (T0 + timedelta(minutes=8)).isoformat(),
            },
            lambda i: 5 <= i < 8,
        ),
    ],
)  # fmt: skip
def test_filters(
    container: Container, admin: Api, org: dict[str, Any], params: dict[str, str], expected: Any
) -> None:
    ids = seed(container, org["id"], 30)
    got = [e["id"] for e in _all(admin, _path(org), **params)]
    assert got == [ids[i] for i in reversed(range(30)) if expected(i)]


def test_keyset_pages_are_stable_while_events_are_written(
    container: Container, admin: Api, org: dict[str, Any]
) -> None:
    ids = seed(container, org["id"], 25)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 7, "until": UNTIL}
        if cursor:
            params["cursor"] = cursor
        resp = admin.get(_path(org), query_string=params)
        assert resp.status_code == 200
        seen += [e["id"] for e in resp.json["data"]]
        cursor = resp.json["next_cursor"]
        pages += 1
        # Concurrent writers: a newer event, and one at the very time of the page boundary.
        record(container, org["id"], AuditAction.MEMBER_ADDED, at=T0 + timedelta(hours=5))
        if cursor is None:
            break
    assert pages == 4
    assert seen == list(reversed(ids))  # nothing skipped, nothing repeated, order kept


def test_pages_without_until_see_new_events_only_on_a_fresh_start(
    container: Container, admin: Api, org: dict[str, Any]
) -> None:
    seed(container, org["id"], 6)
    first = admin.get(_path(org), query_string={"limit": 3}).json
    newest = record(container, org["id"], AuditAction.MEMBER_ADDED, at=T0 + timedelta(days=400))
    rest = admin.get(_path(org), query_string={"limit": 1000, "cursor": first["next_cursor"]}).json
    assert newest not in [e["id"] for e in rest["data"]]
    fresh = admin.get(_path(org), query_string={"limit": 1}).json
    assert fresh["data"][0]["id"] == newest


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 1001},
        {"limit": "many"},
        {"since": "yesterday"},
        {"since": "2026-01-01T00:00:00"},  # no offset: RFC 3339 needs one
        {"since": "135290384"},  # a Unix time is not RFC 3339 (pydantic alone would read it as one)
        {"until": "1.7e9"},
        {"outcome": "maybe"},
        {"cursor": "not-a-cursor"},
        {"colour": "red"},
    ],
)
def test_bad_parameters_are_422(admin: Api, org: dict[str, Any], params: dict[str, Any]) -> None:
    resp = admin.get(_path(org), query_string=params)
    assert resp.status_code == 422, resp.json
    field = next(iter(params))
    assert resp.json["errors"][0]["field"] == field


def test_limit_bounds_accepted(container: Container, admin: Api, org: dict[str, Any]) -> None:
    seed(container, org["id"], 3)
    assert len(admin.get(_path(org), query_string={"limit": 1}).json["data"]) == 1
    assert admin.get(_path(org), query_string={"limit": 1000}).status_code == 200
    assert len(admin.get(_path(org)).json["data"]) <= 100


def test_disabled_org_is_403_and_recording_goes_on(
    container: Container, admin: Api, org: dict[str, Any]
) -> None:
    off = admin.patch(f"/v1/orgs/{org['id']}", {"audit_logs_enabled": False})
    assert off.status_code == 200
    for suffix in ("", "/export", "/verify"):
        resp = admin.get(_path(org) + suffix)
        assert resp.status_code == 403 and resp.json["code"] == "audit_logs_disabled", suffix
    admin.patch(f"/v1/orgs/{org['id']}", {"name": "Renamed while off"})  # still recorded
    assert admin.patch(f"/v1/orgs/{org['id']}", {"audit_logs_enabled": True}).status_code == 200
    actions = [
        e["action"] for e in admin.get(_path(org), query_string={"action": "org.updated"}).json["data"]
    ]
    assert len(actions) == 3  # off, rename, on


def test_tenant_isolation(container: Container, admin: Api, platform: Api, org: dict[str, Any]) -> None:
    other = platform.post("/v1/orgs", {"name": "Globex"}).json
    seed(container, other["id"], 5)
    mine = seed(container, org["id"], 5)
    assert admin.get(f"/v1/orgs/{other['id']}/audit-logs").status_code == 404
    assert admin.get(f"/v1/orgs/{other['id']}/audit-logs/export").status_code == 404
    assert [e["id"] for e in _all(admin, _path(org))] == list(reversed(mine))
    # The other org's targets/ips never match in mine.
    assert _all(admin, _path(org), target="mem_0") and all(
        e["id"] in mine for e in _all(admin, _path(org), target="mem_0")
    )
    assert platform.get(f"/v1/orgs/{other['id']}/audit-logs").status_code == 200


def test_members_cannot_read_the_audit_log(container: Container, admin: Api, org: dict[str, Any]) -> None:
    member = admin.as_key(make_org_key(container, org["id"], "member"))
    resp = member.get(_path(org))
    assert resp.status_code == 403 and resp.json["code"] == "forbidden"


def test_openapi_lists_the_audit_operations(client: Any) -> None:
    paths = client.get("/openapi.json").json["paths"]
    export = paths["/v1/orgs/{org_id}/audit-logs/export"]["get"]
    assert {p["name"] for p in export["parameters"]} >= {"format", "action", "since", "until", "ip"}
    listing = paths["/v1/orgs/{org_id}/audit-logs"]["get"]
    limit = next(p for p in listing["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 1000 and limit["schema"]["minimum"] == 1


def test_target_filter_pages_and_never_repeats_an_event(
    container: Container, admin: Api, org: dict[str, Any]
) -> None:
    from app.audit.recorder import Target

    twice = (Target("member", "mem_dup"), Target("member", "mem_dup"))
    ids = [
        record(container, org["id"], AuditAction.MEMBER_ADDED, at=T0 + timedelta(minutes=i), targets=twice)
        for i in range(5)
    ]
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"target": "mem_dup", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = admin.get(_path(org), query_string=params).json
        seen += [e["id"] for e in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    lines = admin.get(_path(org) + "/export", query_string={"target": "mem_dup"}).get_data(as_text=True)
    assert len(lines.splitlines()) == 5 + 1  # five events and the checkpoint
