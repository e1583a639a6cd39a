"""The policy files in ``policies/``: the Casbin model, role and seat templates, the permission catalogue.

Pure: reads files once, no Flask, no database. Subjects in rules are ``role:NAME`` and ``seat:TYPE``; the
templates live in domain ``*`` and are shared by every org (never copied per org: FIELD-NOTES, Casbin).

The folder sits at the top of the repository; a wheel ships it as the package data ``app/policies``
(``setup.py`` maps it there), found with ``importlib.resources``. A checkout or an editable install has no
``app/policies`` and reads the repository's folder.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Final, Literal


def _policy_dir() -> Traversable:
    shipped = files("app").joinpath("policies")
    if shipped.is_dir():
        return shipped
    checkout = Path(__file__).resolve().parents[2] / "policies"
    if not checkout.is_dir():
        raise FileNotFoundError(f"policies/ is neither installed with the package nor at {checkout}")
    return checkout


POLICY_DIR: Final = _policy_dir()
MODEL_PATH: Final = POLICY_DIR / "model.conf"
TEMPLATE_DOMAIN: Final = "*"
ROLE_PREFIX: Final = "role:"
SEAT_PREFIX: Final = "seat:"

GrantedBy = Literal["role", "owner", "seat"]


@dataclass(frozen=True)
class Permission:
    name: str
    granted_by: GrantedBy  # role: any role may hold it; owner: built-in owner only; seat: seats only
    description: str


@dataclass(frozen=True)
class Templates:
    roles: dict[str, frozenset[str]]  # built-in role name -> permissions
    seats: dict[str, frozenset[str]]  # seat type -> permissions


def role_subject(role: str) -> str:
    return ROLE_PREFIX + role


def seat_subject(seat_type: str) -> str:
    return SEAT_PREFIX + seat_type


@cache
def catalogue() -> dict[str, Permission]:
    """Every permission Tenantry and the services behind it know, from ``policies/permissions.csv``."""
    text = POLICY_DIR.joinpath("permissions.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    out: dict[str, Permission] = {}
    for row in rows:
        kind = row["granted_by"]
        if kind not in ("role", "owner", "seat"):
            raise ValueError(f"permissions.csv: bad granted_by {kind!r} for {row['permission']}")
        out[row["permission"]] = Permission(row["permission"], kind, row["description"])  # type: ignore[arg-type]
    return out


def template_rules() -> list[tuple[str, str, str]]:
    """The ``p`` rules of ``policies/roles.csv`` as (subject, domain, permission)."""
    rules = []
    for line in POLICY_DIR.joinpath("roles.csv").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split(",")]
        if parts[0] != "p" or len(parts) != 4 or parts[2] != TEMPLATE_DOMAIN:
            raise ValueError(f"roles.csv: expected 'p, subject, *, permission', got {line!r}")
        rules.append((parts[1], parts[2], parts[3]))
    return rules


@cache
def templates() -> Templates:
    known = catalogue()
    roles: dict[str, set[str]] = {}
    seats: dict[str, set[str]] = {}
    for subject, _dom, perm in template_rules():
        if perm not in known:
            raise ValueError(f"roles.csv grants {perm!r}, which permissions.csv does not list")
        if subject.startswith(ROLE_PREFIX):
            if known[perm].granted_by == "seat":
                raise ValueError(f"roles.csv: {perm!r} is a seat permission; only seat:* may grant it")
            roles.setdefault(subject.removeprefix(ROLE_PREFIX), set()).add(perm)
        elif subject.startswith(SEAT_PREFIX):
            seats.setdefault(subject.removeprefix(SEAT_PREFIX), set()).add(perm)
        else:
            raise ValueError(f"roles.csv: subject {subject!r} is neither role:* nor seat:*")
    return Templates(
        roles={k: frozenset(v) for k, v in roles.items()},
        seats={k: frozenset(v) for k, v in seats.items()},
    )


def custom_role_grantable() -> frozenset[str]:
    """What a custom role may contain: role permissions, never owner-only or seat permissions."""
    return frozenset(p.name for p in catalogue().values() if p.granted_by == "role")
