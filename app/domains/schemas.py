"""Request and response bodies for domains."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from app.api.schema import Query, RequestBody, ResponseBody
from app.domains.models import Domain
from app.domains.service import VerificationResult
from app.domains.txt import ChallengeRecord, Reason, unicode_name

DomainStatus = Literal["pending", "verified", "unverified"]


class DomainCreate(RequestBody):
    domain: str = Field(
        min_length=1,
        max_length=300,
        description="The domain to claim, e.g. acme.com; international names are accepted (bücher.de).",
    )


class DomainListQuery(Query):
    cursor: str | None = Field(default=None, max_length=200, pattern=r"^[A-Za-z0-9_-]*$")
    limit: int = Field(default=50, ge=1, le=200, description="Page size, 1 to 200.")


class TxtRecordOut(ResponseBody):
    name: str = Field(description="Where to publish it: _tenantry-challenge.<domain>.")
    type: Literal["TXT"]
    value: str = Field(description="tenantry-domain-verification=<token>, exactly.")

    @classmethod
    def of(cls, record: ChallengeRecord) -> TxtRecordOut:
        return cls(name=record.name, type="TXT", value=record.value)


class DomainOut(ResponseBody):
    id: str
    org_id: str
    domain: str = Field(description="Normalised: lower case, IDNA A-labels, no trailing dot.")
    display_name: str = Field(description="The name in Unicode, as people read it.")
    status: DomainStatus
    txt_record: TxtRecordOut
    created_at: datetime
    verified_at: datetime | None
    last_checked_at: datetime | None
    last_error: str | None = Field(description="The reason code of the last failed check, if any.")
    failing_since: datetime | None = Field(
        description="Since when re-checks have not found the record (the grace period runs from here)."
    )
    next_check_at: datetime | None

    @classmethod
    def of(cls, domain: Domain) -> DomainOut:
        return cls(
            id=domain.id,
            org_id=domain.org_id,
            domain=domain.name,
            display_name=unicode_name(domain.name),
            status=domain.status,
            txt_record=TxtRecordOut.of(ChallengeRecord.for_domain(domain.name, domain.token)),
            created_at=domain.created_at,
            verified_at=domain.verified_at,
            last_checked_at=domain.last_checked_at,
            last_error=domain.last_error,
            failing_since=domain.failing_since,
            next_check_at=domain.next_check_at,
        )


class VerificationOut(ResponseBody):
    result: Literal["verified", "nxdomain", "no_txt_record", "token_mismatch", "timeout", "servfail"] = Field(
        description="verified, or why not."
    )
    verified: bool
    detail: str
    checked_at: datetime


class DomainVerified(DomainOut):
    verification: VerificationOut

    @classmethod
    def of_result(cls, result: VerificationResult) -> DomainVerified:
        verdict = result.verdict
        return cls(
            **DomainOut.of(result.domain).model_dump(),
            verification=VerificationOut(
                result=verdict.reason.value,
                verified=verdict.reason is Reason.VERIFIED,
                detail=verdict.detail,
                checked_at=result.checked_at,
            ),
        )


class DomainPage(ResponseBody):
    data: list[DomainOut]
    next_cursor: str | None = None
