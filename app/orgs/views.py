"""``/v1/orgs``: create (platform), read, update settings, delete."""

from __future__ import annotations

from app.api.endpoint import operation
from app.api.v1 import v1
from app.orgs.schemas import OrgCreate, OrgOut, OrgUpdate
from app.web import services


@operation(
    v1,
    "/orgs",
    "POST",
    summary="Create an organisation",
    tag="orgs",
    auth="platform",
    body=OrgCreate,
    response=OrgOut,
    status=201,
    errors=(409,),
)
def create_org(body: OrgCreate) -> OrgOut:
    return OrgOut.model_validate(services().orgs.create(body.name, body.slug))


@operation(
    v1,
    "/orgs/<org_id>",
    "GET",
    summary="Read an organisation",
    tag="orgs",
    permission="org:read",
    response=OrgOut,
)
def get_org(org_id: str) -> OrgOut:
    return OrgOut.model_validate(services().orgs.get(org_id))


@operation(
    v1,
    "/orgs/<org_id>",
    "PATCH",
    summary="Update an organisation's settings",
    tag="orgs",
    permission="org:update",
    body=OrgUpdate,
    response=OrgOut,
    errors=(409,),
    description="Turning on `sso_enforced` or `auto_join` needs a verified domain (409 "
    "`verified_domain_required`); both are turned off when the org loses its last verified domain.",
)
def update_org(org_id: str, body: OrgUpdate) -> OrgOut:
    org = services().orgs.update(org_id, body.model_dump(exclude_unset=True, exclude_none=True))
    return OrgOut.model_validate(org)


@operation(
    v1,
    "/orgs/<org_id>",
    "DELETE",
    summary="Delete an organisation",
    tag="orgs",
    permission="org:delete",
    status=204,
    description="Ends every membership, revokes the org's API keys, SCIM tokens and sessions.",
)
def delete_org(org_id: str) -> None:
    services().orgs.delete(org_id)
