from __future__ import annotations

import base64
import json

import pytest

from app.errors import ValidationFailed
from app.pagination import decode_cursor, encode_cursor


def raw(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_round_trip_is_opaque_and_url_safe() -> None:
    member_id = "mem_0192f1c3a4b57c6d8e9f0a1b2c3d4e5f"
    cursor = encode_cursor(member_id)
    assert member_id not in cursor and "=" not in cursor and "/" not in cursor and "+" not in cursor
    assert decode_cursor(cursor, id_prefix="mem_") == member_id


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64!",
        "é",
        raw([1, 2]),
        raw({"after": "mem_1"}),  # no version
        raw({"v": 2, "after": "mem_1"}),  # a version this code does not know
        raw({"v": 1, "after": 5}),
        raw({"v": 1, "after": "inv_1"}),  # another resource's cursor
        raw({"v": 1, "after": "mem_" + "a" * 100}),
        raw({"v": 1, "after": "mem_\u0000"}),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_anything_else_is_a_422_naming_cursor(cursor: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode_cursor(cursor, id_prefix="mem_")
    assert caught.value.status == 422
    assert caught.value.extra["errors"] == [{"field": "cursor", "message": "invalid cursor"}]
