"""A refusal as plain values: which ones count, and what a refused authorization records (no Flask, no
database)."""

from __future__ import annotations

import hashlib

import pytest

from app.audit.catalogue import AuditAction
from app.audit.recorder import Actor, RequestContext
from app.audit.refusals import PresentedCredential, Refusal, denied

MEMBER_KEY = Actor("api_key", "key_1", "viewer")


def _refusal(status: int = 403, code: str = "forbidden", **kw: object) -> Refusal:
    base: dict[str, object] = {
        "method": "GET",
        "path": "/scim/v2/Users",
        "context": RequestContext(ip="203.0.113.9", request_id="req_1"),
        "org_id": "org_1",
        "actor": MEMBER_KEY,
        "role": "member",
        "permission": "members:read",
    }
    return Refusal(status, code, **{**base, **kw})  # type: ignore[arg-type]


def test_a_refused_authorization_names_the_missing_permission_and_the_request() -> None:
    failure = denied(_refusal())
    assert failure is not None
    assert (failure.org_id, failure.action, failure.actor) == ("org_1", AuditAction.AUTHZ_DENIED, MEMBER_KEY)
    assert failure.reason == "missing permission members:read"
    assert dict(failure.data) == {
        "permission": "members:read",
        "role": "member",
        "method": "GET",
        "path": "/scim/v2/Users",
    }


def test_a_permission_nobody_declared_is_recorded_as_unknown() -> None:
    failure = denied(_refusal(permission=None))
    assert failure is not None and failure.reason == "missing permission unknown"


@pytest.mark.parametrize(
    ("status", "code", "changes"),
    [
        (403, "forbidden", {"org_id": None}),  # a platform key belongs to no org log
        (403, "forbidden", {"actor": None}),
        (403, "own_role", {}),  # a business rule's refusal, not a missing permission
        (401, "unauthenticated", {}),  # a 401 is described from its credential, not here
    ],
)
def test_what_is_not_a_refused_authorization(status: int, code: str, changes: dict[str, object]) -> None:
    assert denied(_refusal(status, code, **changes)) is None


@pytest.mark.parametrize(
    ("status", "code", "counted"),
    [(401, "unauthenticated", True), (403, "forbidden", True), (401, "sign_in_required", False)],
)
def test_which_refusals_count(status: int, code: str, counted: bool) -> None:
    assert _refusal(status, code).counted is counted


@pytest.mark.parametrize(
    ("secret", "kind"),
    [
        ("tnt_ses_" + "s" * 43, "session"),
        ("tnt_ok_" + "o" * 43, "org"),
        ("tnt_pk_" + "p" * 43, "platform"),
        ("tnt_scim_" + "c" * 43, "scim"),
        ("someone-elses-token-" + "x" * 40, None),
    ],
)
def test_a_presented_credential_keeps_its_kind_hash_and_prefix_never_the_secret(
    secret: str, kind: str | None
) -> None:
    presented = PresentedCredential.of(secret)
    assert presented.kind == kind
    assert presented.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret.startswith(presented.prefix) and len(presented.prefix) < len(secret) - 20
    assert secret not in repr(presented)
