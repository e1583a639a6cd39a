"""``/v1/orgs/{org}/invitations`` (create, list, revoke, resend) and ``/v1/invitations/accept``."""

from __future__ import annotations

from flask import request

from app.api.endpoint import operation
from app.api.v1 import v1
from app.container import Services
from app.credentials.secrets import display_prefix
from app.errors import AppError
from app.orgs.invitation_schemas import (
    AcceptedMembership,
    InvitationAccept,
    InvitationCreate,
    InvitationIssued,
    InvitationListQuery,
    InvitationOut,
    InvitationPage,
    InvitationResend,
)
from app.orgs.invitations import IssuedInvitation
from app.ratelimit import Rule
from app.web import authenticate, container, db_session, note_failure, optional_principal, services


def _issued(svc: Services, issued: IssuedInvitation) -> InvitationIssued:
    # Mail is not transactional: commit the invitation first, then mail; the boundary then commits the
    # outcome (sent_at, delivery) in a second short transaction. A failed mail leaves the invitation intact.
    db_session().commit()
    svc.invitations.deliver(issued)
    invitation = issued.invitation
    shown = issued.token_returned  # only a platform key that asked (the service checked)
    return InvitationIssued(
        **InvitationOut.fields(invitation, svc.invitations.status_of(invitation)),
        token_returned=shown,
        token=issued.token if shown else None,
        accept_url=issued.accept_url if shown else None,
    )


@operation(
    v1,
    "/orgs/<org_id>/invitations",
    "POST",
    summary="Invite someone by email",
    tag="invitations",
    permission="invitations:create",
    body=InvitationCreate,
    response=InvitationIssued,
    status=201,
    errors=(403, 404, 409, 422),
    description="The token is mailed with an accept link; only its hash is stored. It is returned here only "
    "to a platform key that sets `return_token` (audited): org keys and sessions never see it, since it "
    "proves control of the address only by travelling by email. "
    "`delivery` is `failed` when the mail could not be sent: the invitation exists, resend it.",
)
def create_invitation(org_id: str, body: InvitationCreate) -> InvitationIssued:
    svc = services()
    issued = svc.invitations.create(
        authenticate(),
        org_id,
        str(body.email),
        body.role,
        seat_type=body.seat_type,
        expires_in_days=body.expires_in_days,
        return_token=body.return_token,
    )
    return _issued(svc, issued)


@operation(
    v1,
    "/orgs/<org_id>/invitations",
    "GET",
    summary="List invitations",
    tag="invitations",
    permission="invitations:read",
    query=InvitationListQuery,
    response=InvitationPage,
    errors=(404, 422),
)
def list_invitations(org_id: str, query: InvitationListQuery) -> InvitationPage:
    invitations = services().invitations
    page = invitations.list(org_id, status=query.status, cursor=query.cursor, limit=query.limit)
    return InvitationPage(
        data=[InvitationOut(**InvitationOut.fields(i, invitations.status_of(i))) for i in page.items],
        next_cursor=page.next_cursor,
    )


@operation(
    v1,
    "/orgs/<org_id>/invitations/<invitation_id>",
    "DELETE",
    summary="Revoke an invitation",
    tag="invitations",
    permission="invitations:revoke",
    status=204,
    errors=(404, 409),
)
def revoke_invitation(org_id: str, invitation_id: str) -> None:
    services().invitations.revoke(org_id, invitation_id)


@operation(
    v1,
    "/orgs/<org_id>/invitations/<invitation_id>/resend",
    "POST",
    summary="Resend an invitation with a new token",
    tag="invitations",
    permission="invitations:create",
    body=InvitationResend,
    response=InvitationIssued,
    errors=(403, 404, 409, 422),
    description="Issues a new token (the old one stops working) and a new expiry, and mails it again.",
)
def resend_invitation(org_id: str, invitation_id: str, body: InvitationResend) -> InvitationIssued:
    svc = services()
    issued = svc.invitations.resend(
        authenticate(),
        org_id,
        invitation_id,
        expires_in_days=body.expires_in_days,
        return_token=body.return_token,
    )
    return _issued(svc, issued)


@operation(
    v1,
    "/invitations/accept",
    "POST",
    summary="Accept an invitation",
    tag="invitations",
    auth="none",
    body=InvitationAccept,
    response=AcceptedMembership,
    status=201,
    errors=(401, 403, 404, 409, 410, 422, 429),
    description="With the token alone, creates a new account for the invited address (`account: created`), "
    "adds the membership, takes the invited seat and starts a member session. When the address already has "
    "an account, the token is not enough: send that account's session as `Authorization: Bearer tnt_ses_…` "
    "(`account: existing`); without it 401 `sign_in_required`, with another account's session 403 "
    "`invitation_for_another_account`. Unknown, revoked or malformed token: 404; expired or used: 410. "
    "Rate limited per IP address and per token (429 with Retry-After).",
)
def accept_invitation(body: InvitationAccept) -> AcceptedMembership:
    limits, settings = container().rate_limiter, container().settings
    limits.hit(Rule("invitation_accept_ip", settings.invitation_accept_rate_ip), request.remote_addr or "-")
    limits.hit(
        Rule("invitation_accept_token", settings.invitation_accept_rate_token), display_prefix(body.token)
    )
    caller = optional_principal()
    invitations = services().invitations
    try:
        accepted = invitations.accept(body.token, body.name, caller=caller)
    except AppError as refused:
        failure = invitations.failure_of(body.token, refused, caller)
        if failure is not None:
            note_failure(failure)
        raise
    member = accepted.member
    return AcceptedMembership(
        id=member.id,
        org_id=member.org_id,
        user_id=member.user_id,
        email=accepted.user.email,
        role=member.role,
        seat_type=member.seat_type,
        status=member.status,
        account=accepted.account,
        session_token=accepted.session.token,
        expires_in=accepted.session.expires_in,
    )
