"""Typed errors raised anywhere and mapped once: to problem+json (RFC 9457) under ``/v1``.

SCIM maps the same errors to its own Error bodies (RFC 7644 §3.12).
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "https://tenantry.dev/problems/"


class AppError(Exception):
    """Base of every error a caller can be shown. ``code`` is stable; ``detail`` says what to do."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        # Extras add detail; they never overwrite the problem's own members (a stray ``status`` would
        # otherwise change the HTTP status).
        body.update({k: v for k, v in self.extra.items() if k not in body and k != "instance"})
        return body


class MalformedRequest(AppError):
    status, code, title = 400, "malformed_request", "Malformed request"


class ValidationFailed(AppError):
    """The body parsed but a field is unknown or invalid; ``errors`` names each field."""

    status, code, title = 422, "validation_failed", "Validation failed"


class Unauthenticated(AppError):
    status, code, title = 401, "unauthenticated", "Authentication required"


class Forbidden(AppError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(AppError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(AppError):
    status, code, title = 409, "conflict", "Conflict"


class Gone(AppError):
    status, code, title = 410, "gone", "Gone"


class SeatLimitReached(Conflict):
    code, title = "seat_limit_reached", "Seat limit reached"

    def __init__(self, seat_type: str, limit: int, used: int) -> None:
        super().__init__(
            f"All {limit} '{seat_type}' seats are taken ({used} in use). Free a seat, transfer one, "
            "or ask billing to raise the limit.",
            seat_type=seat_type,
            limit=limit,
            used=used,
        )


class MemberSuspended(Conflict):
    """A suspended member holds no seat and cannot be given one until reactivated."""

    code, title = "member_suspended", "Member suspended"


class PreconditionFailed(AppError):
    """``If-Match`` named a version the resource no longer has (RFC 9110 §13.1.1)."""

    status, code, title = 412, "precondition_failed", "Precondition failed"


class SeatNotHeld(Conflict):
    code, title = "seat_not_held", "Seat not held"


class SeatAlreadyHeld(Conflict):
    code, title = "seat_already_held", "Seat already held"


class SeatRequestPending(Conflict):
    code, title = "seat_request_pending", "Seat request already pending"


class SeatRequestDecided(Conflict):
    code, title = "seat_request_decided", "Seat request already decided"


class LastOwner(Conflict):
    code, title = "last_owner", "Last owner"


class AlreadyMember(Conflict):
    code, title = "already_member", "Already a member"


class InvitationPending(Conflict):
    code, title = "invitation_pending", "Invitation already pending"


class InvitationNotPending(Conflict):
    code, title = "invitation_not_pending", "Invitation not pending"


class InvitationExpired(Gone):
    code, title = "invitation_expired", "Invitation expired"


class InvitationUsed(Gone):
    code, title = "invitation_used", "Invitation already used"


class SignInRequired(Unauthenticated):
    """The invitation is for an existing account: the token alone does not prove who is accepting."""

    code, title = "sign_in_required", "Sign in to accept"


class InvitationForAnotherAccount(Forbidden):
    code, title = "invitation_for_another_account", "Invitation for another account"


class AccountProofRequired(Forbidden):
    """A session that never proved control of its account (opened before that proof was required)."""

    code, title = "account_proof_required", "Account not proven"


class ServiceUnavailable(AppError):
    status, code, title = 503, "service_unavailable", "Service unavailable"


class InternalError(AppError):
    status, code, title = 500, "internal_error", "Internal error"


class HttpError(AppError):
    """A routing-level error from Werkzeug (unknown path, wrong method) in problem+json."""

    def __init__(self, status: int, name: str, detail: str) -> None:
        super().__init__(detail)
        self.status_code, self.name = status, name

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body = super().to_problem(instance)
        body.update(status=self.status_code, title=self.name, code=self.name.lower().replace(" ", "_"))
        body["type"] = PROBLEM_BASE + body["code"]
        return body


class RateLimited(AppError):
    status, code, title = 429, "rate_limited", "Too many requests"


class AuditLogsDisabled(Forbidden):
    """The org turned its audit log off: the API refuses to show it (recording goes on)."""

    code, title = "audit_logs_disabled", "Audit logs disabled"
