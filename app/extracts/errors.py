"""Typed refusals of the extract use cases (``/v1``: problem+json)."""

from __future__ import annotations

from app.errors import Conflict, Gone, ValidationFailed


class SpanTooLong(ValidationFailed):
    """An extract covers at most ``TENANTRY_EXTRACT_MAX_SPAN_DAYS`` days."""

    code, title = "extract_span_too_long", "Extract span too long"


class InvalidSpan(ValidationFailed):
    code, title = "invalid_extract_span", "Invalid extract span"


class IdempotencyKeyReused(Conflict):
    """The ``Idempotency-Key`` was used for a different request."""

    code, title = "idempotency_key_reused", "Idempotency key reused"


class ExtractNotCancellable(Conflict):
    code, title = "extract_not_cancellable", "Extract not cancellable"


class ExtractNotResumable(Conflict):
    code, title = "extract_not_resumable", "Extract not resumable"


class ExtractNotReady(Conflict):
    code, title = "extract_not_ready", "Extract not ready"


class ExtractExpired(Gone):
    code, title = "extract_expired", "Extract files expired"
