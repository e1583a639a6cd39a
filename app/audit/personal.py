"""Personal fields of audit events: which they are, whose, and their sealed form. Pure (no session).

An event's personal values (a user actor's display name, a user's or an invitation's name, and the values of
``email``, ``user_name`` and ``notify_email`` in ``data`` and ``changes``) are stored, and hashed into the
chain, as a **token**: ``pii1.`` + base64url(SHA-256(salt || value)), a commitment with a random 16-byte
salt. The value and its salt are kept beside the event, encrypted with AES-GCM under the key of the value's
**subject** (a user id, or the digest of an email address; the token is the associated data, so a ciphertext
cannot be moved to another token). Destroying a subject's key (account deletion) makes its values
unreadable for good while every hash still verifies: the hash covers the token, not the value.

A reader shows the value when its key exists and :data:`ERASED` otherwise; a JSON Lines export carries the
token and, while it is readable, the salt, so a customer can check that the value shown is the one hashed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TOKEN_PREFIX = "pii1."  # noqa: S105 - a marker, not a secret
ERASED = "[erased]"
UNREADABLE = "[unreadable]"  # the key exists but does not decrypt (TENANTRY_SECRET_KEY changed)
PERSONAL_KEYS = frozenset({"email", "user_name", "notify_email"})
SubjectKind = Literal["user", "email"]


@dataclass(frozen=True)
class Subject:
    """Whose a value is: an account (``user``, its id) or an address that may have no account (``email``)."""

    kind: SubjectKind
    ref: str


@dataclass(frozen=True)
class PersonalValue:
    path: str  # "actor.name", "targets.1.name", "data.email", "changes.user_name.after"
    subject: Subject
    value: str


def normalize_email(value: str) -> str:
    """The accounts' rule (``app/orgs/accounts.normalize_email``): stripped and case-folded."""
    return value.strip().casefold()


def _clear(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and not value.startswith(TOKEN_PREFIX)


def personal_values(fields: Mapping[str, Any]) -> list[PersonalValue]:
    """The clear personal values of an event given as ``{"actor", "targets", "data", "changes"}``.

    Values already sealed (tokens) are skipped, so this also finds what is left in clear in an event recorded
    before sealing existed. A ``data``/``changes`` value belongs to the event's one ``user`` target when it
    has exactly one, otherwise to its email address.
    """
    out: list[PersonalValue] = []
    actor = fields.get("actor") or {}
    if actor.get("type") == "user" and actor.get("id") and _clear(actor.get("name")):
        out.append(PersonalValue("actor.name", Subject("user", str(actor["id"])), actor["name"]))
    targets: Sequence[Mapping[str, Any]] = fields.get("targets") or []
    users = [str(t["id"]) for t in targets if t.get("type") == "user" and t.get("id")]
    for i, t in enumerate(targets):
        name = t.get("name")
        if not isinstance(name, str) or not _clear(name):
            continue
        if t.get("type") == "user" and t.get("id"):
            out.append(PersonalValue(f"targets.{i}.name", Subject("user", str(t["id"])), name))
        elif t.get("type") == "invitation":
            out.append(PersonalValue(f"targets.{i}.name", Subject("email", normalize_email(name)), name))

    def owner(value: str) -> Subject:
        return Subject("user", users[0]) if len(users) == 1 else Subject("email", normalize_email(value))

    data: Mapping[str, Any] = fields.get("data") or {}
    for key in sorted(PERSONAL_KEYS & set(data)):
        if _clear(data[key]):
            out.append(PersonalValue(f"data.{key}", owner(data[key]), data[key]))
    changes: Mapping[str, Any] = fields.get("changes") or {}
    for key in sorted(PERSONAL_KEYS & set(changes)):
        change = changes[key]
        if not isinstance(change, Mapping):
            continue
        for side in ("before", "after"):
            if _clear(change.get(side)):
                out.append(PersonalValue(f"changes.{key}.{side}", owner(change[side]), change[side]))
    return out


def get_path(fields: Mapping[str, Any], path: str) -> Any:
    node: Any = fields
    for part in path.split("."):
        node = node[int(part)] if isinstance(node, list) else node.get(part)
        if node is None:
            return None
    return node


def set_path(fields: dict[str, Any], path: str, value: Any) -> None:
    """Set ``path`` in ``fields`` (the containers on the way are expected to exist)."""
    *parents, last = path.split(".")
    node: Any = fields
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def commitment(salt: bytes, value: str) -> str:
    digest = hashlib.sha256(salt + value.encode("utf-8")).digest()
    return TOKEN_PREFIX + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def seal(key_id: str, key: bytes, value: str) -> tuple[str, dict[str, str]]:
    """``(token, sealed entry)``; the entry is ``{"t": token, "k": key id, "c": base64(nonce || ct)}``."""
    salt, nonce = os.urandom(16), os.urandom(12)
    token = commitment(salt, value)
    plain = json.dumps({"v": value, "s": base64.b64encode(salt).decode("ascii")}, ensure_ascii=False)
    ct = AESGCM(key).encrypt(nonce, plain.encode("utf-8"), token.encode("ascii"))
    return token, {"t": token, "k": key_id, "c": base64.b64encode(nonce + ct).decode("ascii")}


@dataclass(frozen=True)
class Opened:
    value: str
    salt: str | None  # base64; None when the value could not be read


def unseal(entry: Mapping[str, str], key: bytes | None) -> Opened:
    """The value and its salt, or :data:`ERASED` when the subject's key is gone."""
    if key is None:
        return Opened(ERASED, None)
    try:
        raw = base64.b64decode(entry["c"])
        plain = json.loads(AESGCM(key).decrypt(raw[:12], raw[12:], entry["t"].encode("ascii")))
    except (InvalidTag, ValueError, KeyError):
        return Opened(UNREADABLE, None)
    value, salt = str(plain["v"]), str(plain["s"])
    if commitment(base64.b64decode(salt), value) != entry["t"]:
        return Opened(UNREADABLE, None)
    return Opened(value, salt)


def reveal(
    fields: dict[str, Any], sealed: Mapping[str, Mapping[str, str]], keys: Mapping[str, bytes | None]
) -> dict[str, dict[str, str]]:
    """Put the readable values (or :data:`ERASED`) back into ``fields`` in place; return, per path, what a
    verifier needs to rebuild the hashed form: ``{"token", "salt"?}`` (no salt once erased)."""
    proofs: dict[str, dict[str, str]] = {}
    for path, entry in sealed.items():
        opened = unseal(entry, keys.get(entry["k"]))
        set_path(fields, path, opened.value)
        proof = {"token": entry["t"]}
        if opened.salt is not None:
            proof["salt"] = opened.salt
        proofs[path] = proof
    return proofs


def redacted(fields: dict[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    """``fields`` with each of ``paths`` replaced by :data:`ERASED` (a legacy event's erasure)."""
    out: dict[str, Any] = json.loads(json.dumps(fields))
    for path in paths:
        set_path(out, path, ERASED)
    return out
