"""Control characters a caller sends (ESC, BEL, DEL, C1, bidirectional overrides) are escaped where they are
stored (the User-Agent in the audit context) and in the CSV export, with spreadsheet formulas defused."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from app.audit.catalogue import AuditAction
from app.audit.recorder import Actor
from app.container import Container
from app.control_chars import CONTROL, escape_controls
from tests.conftest import Api
from tests.integration.audit_helpers import T0, record

HOSTILE_AGENT = "Evil\x1b[2J\x07bot\x7f\x9b31m\u202eexe.txt\x00"
ESCAPED_AGENT = "Evil\\u001b[2J\\u0007bot\\u007f\\u009b31m\\u202eexe.txt\\u0000"


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("plain Mozilla/5.0 (X11; Linux) é ü 漢字", "plain Mozilla/5.0 (X11; Linux) é ü 漢字"),
        (HOSTILE_AGENT, ESCAPED_AGENT),
        ("a\tb\r\nc\u2028d\u2066e", "a\\u0009b\\u000d\\u000ac\\u2028d\\u2066e"),
        ("back\\slash", "back\\slash"),
    ],
)
def test_escape_controls(text: str, escaped: str) -> None:
    assert escape_controls(text) == escaped
    assert CONTROL.search(escape_controls(text)) is None


def test_user_agent_is_stored_escaped(admin: Api, org: dict[str, Any]) -> None:
    """Even its NUL, which PostgreSQL could not store raw: the change goes through."""
    headers = {**admin._headers(), "User-Agent": HOSTILE_AGENT}
    resp = admin.client.patch(f"/v1/orgs/{org['id']}", json={"name": "Acme 2"}, headers=headers)
    assert resp.status_code == 200
    events = admin.get(f"/v1/orgs/{org['id']}/audit-logs", query_string={"action": "org.updated"}).json[
        "data"
    ]
    assert [e["context"]["user_agent"] for e in events] == [ESCAPED_AGENT]


@pytest.mark.parametrize(
    ("name", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1+1", "\\u0009=1+1"),  # escaped: the cell no longer starts a formula
        ("\r=1+1", "\\u000d=1+1"),
        ("\x1b]0;owned\x07Ann", "\\u001b]0;owned\\u0007Ann"),
        ("Ann", "Ann"),
    ],
)
def test_csv_export_escapes_controls_and_defuses_formulas(
    container: Container, admin: Api, org: dict[str, Any], name: str, cell: str
) -> None:
    # Recorded straight through the recorder, as events from before the boundary escaped agents were.
    record(
        container, org["id"], AuditAction.MEMBER_ROLE_CHANGED, at=T0, actor=Actor("user", "usr_x", name),
        user_agent=HOSTILE_AGENT[:-1], changes={"role": {"before": "member\x9b", "after": "admin\u202e"}},
    )  # fmt: skip
    export = f"/v1/orgs/{org['id']}/audit-logs/export"
    resp = admin.get(export, query_string={"format": "csv", "actor": "usr_x"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    text = resp.get_data(as_text=True)
    assert CONTROL.search(text.replace("\r\n", "")) is None  # only the line terminators remain
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 1
    assert rows[0]["actor_name"] == cell
    assert rows[0]["user_agent"] == ESCAPED_AGENT[: -len("\\u0000")]  # (PostgreSQL cannot store a raw NUL)
    # JSON columns stay JSON: the escapes are JSON's own and decode to what was recorded.
    assert json.loads(rows[0]["changes"]) == {"role": {"before": "member\x9b", "after": "admin\u202e"}}
