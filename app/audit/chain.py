"""Tamper evidence: each chain's events link by ``hash = SHA-256(prev_hash || canonical(event))``. Pure."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with microseconds: the one textual form hashed and published."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(event: Mapping[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the same bytes for the same event on every backend."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link(prev_hash: str, event: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(event)).hexdigest()


# A link's fields (``app.audit.recorder.hashed_fields``) in canonical order, around the two known only under
# the chain's lock: the time and the sequence number.
_BEFORE_TIME = ("action", "actor", "chain", "changes", "context", "data", "id")
_BETWEEN = ("org_id", "outcome", "reason")
_FIELDS = frozenset({*_BEFORE_TIME, "occurred_at", *_BETWEEN, "seq", "targets"})


def pieces(event: Mapping[str, Any]) -> tuple[bytes, bytes, bytes]:
    """``canonical(event)`` as ``a + time + b + seq + c``: the bytes around its ``occurred_at`` (the text of
    ``format_time``) and its ``seq`` (decimal digits), whatever ``event`` holds for those two. The database
    links with them (app/audit/one_statement.py): ``SHA-256(prev_hash || a || time || b || seq || c)`` is
    ``link(prev_hash, event)`` with that time and sequence."""
    if set(event) != _FIELDS:
        raise ValueError(f"a link's fields are exactly {sorted(_FIELDS)}, not {sorted(event)}")
    before = canonical({k: event[k] for k in _BEFORE_TIME})[:-1]  # '{"action":…,"id":"…"' (no closing brace)
    between = canonical({k: event[k] for k in _BETWEEN})[1:-1]  # '"org_id":…,"reason":…'
    return (
        before + b',"occurred_at":"',
        b'",' + between + b',"seq":',
        b',"targets":' + canonical(event["targets"]) + b"}",
    )


@dataclass(frozen=True)
class BrokenLink:
    seq: int
    event_id: str
    reason: str


def content_digest(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(fields)).hexdigest()


def verify(
    events: Iterable[tuple[Mapping[str, Any], str, str]],
    start_hash: str | None = None,
    attested: Mapping[str, str] | None = None,
) -> BrokenLink | None:
    """Walk ``(hashed_fields, prev_hash, hash)`` in sequence order; return the first broken link.

    ``start_hash`` is the expected ``prev_hash`` of the first event (``None`` trusts the first event's own,
    as after retention purged the older part). ``attested`` maps the id of an event erased in place (its
    personal values replaced, so its content no longer gives its hash) to the digest its content must have
    (``app/audit/erasure.py``); its stored hash still links the chain.
    """
    expected_prev = start_hash
    expected_seq: int | None = None
    for fields, prev_hash, stored in events:
        seq = int(fields["seq"])
        if expected_seq is not None and seq != expected_seq:
            return BrokenLink(seq, str(fields["id"]), f"sequence gap: expected {expected_seq}")
        if expected_prev is not None and prev_hash != expected_prev:
            return BrokenLink(seq, str(fields["id"]), "prev_hash does not match the previous event's hash")
        digest = attested.get(str(fields["id"])) if attested else None
        if digest is not None:
            if content_digest(fields) != digest:
                return BrokenLink(seq, str(fields["id"]), "content does not match its attested erasure")
        elif link(prev_hash, fields) != stored:
            return BrokenLink(seq, str(fields["id"]), "hash does not match the event's content")
        expected_prev, expected_seq = stored, seq + 1
    return None
