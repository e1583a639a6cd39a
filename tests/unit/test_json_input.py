"""Bounded JSON parsing: the nesting limit, counted in arrays and objects, not in brackets inside strings."""

from __future__ import annotations

import json

import pytest

from app.json_input import MAX_DEPTH, NestingTooDeep, deeper_than, loads


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        (nested(MAX_DEPTH), True),
        (nested(MAX_DEPTH + 1), False),
        ('{"a":' * MAX_DEPTH + "1" + "}" * MAX_DEPTH, True),
        ('{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1), False),
        (nested(100_000), False),  # the parser's own recursion limit, mapped to the same refusal
        ("[" * 100_000, False),  # never closed: refused for its depth before the parser reaches the end
        (json.dumps(["[" * 500, {"k": "{" * 500}]), True),  # brackets in strings are text
        (json.dumps({"checks": [{"org": "o", "subject": "s"}] * 1000}), True),  # wide, not deep
    ],
)
def test_nesting_limit(text: str, ok: bool) -> None:
    for raw in (text, text.encode()):
        if ok:
            assert loads(raw) == json.loads(raw)
        else:
            with pytest.raises(NestingTooDeep):
                loads(raw)


def test_too_deep_is_a_value_error_like_any_bad_json() -> None:
    assert issubclass(NestingTooDeep, ValueError)
    with pytest.raises(ValueError):
        loads("{nope")


@pytest.mark.parametrize(
    ("value", "limit", "deeper"),
    [(1, 0, False), ([], 0, True), ([], 1, False), ([[1], {"a": {}}], 2, True), ([[1], {"a": 1}], 2, False)],
)
def test_deeper_than(value: object, limit: int, deeper: bool) -> None:
    assert deeper_than(value, limit) is deeper
