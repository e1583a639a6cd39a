"""Every ``/v1`` views module, imported by name: importing one attaches its operations to the ``v1`` blueprint
(``@operation``), so these imports are the registration. A new views module is imported here;
tests/unit/test_registration.py fails when one is left out."""

from __future__ import annotations

from types import ModuleType

from flask import Flask

from app.api.v1 import v1
from app.audit.http import views as audit_views
from app.credentials import views as credential_views
from app.domains import views as domain_views
from app.extracts import views as extract_views
from app.orgs import account_views, invitation_views, member_views, seat_views
from app.orgs import views as org_views
from app.rbac import role_views
from app.rbac import views as check_views
from app.scim import mapping_views as scim_mapping_views
from app.sso import connection_views as sso_connection_views
from app.tokens import views as token_views

VIEW_MODULES: tuple[ModuleType, ...] = (
    org_views,
    member_views,
    invitation_views,
    seat_views,
    account_views,
    credential_views,
    audit_views,
    check_views,
    role_views,
    domain_views,
    extract_views,
    scim_mapping_views,
    token_views,
    sso_connection_views,
)


def register_v1(app: Flask) -> None:
    app.register_blueprint(v1)
