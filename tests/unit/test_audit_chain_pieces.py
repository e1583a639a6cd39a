"""``chain.pieces``: the canonical bytes of a link around its time and sequence, from which PostgreSQL links
a block's events (app/audit/one_statement.py). Joined with any time and sequence, and hashed after the
previous hash, they must give exactly ``chain.link``."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.audit import chain


def _fields(rng: random.Random) -> dict[str, Any]:
    text = "".join(
        rng.choice(['"', "\\", "é", "\u2028", "\x00", "}", ",", "a", "😀", " "]) for _ in range(12)
    )
    return {
        "id": f"evt_{rng.randrange(10**9)}",
        "chain": "org_x",
        "org_id": rng.choice(["org_x", None]),
        "seq": rng.randrange(1, 10**12),
        "action": "user.created",
        "occurred_at": chain.format_time(
            datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(10**13))
        ),
        "actor": {"type": "scim_token", "id": None, "name": text},
        "targets": rng.choice(
            [[], [{"type": "user", "id": "usr_1", "name": text}, {"id": "x", "type": "seat"}]]
        ),
        "context": {"ip": "192.0.2.1", "user_agent": text} if rng.random() < 0.5 else {},
        "outcome": rng.choice(["success", "failure"]),
        "reason": rng.choice([None, text]),
        "changes": {"name": {"before": text, "after": None}, "n": [1, 2.5, True, None]},
        "data": {"nested": {"b": 1, "a": [text]}} if rng.random() < 0.5 else {},
    }


@pytest.mark.parametrize("seed", range(40))
def test_the_pieces_around_the_time_and_sequence_give_the_link(seed: int) -> None:
    rng = random.Random(seed)
    fields = _fields(rng)
    a, b, c = chain.pieces(fields)
    assert a + fields["occurred_at"].encode() + b + str(fields["seq"]).encode() + c == chain.canonical(fields)
    prev = hashlib.sha256(str(seed).encode()).hexdigest()
    joined = prev.encode() + a + fields["occurred_at"].encode() + b + str(fields["seq"]).encode() + c
    assert hashlib.sha256(joined).hexdigest() == chain.link(prev, fields)


def test_the_pieces_do_not_depend_on_the_time_and_sequence_they_are_cut_around() -> None:
    fields = _fields(random.Random(7))
    other = {**fields, "seq": 1, "occurred_at": "1999-12-31T23:59:59.999999Z"}
    assert chain.pieces(fields) == chain.pieces(other)
    assert chain.canonical(fields) != chain.canonical(other)


@pytest.mark.parametrize("change", ["missing", "extra"])
def test_only_a_links_exact_fields_are_cut(change: str) -> None:
    fields = _fields(random.Random(3))
    if change == "missing":
        del fields["reason"]
    else:
        fields["zzz"] = 1  # a field the canonical form would place after "targets"
    with pytest.raises(ValueError, match="a link's fields are exactly"):
        chain.pieces(fields)
