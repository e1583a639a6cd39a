"""From an identity an IdP asserted to a session, or a refusal. No Flask: the views adapt HTTP.

The rules, in order (each refusal names its ``reason``, recorded as ``sso.login_failed``):

1. The connection is enabled and its org lives (``connection_disabled``).
2. The identity carries an email (``email_missing``, ``email_invalid``).
3. The email belongs to a verified domain of *this* org, unless the connection says otherwise
   (``email_domain_not_verified``): an IdP cannot sign in people of domains the org does not own.
4. An existing member must be active (``member_suspended``); an owner signs in only through a connection
   whose IdP an owner set (``owner_needs_owner_configured_connection``: else an admin's IdP would be a way
   into an owner's membership). A person who is not a member joins when a pending invitation names the
   address (for addresses of the org's verified domains only; its role and seat apply, JIT or not), or else
   only when the connection does JIT (``not_a_member``), with the connection's default role granted through
   the one grant rule as an admin would (``check_grant``; a connection never grants owner).
5. Groups the IdP asserts (by name, or the SCIM group's externalId) join the member to the org's groups that
   exist, and their group mappings apply exactly as SCIM applies them (role, seat when there is room, or
   ``shortfall``); a mapped group no longer asserted is left. Names are updated from the assertion.
6. A session (``method="sso"``; ``account_proof="sso"`` only for an address of the org's verified domains)
   and ``sso.login_succeeded``.

Everything is one transaction: a refusal writes nothing but its audit event (recorded apart).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit.catalogue import AuditAction
from app.audit.recorder import Actor, AuditRecorder, Target
from app.clock import Clock
from app.credentials.principal import Principal
from app.domains.matching import VerifiedDomains
from app.errors import Forbidden, SeatLimitReached
from app.orgs.accounts import AccountService, normalize_email
from app.orgs.invitations import InvitationService
from app.orgs.members import MemberService
from app.orgs.models import Invitation, Membership, Organization, User
from app.orgs.sessions import IssuedSession, SessionService
from app.rbac.permissions import ADMIN, OWNER, Authorizer, check_grant
from app.scim.mappings import GroupMappingService
from app.scim.models import ScimGroup, ScimGroupMapping, ScimGroupMember
from app.sso.attributes import AssertedIdentity
from app.sso.errors import LoginRefused
from app.sso.models import SsoConnection, SsoSession

Flow = Literal["sp_initiated", "idp_initiated"]
JIT_SOURCE = "jit"


@dataclass(frozen=True)
class LoginResult:
    user: User
    member: Membership
    session: IssuedSession
    jit: bool


def refused(reason: str, detail: str) -> LoginRefused:
    return LoginRefused(detail, reason=reason)


def connection_principal(conn: SsoConnection) -> Principal:
    """Who grants at a JIT login: the connection, acting as an admin (so never owner)."""
    return Principal("org_key", conn.id, f"SSO connection {conn.name}", org_id=conn.org_id, role=ADMIN)


def valid_email(email: str | None) -> str | None:
    if email is None:
        return None
    email = normalize_email(email)
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain or len(email) > 320:
        return None
    if any(ch.isspace() or not ch.isprintable() for ch in email):
        return None
    return email


class SsoLoginService:
    def __init__(
        self,
        session: Session,
        clock: Clock,
        audit: AuditRecorder,
        authorizer: Authorizer,
        *,
        domains: VerifiedDomains,
        accounts: AccountService,
        members: MemberService,
        mappings: GroupMappingService,
        sessions: SessionService,
        invitations: InvitationService,
    ) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit
        self.authorizer = authorizer
        self.domains = domains
        self.accounts = accounts
        self.members = members
        self.mappings = mappings
        self.sessions = sessions
        self.invitations = invitations

    def check_usable(self, conn: SsoConnection) -> Organization:
        org = self.session.get(Organization, conn.org_id)
        if org is None or org.deleted_at is not None or not conn.enabled:
            raise refused("connection_disabled", "This sign-in connection is not enabled.")
        return org

    def login(self, conn: SsoConnection, identity: AssertedIdentity, flow: Flow) -> LoginResult:
        self.check_usable(conn)
        if identity.email is None:
            raise refused("email_missing", "Your identity provider did not send an email address.")
        email = valid_email(identity.email)
        if email is None:
            raise refused("email_invalid", "Your identity provider sent an email address that is not valid.")
        org_id = conn.org_id
        owned = self.domains.email_in_verified_domain(org_id, email)
        if conn.require_verified_domain and not owned:
            raise refused(
                "email_domain_not_verified",
                f"{email} is not in a domain this organisation has verified, so this connection cannot sign "
                "it in.",
            )
        self.audit.lock_chain(org_id)
        principal = connection_principal(conn)
        user = self.accounts.find_by_email(email)
        member = self.members.find(org_id, user.id) if user is not None else None
        jit = False
        if member is not None:
            if member.status != "active":
                raise refused("member_suspended", "Your membership of this organisation is suspended.")
            if member.role == OWNER and not conn.idp_set_by_owner:
                raise refused(
                    "owner_needs_owner_configured_connection",
                    "Owners sign in through a connection whose identity provider an owner configured; ask an "
                    "owner to save this connection's IdP settings.",
                )
        else:
            invitation = self._invitation(conn, email) if owned else None
            if invitation is None:
                self._check_jit(conn, principal)
            user, created = self._account(email, identity.display_name, org_id)
            if invitation is not None:
                try:
                    member = self.invitations.accept_signed_in(
                        invitation, user, "created" if created else "existing"
                    )
                except SeatLimitReached:
                    raise refused(
                        "seat_limit_reached",
                        "Your invitation comes with a seat, and none is free; ask an administrator.",
                    ) from None
            else:
                member = self.members.add(org_id, user, conn.default_role, source=JIT_SOURCE)
            jit = True
        assert user is not None
        self._update_name(user, identity)
        if identity.groups is not None:
            self._sync_groups(member, identity.groups, principal)
        # The IdP proves the account itself only for addresses of the org's own verified domains: a connection
        # that accepts other domains signs people in to this org, never as the account (no /v1/me, no
        # account deletion, no vouching for invitations elsewhere).
        issued = self.sessions.issue(user.id, org_id, "sso", account_proof="sso" if owned else None)
        self.session.add(
            SsoSession(
                session_id=issued.id,
                org_id=org_id,
                connection_id=conn.id,
                name_id=identity.subject[:1024],
                name_id_format=identity.name_id_format,
                session_index=(identity.session_index or None) and identity.session_index[:255],
                created_at=self.clock.now(),
            )
        )
        self.session.flush()
        self.audit.record(
            AuditAction.SSO_LOGIN_SUCCEEDED,
            org_id=org_id,
            targets=[
                Target("sso_connection", conn.id, conn.name),
                Target("member", member.id),
                Target("user", user.id, user.email),
            ],
            data={
                "connection_id": conn.id,
                "member_id": member.id,
                "user_id": user.id,
                "session_id": issued.id,
                "flow": flow,
                "jit": jit,
            },
            actor=Actor("user", user.id, user.name or user.email),
        )
        return LoginResult(user, member, issued, jit)

    def _account(self, email: str, name: str | None, org_id: str) -> tuple[User, bool]:
        """The account of ``email``, created when missing. The org's chain lock orders logins into one org,
        but nothing orders a first login into another org (or a sign-up) for the same address: the one
        whose insert loses to the account's unique email retries once and finds the account."""
        try:
            with self.session.begin_nested():
                return self.accounts.get_or_create(email, name, org_id=org_id)
        except IntegrityError:
            return self.accounts.get_or_create(email, name, org_id=org_id)

    def _invitation(self, conn: SsoConnection, email: str) -> Invitation | None:
        """A pending invitation is the admins' consent (JIT or not), with its role and seat; an owner
        invitation only through a connection whose IdP an owner set."""
        invitation = self.invitations.pending_for(conn.org_id, email)
        if invitation is not None and invitation.role == OWNER and not conn.idp_set_by_owner:
            return None
        return invitation

    def _check_jit(self, conn: SsoConnection, principal: Principal) -> None:
        if not conn.jit:
            raise refused(
                "not_a_member",
                "You are not a member of this organisation yet; ask an administrator to invite you.",
            )
        if conn.default_role == OWNER:
            raise refused("role_not_grantable", "This connection's default role cannot be granted.")
        try:
            check_grant(principal, self.authorizer, conn.org_id, conn.default_role)
        except Forbidden:
            raise refused(
                "role_not_grantable", "This connection's default role cannot be granted at sign-in."
            ) from None

    def _update_name(self, user: User, identity: AssertedIdentity) -> None:
        name = identity.display_name
        if name and name != user.name:
            user.name = name
            user.updated_at = self.clock.now()
            self.session.flush()

    def _sync_groups(self, member: Membership, asserted: tuple[str, ...], principal: Principal) -> None:
        """Join the org's groups the IdP asserts (by display name or externalId); leave mapped groups it no
        longer asserts. Unmapped groups the member is in are left alone (SCIM may manage them)."""
        wanted = set(asserted)
        groups = (
            self.session.scalars(
                select(ScimGroup).where(
                    ScimGroup.org_id == member.org_id,
                    or_(ScimGroup.display_name.in_(wanted), ScimGroup.external_id.in_(wanted)),
                )
            ).all()
            if wanted
            else []
        )
        matched = {g.id for g in groups}
        current = set(
            self.session.scalars(
                select(ScimGroupMember.group_id).where(ScimGroupMember.member_id == member.id)
            )
        )
        for group_id in sorted(matched - current):
            self.session.add(ScimGroupMember(group_id=group_id, member_id=member.id))
            self.session.flush()
            self.mappings.joined(member, group_id, principal)
        stale_mapped = self.session.scalars(
            select(ScimGroupMapping).where(
                ScimGroupMapping.org_id == member.org_id,
                ScimGroupMapping.group_id.in_(current - matched),
            )
        ).all()
        for mapping in stale_mapped:
            row = self.session.get(ScimGroupMember, (mapping.group_id, member.id))
            if row is not None:
                self.session.delete(row)
                self.session.flush()
            self.mappings.left(member, mapping, principal)

    def end_idp_sessions(self, conn: SsoConnection, name_id: str, session_indexes: tuple[str, ...]) -> int:
        """The IdP's LogoutRequest: end this connection's sessions of ``name_id`` (of these SessionIndexes
        when it names any). Returns how many ended."""
        stmt = select(SsoSession).where(
            SsoSession.connection_id == conn.id, SsoSession.name_id == name_id[:1024]
        )
        if session_indexes:
            stmt = stmt.where(SsoSession.session_index.in_(session_indexes))
        ended = 0
        for row in list(self.session.scalars(stmt)):
            if self.sessions.end(row.session_id, reason="idp_logout"):
                ended += 1
        return ended

    def sso_session(self, session_id: str) -> SsoSession | None:
        return self.session.get(SsoSession, session_id)
