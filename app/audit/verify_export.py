"""Verify a downloaded Tenantry audit-log export (JSON Lines), on your own machine.

Self-contained on purpose: it needs Python 3.11+ and the ``cryptography`` package, nothing of Tenantry, so
you can copy this file next to your export. It checks that

1. the last line's checkpoint is signed by the key its ``key_id`` names, taken from the instance's key set
   (``GET /v1/audit-keys``, saved as a file; a single PEM or base64 key works too), and that key is not
   revoked,
2. every event's ``hash`` is SHA-256(``prev_hash`` || canonical JSON of the event without ``type``,
   ``prev_hash`` and ``hash``), so no line was edited,
3. consecutive events link (each ``prev_hash`` is the previous event's ``hash``) with no gap in ``seq``,
4. the last event is the signed head (same ``seq`` and ``hash``): nothing was dropped or appended.

A filtered export (``?action=…``) has gaps: each line still checks on its own (2), but it cannot be tied to
the signed head, and the result says so (``anchored`` false).

A data extract (``manifest.json`` next to its day files) is checked the same way: each file's size, row
count and SHA-256 against the manifest, then the JSON Lines of all files in manifest order against the
manifest's checkpoint (a CSV extract is checked against the manifest only).

Usage: ``python verify_export.py audit-logs.jsonl audit-keys.json`` (or a public-key.pem, or base64).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

UNHASHED = ("type", "prev_hash", "hash", "sealed", "redacted")
TOKEN_PREFIX = "pii1."  # noqa: S105 - a marker, not a secret


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(fields)).hexdigest()


def _node(fields: Any, parts: list[str]) -> Any:
    for part in parts:
        fields = fields[int(part)] if isinstance(fields, list) else fields[part]
    return fields


def hashed_form(event: dict[str, Any]) -> dict[str, Any] | str:
    """The fields as hashed: each sealed personal value (``sealed``: path → token, and the salt while the
    value is readable) back to its token, after checking that the value shown is the one committed to.
    A string is the reason it cannot be rebuilt."""
    fields: dict[str, Any] = json.loads(json.dumps({k: v for k, v in event.items() if k not in UNHASHED}))
    for path, proof in (event.get("sealed") or {}).items():
        *parents, last = path.split(".")
        try:
            parent = _node(fields, parents)
            key: Any = int(last) if isinstance(parent, list) else last
            shown = parent[key]
        except (KeyError, IndexError, ValueError, TypeError):
            return f"sealed path {path} is not in the event"
        token = str(proof.get("token", ""))
        if not token.startswith(TOKEN_PREFIX):
            return f"sealed path {path} has no token"
        if "salt" in proof:
            digest = hashlib.sha256(base64.b64decode(proof["salt"]) + str(shown).encode("utf-8")).digest()
            if TOKEN_PREFIX + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=") != token:
                return f"the value at {path} is not the one hashed"
        parent[key] = token
    return fields


KeySet = dict[str, tuple[Ed25519PublicKey, str]]  # key id → (public key, status)


def load_key_set(text: str) -> KeySet:
    """``GET /v1/audit-keys`` (or a manifest's ``keys`` list) as key id → (key, status)."""
    document = json.loads(text)
    entries = document["keys"] if isinstance(document, dict) else document
    return {
        str(e["key_id"]): (Ed25519PublicKey.from_public_bytes(base64.b64decode(e["public_key"])), e["status"])
        for e in entries
    }


def load_public_key(text: str) -> Ed25519PublicKey:
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return key
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))


@dataclass
class Verdict:
    ok: bool
    anchored: bool
    events: int
    first_seq: int | None
    last_seq: int | None
    error: str | None = None
    erased_in_place: int = 0  # events whose content was erased in place: linked, not content-checked

    def __str__(self) -> str:
        if self.error:
            return f"FAILED: {self.error}"
        span = f"seq {self.first_seq}..{self.last_seq}" if self.events else "no events"
        if self.erased_in_place:
            span += (
                f"; {self.erased_in_place} of them erased in place after an account deletion: "
                "linked, but their content cannot be checked against their hash"
            )
        if self.anchored:
            return f"OK: {self.events} events ({span}) link to the signed checkpoint"
        return f"PARTIAL: {self.events} events ({span}) each match their hash, but cannot be tied to the head"


