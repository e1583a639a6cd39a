"""The organisation a caller names by id, as every service looks it up."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.errors import NotFound
from app.ids import plausible_id
from app.orgs.models import Organization


def live_org(session: Session, org_id: str) -> Organization:
    """The org, or 404: an unknown id, a deleted org and an id no org could have are one answer, so a caller
    learns nothing from which it was. A platform key can name any id; an implausible one never reaches the
    database."""
    org = session.get(Organization, org_id) if plausible_id(org_id) else None
    if org is None or org.deleted_at is not None:
        raise NotFound(f"Organisation {org_id} not found")
    return org
