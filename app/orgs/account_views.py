"""``/v1/me`` (the caller's account across orgs), account deletion, and logout."""

from __future__ import annotations

from flask import Response, request

from app.api.endpoint import operation
from app.api.v1 import v1
from app.credentials.principal import Principal
from app.errors import AccountProofRequired, Forbidden
from app.orgs.member_schemas import AccountMembershipOut, AccountOut
from app.sso.cookies import clear_session_cookie
from app.web import authenticate, container, services


def member_session() -> Principal:
    """The caller when it is a member's session; API keys and SCIM tokens have no account."""
    principal = authenticate()
    if principal.kind != "user" or principal.user_id is None:
        raise Forbidden(
            "This operation is about a person's own account: call it with a member's session token "
            "(tnt_ses_…), not an API key or SCIM token."
        )
    return principal


def account_session() -> Principal:
    """The caller when it is a session that proved control of its account: account-wide operations act on
    every org the account belongs to, so an org-bound session without that proof may not."""
    principal = member_session()
    if not principal.acts_as_account:
        raise AccountProofRequired(
            "This session was opened without proof that you control the account (before that proof was "
            "required): it acts in its organisation only. Sign in again to read or delete your account."
        )
    return principal


@operation(
    v1,
    "/me",
    "GET",
    summary="My account and my memberships",
    tag="accounts",
    auth="any",
    response=AccountOut,
    errors=(403,),
    description="The account behind the session and every organisation it belongs to. Needs a session that "
    "proved control of the account (403 account_proof_required otherwise).",
)
def get_me() -> AccountOut:
    principal = account_session()
    accounts = services().accounts
    user = accounts.get(principal.user_id or "")
    return AccountOut(
        id=user.id,
        email=user.email,
        name=user.name,
        memberships=[
            AccountMembershipOut(
                org_id=e.org.id,
                org_name=e.org.name,
                member_id=e.member.id,
                role=e.member.role,
                seat_type=e.member.seat_type,
                status=e.member.status,
            )
            for e in accounts.memberships(user.id)
        ],
    )


@operation(
    v1,
    "/me",
    "DELETE",
    summary="Delete my account",
    tag="accounts",
    auth="any",
    status=204,
    errors=(403, 409),
    description="Ends every membership (seats freed), every session, and erases the email and name. "
    "Needs a session that proved control of the account (403 account_proof_required otherwise). "
    "The last owner of an organisation must hand over ownership first (409 last_owner names the orgs).",
)
def delete_me() -> None:
    principal = account_session()
    services().accounts.delete(principal.user_id or "", initiated_by="self")


@operation(
    v1,
    "/accounts/<user_id>",
    "DELETE",
    summary="Delete an account (platform)",
    tag="accounts",
    auth="platform",
    permission="accounts:delete",
    status=204,
    errors=(409,),
    description="As DELETE /v1/me, for a trusted service acting on a person's request.",
)
def delete_account(user_id: str) -> None:
    services().accounts.delete(user_id, initiated_by="platform")


@operation(
    v1,
    "/logout",
    "POST",
    summary="End my session",
    tag="accounts",
    auth="any",
    status=204,
    errors=(403,),
    description="Ends the caller's session (an access token ends the session it was minted from, and with "
    "it every token minted from that session) and clears the browser's session cookie.",
)
def logout() -> Response:
    services().sessions.end(member_session().id, reason="logout")
    resp = Response(status=204)
    clear_session_cookie(resp, request, base_url=container().settings.base_url)
    return resp
