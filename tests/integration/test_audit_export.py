"""Streamed exports: CSV and JSON Lines with the search's filters; a JSON Lines download verifies end to
end with the published key, and an edited, dropped or filtered line is told apart."""

from __future__ import annotations

import base64
import csv
import io
import json
from typing import Any

from app.audit.catalogue import AuditAction
from app.audit.recorder import Actor
from app.audit.verify_export import load_public_key, verify_export
from app.audit.verify_export import main as verify_main
from app.container import Container
from tests.conftest import Api
from tests.integration.audit_helpers import T0, record, seed


def _export(api: Api, org: dict[str, Any], **params: Any) -> Any:
    resp = api.get(f"/v1/orgs/{org['id']}/audit-logs/export", query_string=params)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp


def _key(client: Any) -> Any:
    return load_public_key(client.get("/v1/audit/public-key").json["public_key_pem"])


def test_jsonl_export_streams_and_verifies_end_to_end(
    container: Container, client: Any, admin: Api, org: dict[str, Any], tmp_path: Any
) -> None:
    seed(container, org["id"], 40)
    resp = _export(admin, org, format="jsonl")
    assert resp.is_streamed
    assert resp.mimetype == "application/x-ndjson"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=") and disposition.endswith('.jsonl"')
    lines = resp.get_data(as_text=True).splitlines()
    trailer = json.loads(lines[-1])
    assert set(trailer) == {"checkpoint", "key"}  # the key document of the key that signed it
    assert trailer["key"]["key_id"] == trailer["checkpoint"]["key_id"]
    assert json.loads(base64.b64decode(resp.headers["X-Tenantry-Audit-Checkpoint"])) == trailer["checkpoint"]
    events = [json.loads(line) for line in lines[:-1]]
    assert sorted(e["seq"] for e in events) == list(range(1, len(events) + 1))  # the whole chain
    times = [e["occurred_at"] for e in events]
    assert times == sorted(times)  # oldest first
    assert trailer["checkpoint"]["seq"] == len(events)
    verdict = verify_export(lines, _key(client))
    assert verdict.ok and verdict.anchored and verdict.events == len(events), str(verdict)

    # The customer-side command line, with the key saved as PEM.
    export_file, key_file = tmp_path / "export.jsonl", tmp_path / "key.pem"
    export_file.write_text("\n".join(lines) + "\n")
    key_file.write_text(client.get("/v1/audit/public-key").json["public_key_pem"])
    assert verify_main([str(export_file), str(key_file)]) == 0

    edited = list(lines)
    tampered = json.loads(edited[10])
    tampered["changes"] = {"role": {"before": "member", "after": "owner"}}
    edited[10] = json.dumps(tampered)
    bad = verify_export(edited, _key(client))
    assert not bad.ok and bad.error is not None and "line 11" in bad.error and "edited" in bad.error
    export_file.write_text("\n".join(edited) + "\n")
    assert verify_main([str(export_file), str(key_file)]) == 1

    dropped = lines[:5] + lines[6:]
    assert not verify_export(dropped, _key(client)).anchored
    newest = max(range(len(events)), key=lambda i: events[i]["seq"])
    truncated = [line for i, line in enumerate(lines) if i != newest]  # the signed head removed
    assert not verify_export(truncated, _key(client)).ok
    forged_cp = json.loads(lines[-1])
    forged_cp["checkpoint"]["seq"] += 1
    assert "signature" in (verify_export(lines[:-1] + [json.dumps(forged_cp)], _key(client)).error or "")


def test_events_after_the_export_started_are_not_in_it(
    container: Container, client: Any, admin: Api, org: dict[str, Any]
) -> None:
    seed(container, org["id"], 5)
    resp = admin.get(f"/v1/orgs/{org['id']}/audit-logs/export")
    chunks = iter(resp.response)
    first = next(chunks)  # the stream has started
    record(container, org["id"], AuditAction.MEMBER_ADDED, at=T0)
    body = first + b"".join(chunks)
    lines = body.decode().splitlines()
    assert verify_export(lines, _key(client)).anchored
    assert len(lines) - 1 == json.loads(lines[-1])["checkpoint"]["seq"]


def test_filtered_jsonl_checks_line_by_line_but_is_not_anchored(
    container: Container, client: Any, admin: Api, org: dict[str, Any]
) -> None:
    seed(container, org["id"], 20)
    lines = _export(admin, org, action="member.*").get_data(as_text=True).splitlines()
    events = [json.loads(line) for line in lines[:-1]]
    assert events and {e["action"].split(".")[0] for e in events} == {"member"}
    verdict = verify_export(lines, _key(client))
    assert verdict.ok and not verdict.anchored


def test_csv_export_with_filters(container: Container, admin: Api, org: dict[str, Any]) -> None:
    seed(container, org["id"], 30)
    record(
        container, org["id"], AuditAction.MEMBER_ADDED, at=T0, actor=Actor("user", "usr_x", "=HYPERLINK(1)")
    )
    resp = _export(admin, org, format="csv", since=T0.isoformat(), until="2026-01-02T00:00:00Z")
    assert resp.mimetype == "text/csv" and resp.headers["Content-Disposition"].endswith('.csv"')
    assert "X-Tenantry-Audit-Checkpoint" in resp.headers
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert len(rows) == 31
    assert rows[0]["occurred_at"] <= rows[-1]["occurred_at"]  # oldest first
    assert {r["actor_name"] for r in rows if r["actor_id"] == "usr_x"} == {"'=HYPERLINK(1)"}
    first = rows[0]
    assert first["action"] == "member.invited" and first["type"] == "tenantry.member.invited.v1"
    assert json.loads(first["targets"]) == [{"id": "mem_0", "type": "member"}, {"id": "pro", "type": "seat"}]
    assert first["ip"] == "198.51.100.0" and len(first["hash"]) == 64
    only_failures = list(
        csv.DictReader(
            io.StringIO(_export(admin, org, format="csv", outcome="failure").get_data(as_text=True))
        )
    )
    assert len(only_failures) == 3 and {r["outcome"] for r in only_failures} == {"failure"}


def test_export_rejects_unknown_format(admin: Api, org: dict[str, Any]) -> None:
    resp = admin.get(f"/v1/orgs/{org['id']}/audit-logs/export", query_string={"format": "xlsx"})
    assert resp.status_code == 422 and resp.json["errors"][0]["field"] == "format"
