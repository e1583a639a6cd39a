"""Parsing JSON a caller sent, with its nesting bounded.

``json.loads`` recurses once per level: 100,000 levels of ``[`` raise ``RecursionError`` (a 500 unless
caught), and a few hundred levels pass the parser only to exhaust the stack of whatever walks the value next
(validation, the NUL check). No request of ours nests deeper than a few levels, so anything past
``MAX_DEPTH`` is refused as malformed.

The bound is cheap where it matters. A document cannot nest deeper than the brackets it opens, so a body
with at most ``MAX_DEPTH`` of them (every ordinary body) is parsed as is. Only a body with more brackets is
measured, after the C parser built it: a pure-Python scan of the text would cost more than the parse itself,
and the parser stops by itself, with ``RecursionError``, long before a 100,000-level document is read.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32


class NestingTooDeep(ValueError):
    """The document nests arrays and objects deeper than allowed (a ``ValueError``, like any bad JSON)."""


def loads(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that raises ``NestingTooDeep`` past ``max_depth`` levels of arrays and objects."""
    opened = raw.count(b"[") + raw.count(b"{") if isinstance(raw, bytes) else raw.count("[") + raw.count("{")
    if opened <= max_depth:
        return json.loads(raw)
    try:
        data = json.loads(raw)
    except RecursionError:
        raise NestingTooDeep(f"JSON nested deeper than {max_depth} levels") from None
    if deeper_than(data, max_depth):
        raise NestingTooDeep(f"JSON nested deeper than {max_depth} levels")
    return data


def deeper_than(data: Any, max_depth: int) -> bool:
    """Whether ``data`` nests lists and dicts deeper than ``max_depth``; iterative, stops at the first such
    branch."""
    stack: list[tuple[Any, int]] = [(data, 1)] if isinstance(data, dict | list) else []
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value
        if depth > max_depth:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False
