"""xs:dateTime values as SAML uses them (core §1.3.3: UTC), and the skew-bounded window checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.sso.saml.errors import Reason, SamlRefusal


def parse_instant(value: str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise SamlRefusal(Reason.SCHEMA_INVALID, f"{what} {value!r} is not an xs:dateTime") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def format_instant(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_window(
    not_before: datetime | None, not_on_or_after: datetime | None, now: datetime, skew: timedelta, what: str
) -> None:
    """Refuse outside [NotBefore - skew, NotOnOrAfter + skew) (SAML core §2.5.1.2)."""
    if not_before is not None and now + skew < not_before:
        raise SamlRefusal(
            Reason.NOT_YET_VALID, f"{what} NotBefore {not_before.isoformat()}, now {now.isoformat()}"
        )
    if not_on_or_after is not None and now - skew >= not_on_or_after:
        raise SamlRefusal(
            Reason.EXPIRED, f"{what} NotOnOrAfter {not_on_or_after.isoformat()}, now {now.isoformat()}"
        )
