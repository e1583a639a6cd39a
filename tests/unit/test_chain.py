from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from app.audit import chain
from app.audit.verify_export import canonical as customer_canonical
from app.audit.verify_export import link as customer_link


def _event(seq: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"e{seq}", "chain": "org_1", "seq": seq, "action": "member.added", "changes": {}, **extra}


def _chain(n: int) -> list[tuple[dict[str, Any], str, str]]:
    out, prev = [], chain.GENESIS
    for seq in range(1, n + 1):
        fields = _event(seq)
        h = chain.link(prev, fields)
        out.append((fields, prev, h))
        prev = h
    return out


def test_canonical_is_key_order_and_whitespace_independent() -> None:
    assert (
        chain.canonical({"b": 1, "a": {"y": [1, 2], "x": "é"}}) == '{"a":{"x":"é","y":[1,2]},"b":1}'.encode()
    )
    assert chain.canonical({"a": 1, "b": 2}) == chain.canonical({"b": 2, "a": 1})


def test_customer_verifier_hashes_like_the_server() -> None:
    fields = _event(3, changes={"role": {"before": "member", "after": "admin"}}, name="Zoë")
    assert customer_canonical(fields) == chain.canonical(fields)
    assert customer_link("ab" * 32, fields) == chain.link("ab" * 32, fields)


def test_format_time_is_utc_with_microseconds() -> None:
    assert chain.format_time(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == "2026-01-02T03:04:05.000006Z"


def test_intact_chain_verifies() -> None:
    assert chain.verify(_chain(5), chain.GENESIS) is None
    assert chain.verify([], chain.GENESIS) is None


def test_edited_content_names_its_seq() -> None:
    events = _chain(5)
    fields, prev, h = events[2]
    events[2] = ({**fields, "changes": {"role": "owner"}}, prev, h)
    broken = chain.verify(events, chain.GENESIS)
    assert broken is not None and (broken.seq, broken.event_id) == (3, "e3")
    assert "content" in broken.reason


def test_removed_event_is_a_sequence_gap() -> None:
    events = _chain(5)
    del events[1]
    broken = chain.verify(events, chain.GENESIS)
    assert broken is not None and broken.seq == 3 and "gap" in broken.reason


def test_relinked_after_removal_still_fails_on_prev_hash() -> None:
    events = _chain(4)
    fields3, _, _ = events[2]
    fields3 = {**fields3, "seq": 2}
    forged = chain.link(events[0][2], fields3)
    tampered = [events[0], (fields3, "f" * 64, forged)]
    broken = chain.verify(tampered, chain.GENESIS)
    assert broken is not None and broken.seq == 2 and "prev_hash" in broken.reason


@pytest.mark.parametrize("start", [None, "x" * 64])
def test_start_hash_after_a_purge(start: str | None) -> None:
    retained = _chain(6)[3:]  # seq 4..6 kept
    horizon = retained[0][1]
    assert chain.verify(retained, horizon) is None
    assert chain.verify(retained, None) is None
    if start is not None:
        broken = chain.verify(retained, start)
        assert broken is not None and broken.seq == 4
