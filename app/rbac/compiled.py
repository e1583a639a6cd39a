"""The compiled form of one org's Casbin policy, and the decision it gives.

Pure: takes rules (the same ``p``/``g``/``g2`` tuples a Casbin ``Enforcer`` would load for the org), returns a
snapshot answering ``decide(subject, permission)`` with dict and frozenset lookups. The oracle test
(tests/unit/test_rbac_oracle.py) shows it answers exactly as ``Enforcer.enforce`` on the same rules.

Memory matters (1M assignments in a worker): subjects are stored as ints decoded from their ids, and the
per-member ``Grant`` (roles, seats, status, permission sets) is interned across all orgs, so 10k members
with the same role and seat share one object.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Final, NamedTuple

from app.rbac.policy import ROLE_PREFIX, SEAT_PREFIX, TEMPLATE_DOMAIN, catalogue, template_rules, templates

USER_PREFIX: Final = "usr_"
MEMBER_PREFIX: Final = "mem_"

# Reasons are stable codes callers may branch on.
GRANTED_BY_ROLE: Final = "granted_by_role"
GRANTED_BY_SEAT: Final = "granted_by_seat"
NOT_GRANTED: Final = "not_granted"
UNKNOWN_ORG: Final = "unknown_org"
UNKNOWN_SUBJECT: Final = "unknown_subject"
INVALID_SUBJECT: Final = "invalid_subject"
UNKNOWN_PERMISSION: Final = "unknown_permission"
UNKNOWN_ROLE: Final = "unknown_role"
MEMBER_SUSPENDED: Final = "member_suspended"


def subject_key(subject: str) -> int | None:
    """``usr_<32 hex>`` -> its int, ``mem_<32 hex>`` -> a negative int; anything else None (deny)."""
    if len(subject) != 36:
        return None
    try:
        value = int(subject[4:], 16)
    except ValueError:
        return None
    prefix = subject[:4]
    if prefix == USER_PREFIX:
        return value
    if prefix == MEMBER_PREFIX:
        return -value - 1
    return None


class Grant:
    """What one member holds: interned, shared by every member with the same roles, seats and status."""

    __slots__ = (
        "roles",
        "seats",
        "active",
        "role_permissions",
        "seat_permissions",
        "unknown_roles",
        "__weakref__",
    )

    def __init__(
        self,
        roles: frozenset[str],
        seats: frozenset[str],
        active: bool,
        role_permissions: frozenset[str],
        seat_permissions: frozenset[str],
        unknown_roles: bool,
    ) -> None:
        self.roles = roles
        self.seats = seats
        self.active = active
        self.role_permissions = role_permissions
        self.seat_permissions = seat_permissions
        self.unknown_roles = unknown_roles

    @property
    def permissions(self) -> frozenset[str]:
        return self.role_permissions | self.seat_permissions if self.active else frozenset()


_GRANTS: weakref.WeakValueDictionary[tuple[object, ...], Grant] = weakref.WeakValueDictionary()
_SETS: dict[frozenset[str], frozenset[str]] = {}


def _interned_set(values: frozenset[str]) -> frozenset[str]:
    return _SETS.setdefault(values, values)


def _grant(
    roles: frozenset[str],
    seats: frozenset[str],
    active: bool,
    role_perms: Mapping[str, frozenset[str]],
    seat_perms: Mapping[str, frozenset[str]],
) -> Grant:
    rp = frozenset().union(*(role_perms.get(r, frozenset()) for r in roles))
    sp = frozenset().union(*(seat_perms.get(s, frozenset()) for s in seats))
    unknown = any(r not in role_perms for r in roles)
    key = (roles, seats, active, rp, sp, unknown)
    found = _GRANTS.get(key)
    if found is None:
        found = Grant(roles, seats, active, _interned_set(rp), _interned_set(sp), unknown)
        _GRANTS[key] = found
    return found


class Decision(NamedTuple):
    allowed: bool
    reason: str
    version: int


REASONS: Final = (
    GRANTED_BY_ROLE, GRANTED_BY_SEAT, NOT_GRANTED, UNKNOWN_ORG, UNKNOWN_SUBJECT, INVALID_SUBJECT,
    UNKNOWN_PERMISSION, UNKNOWN_ROLE, MEMBER_SUSPENDED,
)  # fmt: skip


@lru_cache(maxsize=4096)
def answers_for(version: int) -> dict[str, Decision]:
    """Every possible answer at ``version``, built once and shared by all snapshots at that version."""
    return {r: Decision(r in (GRANTED_BY_ROLE, GRANTED_BY_SEAT), r, version) for r in REASONS}


@dataclass
class CompiledOrg:
    org_id: str
    version: int
    exists: bool
    role_permissions: dict[str, frozenset[str]]  # every role usable in this org: templates + custom
    seat_permissions: dict[str, frozenset[str]]
    grants: dict[int, Grant] = field(default_factory=dict)
    answers: dict[str, Decision] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.answers = answers_for(self.version)

    def decide(self, subject: str, permission: str) -> Decision:
        answers = self.answers
        if not self.exists:
            return answers[UNKNOWN_ORG]
        key = subject_key(subject)
        if key is None:
            return answers[INVALID_SUBJECT]
        grant = self.grants.get(key)
        if grant is None:
            return answers[UNKNOWN_SUBJECT]
        if not grant.active:
            return answers[MEMBER_SUSPENDED]
        if permission in grant.role_permissions:
            return answers[GRANTED_BY_ROLE]
        if permission in grant.seat_permissions:
            return answers[GRANTED_BY_SEAT]
        if permission not in catalogue():
            return answers[UNKNOWN_PERMISSION]
        return answers[UNKNOWN_ROLE if grant.unknown_roles else NOT_GRANTED]

    def grant_of(self, subject: str) -> Grant | None:
        key = subject_key(subject)
        return None if key is None else self.grants.get(key)


def missing_org(org_id: str, version: int) -> CompiledOrg:
    """A cached negative answer: every check on an unknown or deleted org is a deny."""
    return CompiledOrg(org_id, version, False, {}, {})


def compile_org(
    org_id: str,
    version: int,
    p_rules: Iterable[tuple[str, str, str]],
    g_rules: Iterable[tuple[str, str, str]],
    g2_rules: Iterable[tuple[str, str, str]] = (),
    *,
    suspended: Iterable[tuple[str, str]] = (),
    aliases: Mapping[str, str] | None = None,
    base: Mapping[str, frozenset[str]] | None = None,
) -> CompiledOrg:
    """Compile the rules that apply to ``org_id`` (templates in ``*`` plus the org's own).

    ``p_rules`` (subject, domain, permission); ``g_rules`` (user, role:NAME, domain); ``g2_rules`` (user,
    seat:TYPE, domain). Rules of other domains are ignored, as the model's matcher ignores them.
    ``suspended`` (user, role:NAME) pairs are members kept only to give the reason "member_suspended";
    ``aliases`` maps member ids to user ids so either can be the subject. ``base``: subject -> permissions
    already compiled from the shared templates (``template_base()``), so each org adds only its own rules.
    """
    own: dict[str, set[str]] = {}
    for subject, dom, perm in p_rules:
        if (dom == TEMPLATE_DOMAIN or dom == org_id) and subject.startswith((ROLE_PREFIX, SEAT_PREFIX)):
            own.setdefault(subject, set()).add(perm)
    by_subject = dict(base or {})
    for subject, perms in own.items():
        by_subject[subject] = _interned_set(by_subject.get(subject, frozenset()) | perms)
    n = len(ROLE_PREFIX)
    rp = {k[n:]: v for k, v in by_subject.items() if k.startswith(ROLE_PREFIX)}
    sp = {k[n:]: v for k, v in by_subject.items() if k.startswith(SEAT_PREFIX)}
    # A g2 subject may also appear in g, and vice versa: the matcher ORs g() and g2() over every p rule.
    holdings: dict[str, tuple[set[str], set[str]]] = {}
    for rules in (g_rules, g2_rules):
        for user, role, dom in rules:
            if dom != org_id:
                continue
            roles, seats = holdings.setdefault(user, (set(), set()))
            (seats if role.startswith(SEAT_PREFIX) else roles).add(role)
    compiled = CompiledOrg(org_id, version, True, rp, sp)
    grants = compiled.grants
    memo: dict[tuple[frozenset[str], frozenset[str]], Grant] = {}
    for user, (roles, seats) in holdings.items():
        key = subject_key(user)
        if key is None:
            continue
        held = (frozenset(roles), frozenset(seats))
        grant = memo.get(held)
        if grant is None:
            # The role/seat split is only for the reason; holding either is what Casbin decides.
            grant = memo[held] = _grant(held[0], held[1], True, by_subject, by_subject)
        grants[key] = grant
    for user, role in suspended:
        key = subject_key(user)
        if key is not None and key not in grants:
            grants[key] = _grant(frozenset({role}), frozenset(), False, by_subject, {})
    for member_id, user_id in (aliases or {}).items():
        mkey, ukey = subject_key(member_id), subject_key(user_id)
        if mkey is not None and ukey is not None and ukey in grants:
            grants[mkey] = grants[ukey]
    return compiled


@cache
def template_base() -> dict[str, frozenset[str]]:
    """The shared templates compiled once: ``role:NAME``/``seat:TYPE`` -> permissions."""
    out: dict[str, set[str]] = {}
    for subject, _dom, perm in template_rules():
        out.setdefault(subject, set()).add(perm)
    return {k: _interned_set(frozenset(v)) for k, v in out.items()}


def builtin_role_permissions() -> dict[str, frozenset[str]]:
    return dict(templates().roles)
