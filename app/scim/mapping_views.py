"""``/v1/orgs/{org}/group-mappings``: IdP groups granting a role and/or a seat type (scim:manage)."""

from __future__ import annotations

from app.api.endpoint import operation
from app.api.v1 import v1
from app.scim.mapping_schemas import GroupMappingCreate, GroupMappingList, GroupMappingOut
from app.web import authenticate, services


@operation(
    v1,
    "/orgs/<org_id>/group-mappings",
    "POST",
    summary="Map an IdP group to a role and/or a seat type",
    tag="scim",
    permission="scim:manage",
    body=GroupMappingCreate,
    response=GroupMappingOut,
    status=201,
    errors=(403, 404, 409, 422),
    description="Applies at once to the group's current members, then whenever members join or leave. "
    "403 when the role carries a permission the caller does not hold; 409 `group_mapping_exists`. A full "
    "seat pool never fails provisioning: the member gets no seat and `scim_group_mapping.applied` says "
    "`shortfall`.",
)
def create_group_mapping(org_id: str, body: GroupMappingCreate) -> GroupMappingOut:
    mapping = services().group_mappings.create(
        org_id, body.group_id, body.role, body.seat_type, authenticate()
    )
    return GroupMappingOut.of(mapping)


@operation(
    v1,
    "/orgs/<org_id>/group-mappings",
    "GET",
    summary="List the organisation's group mappings",
    tag="scim",
    permission="scim:manage",
    response=GroupMappingList,
    errors=(404,),
)
def list_group_mappings(org_id: str) -> GroupMappingList:
    return GroupMappingList(data=[GroupMappingOut.of(m) for m in services().group_mappings.list(org_id)])


@operation(
    v1,
    "/orgs/<org_id>/group-mappings/<mapping_id>",
    "GET",
    summary="Read a group mapping",
    tag="scim",
    permission="scim:manage",
    response=GroupMappingOut,
    errors=(404,),
)
def get_group_mapping(org_id: str, mapping_id: str) -> GroupMappingOut:
    return GroupMappingOut.of(services().group_mappings.get(org_id, mapping_id))


@operation(
    v1,
    "/orgs/<org_id>/group-mappings/<mapping_id>",
    "DELETE",
    summary="Delete a group mapping",
    tag="scim",
    permission="scim:manage",
    status=204,
    errors=(404,),
    description="Roles and seats the mapping gave stay until changed.",
)
def delete_group_mapping(org_id: str, mapping_id: str) -> None:
    services().group_mappings.delete(org_id, mapping_id)
