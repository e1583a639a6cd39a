"""``/v1/orgs/{org}/seats``, member seats, transfer and seat requests.

An unknown seat type, in the path or the body, is a 422 naming ``seat_type`` (the list of types is closed
and published as an enum in the OpenAPI document), not a 404: the org and the pool exist, the name is wrong.
"""

from __future__ import annotations

from app.api.endpoint import operation
from app.api.v1 import v1
from app.errors import Forbidden
from app.orgs.models import Membership, User
from app.orgs.seat_schemas import (
    SeatAssignIn,
    SeatLimitIn,
    SeatMemberOut,
    SeatPoolList,
    SeatPoolOut,
    SeatRequestDenyIn,
    SeatRequestIn,
    SeatRequestOut,
    SeatRequestPageOut,
    SeatRequestQuery,
    SeatTransferIn,
    SeatTransferOut,
)
from app.pagination import decode_cursor, encode_cursor
from app.web import authenticate, services

TAG = "seats"


def member_out(member: Membership) -> SeatMemberOut:
    user = services().session.get(User, member.user_id)
    assert user is not None  # a foreign key keeps it
    return SeatMemberOut.of(member, user)


@operation(
    v1,
    "/orgs/<org_id>/seats",
    "GET",
    summary="Report seat pools: limit, used, available, over_limit and shortfall per seat type",
    tag=TAG,
    permission="seats:read",
    response=SeatPoolList,
)
def list_seat_pools(org_id: str) -> SeatPoolList:
    pools = services().seats.report(org_id)
    wanted = services().group_mappings.shortfall(org_id)
    return SeatPoolList(data=[SeatPoolOut.of(p, wanted.get(p.seat_type, 0)) for p in pools])


@operation(
    v1,
    "/orgs/<org_id>/seats/<seat_type>",
    "PUT",
    summary="Set a seat pool's limit (billing, platform key)",
    tag=TAG,
    auth="platform",
    permission="seats:set_limit",
    body=SeatLimitIn,
    response=SeatPoolOut,
    description="Lowering the limit below the seats in use evicts nobody: the pool reports over_limit and "
    "refuses new assignments until it is back under. Unknown seat type: 422.",
)
def set_seat_limit(org_id: str, seat_type: str, body: SeatLimitIn) -> SeatPoolOut:
    pool = services().seats.set_limit(org_id, seat_type, body.limit)
    return SeatPoolOut.of(pool, services().group_mappings.shortfall(org_id).get(seat_type, 0))


@operation(
    v1,
    "/orgs/<org_id>/members/<member_id>/seat",
    "PUT",
    summary="Assign a seat to a member (idempotent)",
    tag=TAG,
    permission="seats:assign",
    body=SeatAssignIn,
    response=SeatMemberOut,
    errors=(409,),
    description="409 seat_limit_reached (with seat_type, limit, used) when the pool is full or over limit.",
)
def assign_seat(org_id: str, member_id: str, body: SeatAssignIn) -> SeatMemberOut:
    return member_out(services().seats.assign(org_id, member_id, body.seat_type))


@operation(
    v1,
    "/orgs/<org_id>/members/<member_id>/seat",
    "DELETE",
    summary="Free a member's seat",
    tag=TAG,
    permission="seats:assign",
    response=SeatMemberOut,
)
def unassign_seat(org_id: str, member_id: str) -> SeatMemberOut:
    return member_out(services().seats.unassign(org_id, member_id))


@operation(
    v1,
    "/orgs/<org_id>/seats/<seat_type>/transfer",
    "POST",
    summary="Move a seat from one member to another in one transaction",
    tag=TAG,
    permission="seats:assign",
    body=SeatTransferIn,
    response=SeatTransferOut,
    errors=(409,),
    description="The pool's count never changes, so a transfer works even over the limit. 409 seat_not_held "
    "or seat_already_held; 422 when both members are the same.",
)
def transfer_seat(org_id: str, seat_type: str, body: SeatTransferIn) -> SeatTransferOut:
    source, target = services().seats.transfer(org_id, seat_type, body.from_member, body.to_member)
    return SeatTransferOut(seat_type=seat_type, from_member=member_out(source), to_member=member_out(target))


@operation(
    v1,
    "/orgs/<org_id>/seat-requests",
    "POST",
    summary="Ask for a seat (a member's session)",
    tag=TAG,
    permission="seat_requests:create",
    body=SeatRequestIn,
    response=SeatRequestOut,
    status=201,
    errors=(409,),
    description="409 seat_already_held when the member holds the seat, seat_request_pending on a second ask.",
)
def create_seat_request(org_id: str, body: SeatRequestIn) -> SeatRequestOut:
    principal = authenticate()
    if principal.kind != "user" or principal.user_id is None:
        raise Forbidden("Only a member's own session can ask for a seat.")
    view = services().seat_requests.create(org_id, principal.user_id, body.seat_type, body.message)
    return SeatRequestOut.of(view)


@operation(
    v1,
    "/orgs/<org_id>/seat-requests",
    "GET",
    summary="List seat requests, oldest first",
    tag=TAG,
    permission="seat_requests:read",
    query=SeatRequestQuery,
    response=SeatRequestPageOut,
)
def list_seat_requests(org_id: str, query: SeatRequestQuery) -> SeatRequestPageOut:
    after = decode_cursor(query.cursor, id_prefix="sreq_") if query.cursor else None
    page = services().seat_requests.list(org_id, status=query.status, after_id=after, limit=query.limit)
    return SeatRequestPageOut(
        data=[SeatRequestOut.of(v) for v in page.items],
        next_cursor=encode_cursor(page.last_id) if page.last_id else None,
    )


@operation(
    v1,
    "/orgs/<org_id>/seat-requests/<request_id>/approve",
    "POST",
    summary="Approve a seat request: assigns the seat if the pool has room",
    tag=TAG,
    permission="seat_requests:decide",
    response=SeatRequestOut,
    errors=(409,),
    description="409 seat_limit_reached leaves the request pending; 409 seat_request_decided if decided.",
)
def approve_seat_request(org_id: str, request_id: str) -> SeatRequestOut:
    return SeatRequestOut.of(services().seat_requests.approve(org_id, request_id))


@operation(
    v1,
    "/orgs/<org_id>/seat-requests/<request_id>/deny",
    "POST",
    summary="Deny a seat request, with an optional reason",
    tag=TAG,
    permission="seat_requests:decide",
    body=SeatRequestDenyIn,
    response=SeatRequestOut,
    errors=(409,),
)
def deny_seat_request(org_id: str, request_id: str, body: SeatRequestDenyIn) -> SeatRequestOut:
    return SeatRequestOut.of(services().seat_requests.deny(org_id, request_id, body.reason))
