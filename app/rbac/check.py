"""The check API's body and decision, as one pure function used by the Flask views and the WSGI fast path.

``answer_check`` and ``answer_batch`` take the decoded JSON body, the caller and a ``decide`` function (the
engine's), and return the response text or raise ``CheckBodyInvalid`` naming the field. The fast path
(``app/rbac/fastpath.py``) hands any ``CheckBodyInvalid`` to Flask, whose views call the same functions and
turn the error into a 422 problem: both answer every body identically because neither has its own parser.

Tenancy is the one rule of ``app/tenancy.py``: a check naming another org than the caller's is answered
``allowed: false`` with reason ``org_not_accessible`` (per result, so a batch never fails half-way, and
without telling whether that org exists). A member's access token asks about its own user id only (another
subject, a member id included: ``subject_not_accessible``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from app.rbac.compiled import Decision
from app.rbac.schemas import MAX_BATCH
from app.tenancy import Tenant, may_act_in

FIELDS = frozenset({"org", "subject", "action", "min_version"})
NOT_ACCESSIBLE = Decision(False, "org_not_accessible", 0)
SUBJECT_NOT_ACCESSIBLE = Decision(False, "subject_not_accessible", 0)


class Caller(Tenant, Protocol):
    """A check API caller: a service's key (any subject of its org) or a member's access token (itself)."""

    @property
    def own_subject(self) -> str | None: ...


Decide = Callable[[str, str, str, int | None], Decision]


class CheckBodyInvalid(Exception):
    """The body is not a check: ``field`` (dotted, ``(body)`` for the whole) and what is wrong with it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


class CheckRequest(NamedTuple):
    org: str
    subject: str
    action: str
    min_version: int | None


def _refuse(where: str, item: Any) -> CheckBodyInvalid:
    """The precise complaint about an item the fast test below refused (the slow path, errors only)."""
    if type(item) is not dict:
        return CheckBodyInvalid(where.rstrip(".") or "(body)", "must be an object")
    extra = sorted(str(name) for name in item if name not in FIELDS)
    if extra:
        return CheckBodyInvalid(where + extra[0], "Extra inputs are not permitted")
    for name, limit in (("org", 64), ("subject", 64), ("action", 128)):
        value = item.get(name)
        if type(value) is not str or not 0 < len(value) <= limit:
            return CheckBodyInvalid(where + name, f"a string of 1 to {limit} characters is required")
        if "\x00" in value:
            return CheckBodyInvalid(where + name, "must not contain NUL characters")
    return CheckBodyInvalid(where + "min_version", "must be a non-negative integer")


def parse_check(item: Any, where: str = "") -> CheckRequest:
    # Written for the hot path (a batch parses up to 1000 of these): one pass of plain tests when valid;
    # what exactly is wrong is worked out only for a refused item.
    if type(item) is dict and FIELDS.issuperset(item):
        org, subject, action = item.get("org"), item.get("subject"), item.get("action")
        min_version = item.get("min_version")
        if type(min_version) is float and min_version.is_integer():
            min_version = int(min_version)  # 3.0 is an integer to JSON Schema, and so to the document
        if (
            type(org) is str
            and 0 < len(org) <= 64
            and type(subject) is str
            and 0 < len(subject) <= 64
            and type(action) is str
            and 0 < len(action) <= 128
            and (min_version is None or (type(min_version) is int and min_version >= 0))
            and "\x00" not in org
            and "\x00" not in subject
            and "\x00" not in action
        ):
            return CheckRequest(org, subject, action, min_version)
    raise _refuse(where, item)


def parse_batch(body: Any) -> list[CheckRequest]:
    if type(body) is not dict:
        raise CheckBodyInvalid("(body)", "must be an object")
    for name in sorted(body.keys() - {"checks"}):
        raise CheckBodyInvalid(str(name), "Extra inputs are not permitted")
    checks = body.get("checks")
    if type(checks) is not list:
        raise CheckBodyInvalid("checks", "a list of checks is required")
    if len(checks) > MAX_BATCH:
        raise CheckBodyInvalid("checks", f"at most {MAX_BATCH} checks per call")
    parsed = []
    for i, item in enumerate(checks):
        try:
            parsed.append(parse_check(item))
        except CheckBodyInvalid:
            raise _refuse(f"checks.{i}.", item) from None
    return parsed


def decide(caller: Caller, request: CheckRequest, engine_decide: Decide) -> Decision:
    if not may_act_in(caller, request.org):
        return NOT_ACCESSIBLE
    own = caller.own_subject
    if own is not None and request.subject != own:
        return SUBJECT_NOT_ACCESSIBLE
    return engine_decide(*request)


def dump(d: Decision) -> str:
    # Reasons are fixed codes: no escaping needed, and far cheaper than json.dumps per result.
    return f'{{"allowed":{"true" if d.allowed else "false"},"version":{d.version},"reason":"{d.reason}"}}'


def answer_check(body: Any, caller: Caller, engine_decide: Decide) -> str:
    return dump(decide(caller, parse_check(body), engine_decide))


def answer_batch(body: Any, caller: Caller, engine_decide: Decide) -> str:
    results = (dump(decide(caller, r, engine_decide)) for r in parse_batch(body))
    return '{"results":[' + ",".join(results) + "]}"
