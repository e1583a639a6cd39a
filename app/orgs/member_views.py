"""``/v1/orgs/{org}/members``: list (cursor pages, filters), read, change role or status, remove."""

from __future__ import annotations

from app.api.endpoint import operation
from app.api.v1 import v1
from app.orgs.member_schemas import MemberListQuery, MemberOut, MemberPage, MemberUpdate
from app.orgs.members import MemberFilter
from app.web import authenticate, services


@operation(
    v1,
    "/orgs/<org_id>/members",
    "GET",
    summary="List members",
    tag="members",
    permission="members:read",
    query=MemberListQuery,
    response=MemberPage,
    description="Pages in a stable order (by id). Pass next_cursor back as cursor; null on the last page.",
)
def list_members(org_id: str, query: MemberListQuery) -> MemberPage:
    filters = MemberFilter(role=query.role, seat_type=query.seat_type, status=query.status, q=query.q or None)
    page = services().members.list_members(org_id, filters, limit=query.limit, cursor=query.cursor)
    return MemberPage(data=[MemberOut.of(m, u) for m, u in page.rows], next_cursor=page.next_cursor)


@operation(
    v1,
    "/orgs/<org_id>/members/<member_id>",
    "GET",
    summary="Read a member",
    tag="members",
    permission="members:read",
    response=MemberOut,
)
def get_member(org_id: str, member_id: str) -> MemberOut:
    return MemberOut.of(*services().members.read(org_id, member_id))


@operation(
    v1,
    "/orgs/<org_id>/members/<member_id>",
    "PATCH",
    summary="Change a member's role or status",
    tag="members",
    permission="members:update",
    body=MemberUpdate,
    response=MemberOut,
    errors=(409,),
    description="Only owners grant or take away owner; the last active owner cannot be demoted or "
    "suspended (409 last_owner). Suspending ends the member's sessions.",
)
def update_member(org_id: str, member_id: str, body: MemberUpdate) -> MemberOut:
    svc = services()
    svc.members.update(org_id, member_id, authenticate(), role=body.role, status=body.status)
    return MemberOut.of(*svc.members.read(org_id, member_id))


@operation(
    v1,
    "/orgs/<org_id>/members/<member_id>",
    "DELETE",
    summary="Remove a member",
    tag="members",
    permission="members:remove",
    status=204,
    errors=(409,),
    description="Frees the member's seat, ends their sessions in this org and drops pending seat requests. "
    "Removing an owner needs an owner; the last owner cannot be removed (409 last_owner).",
)
def remove_member(org_id: str, member_id: str) -> None:
    services().members.remove(org_id, member_id, authenticate())
