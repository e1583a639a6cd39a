"""SSO enforcement: when an org enforces SSO, people of its verified domains sign in to it only through SSO.

Every way into an org other than SSO asks this module before it issues a session: accepting an invitation
calls :func:`refuse_unless_allowed`; email one-time codes use :func:`sso_required` and
``BREAK_GLASS_METHODS`` (they audit the refusal with its reason). The break-glass hook: a method listed in
``BREAK_GLASS_METHODS`` stays open to the org's *owners* (a broken IdP must not lock the org out), and its use
is audited by the caller (the email code records ``session.break_glass``). Addresses outside the org's
verified domains (contractors, guests) are not affected: the org does not own their identity.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy.orm import Session

from app.domains.matching import VerifiedDomains
from app.orgs.models import Organization
from app.rbac.permissions import OWNER
from app.sso.errors import SsoRequired

SSO_METHOD: Final = "sso"
# Methods owners may still use while SSO is enforced: the email one-time code (app/sso/email_codes.py,
# which records ``session.break_glass`` when an owner uses it).
BREAK_GLASS_METHODS: Final[frozenset[str]] = frozenset({"email_code"})


def sso_required(session: Session, domains: VerifiedDomains, org_id: str, email: str) -> bool:
    org = session.get(Organization, org_id)
    if org is None or not org.sso_enforced:
        return False
    return domains.email_in_verified_domain(org_id, email)


def refuse_unless_allowed(
    session: Session, domains: VerifiedDomains, org_id: str, email: str, method: str, role: str | None
) -> None:
    """Raise ``SsoRequired`` (403 ``sso_required``) unless ``method`` may sign ``email`` in to the org."""
    if method == SSO_METHOD or not sso_required(session, domains, org_id, email):
        return
    if role == OWNER and method in BREAK_GLASS_METHODS:
        return
    raise SsoRequired(
        "This organisation signs its people in through single sign-on. Sign in at /sso/login with your "
        "work email.",
        login_url=f"/sso/login?org={org_id}",
    )