def verify_export(lines: Iterable[str], public_key: Ed25519PublicKey | KeySet) -> Verdict:
    events: list[tuple[int, dict[str, Any]]] = []
    checkpoint: dict[str, Any] | None = None
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError:
            return Verdict(False, False, len(events), None, None, f"line {number} is not JSON")
        if "checkpoint" in item:
            checkpoint = item["checkpoint"]
        else:
            events.append((number, item))
    events.sort(key=lambda e: int(e[1].get("seq", 0)))
    first = events[0][1].get("seq") if events else None
    last = events[-1][1].get("seq") if events else None

    def fail(reason: str) -> Verdict:
        return Verdict(False, False, len(events), first, last, reason)

    if checkpoint is None:
        return fail("the export has no signed checkpoint line")
    message = canonical({k: checkpoint[k] for k in ("chain", "seq", "hash", "time")})
    if isinstance(public_key, dict):
        kid = str(checkpoint.get("key_id"))
        if kid not in public_key:
            return fail(f"the checkpoint is signed by key {kid}, which is not in the key set")
        public_key, status = public_key[kid]
        if status == "revoked":
            return fail(f"the checkpoint is signed by key {kid}, which is revoked: it proves nothing")
    try:
        public_key.verify(base64.b64decode(checkpoint["signature"]), message)
    except (InvalidSignature, ValueError):
        return fail("the checkpoint's signature does not verify with this public key")
    contiguous = True
    erased = 0
    previous: dict[str, Any] | None = None
    for number, event in events:
        fields = hashed_form(event)
        if isinstance(fields, str):
            return fail(f"line {number} (seq {event.get('seq')}): {fields}")
        if event.get("chain") != checkpoint["chain"]:
            return fail(f"line {number} (seq {event.get('seq')}) belongs to another chain")
        if event.get("redacted") is not None:
            erased += 1  # the service attests its content (docs/audit-logs.md, "Erasure"); it still links
        elif link(event["prev_hash"], fields) != event["hash"]:
            return fail(f"line {number} (seq {event['seq']}): content does not match its hash (edited)")
        if previous is not None:
            if event["seq"] == previous["seq"] + 1:
                if event["prev_hash"] != previous["hash"]:
                    return fail(f"seq {event['seq']} does not link to seq {previous['seq']}")
            else:
                contiguous = False
        previous = event
    if previous is None:
        return Verdict(True, False, 0, None, None)
    anchored = contiguous and previous["seq"] == checkpoint["seq"] and previous["hash"] == checkpoint["hash"]
    if contiguous and not anchored:
        return fail(
            f"the last event (seq {previous['seq']}) is not the signed head (seq {checkpoint['seq']})"
        )
    return Verdict(True, anchored, len(events), first, last, erased_in_place=erased)


def verify_extract(manifest_path: Path, public_key: Ed25519PublicKey | KeySet) -> Verdict:
    """A data extract: its files against the manifest, then its events against the signed checkpoint."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    lines: list[str] = []
    for entry in manifest["files"]:
        raw = (manifest_path.parent / entry["name"]).read_bytes()
        if len(raw) != entry["bytes"] or hashlib.sha256(raw).hexdigest() != entry["sha256"]:
            return Verdict(
                False, False, 0, None, None, f"{entry['name']}: SHA-256 does not match the manifest"
            )
        text = (gzip.decompress(raw) if entry["name"].endswith(".gz") else raw).decode("utf-8")
        rows = text.splitlines(keepends=True)
        if manifest["format"] == "csv":
            rows = rows[1:]  # the header
        elif manifest["format"] == "jsonl":
            lines.extend(rows)
        if len(rows) != entry["rows"]:
            return Verdict(False, False, 0, None, None, f"{entry['name']}: not the manifest's row count")
    if manifest["format"] != "jsonl":
        return Verdict(True, False, int(manifest["rows"]), None, None)
    if manifest.get("checkpoint") is None:
        return (
            Verdict(True, False, 0, None, None)
            if not lines
            else Verdict(False, False, len(lines), None, None, "the manifest has no signed checkpoint")
        )
    return verify_export([*lines, json.dumps({"checkpoint": manifest["checkpoint"]})], public_key)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    export, key = argv
    key_path = Path(key)
    key_text = key_path.read_text() if not key.lstrip().startswith("-----") and key_path.is_file() else key
    keys = load_key_set(key_text) if key_text.lstrip().startswith(("{", "[")) else load_public_key(key_text)
    if Path(export).name == "manifest.json":
        verdict = verify_extract(Path(export), keys)
    else:
        with open(export, encoding="utf-8") as fh:
            verdict = verify_export(fh, keys)
    print(verdict)
    return 0 if verdict.ok and verdict.anchored else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
