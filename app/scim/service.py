"""SCIM Users and Groups over members, accounts, seats and the audit log.

Every change goes through the member and seat services and records its events in the caller's transaction
(the view commits once). Lock order as everywhere: the org's audit chain first (``lock_chain``), then rows.
The org always comes from the SCIM token's principal; an id of another org is "not found", never a hint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from sqlalchemy import bindparam, delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit.catalogue import AuditAction
from app.audit.recorder import AuditRecorder, Target
from app.clock import Clock
from app.credentials.principal import Principal
from app.db import read_only_options, unique_violation
from app.domains.matching import VerifiedDomains
from app.errors import AlreadyMember, Conflict, NotFound, PreconditionFailed
from app.orgs.accounts import AccountService, normalize_email
from app.orgs.members import MemberService
from app.orgs.models import Membership, Organization, User
from app.orgs.seats import SeatService
from app.prebuilt_read import PrebuiltRead
from app.rbac.permissions import MEMBER
from app.scim import patch
from app.scim.errors import InvalidValue
from app.scim.listing import ListQuery, Page, list_users, member_row
from app.scim.mappings import GroupMappingService
from app.scim.models import ScimGroup, ScimGroupMember
from app.scim.resources import (
    GroupRow,
    UserFields,
    UserRow,
    looks_like_email,
    user_fields,
    user_resource,
    version_of,
)
from app.scim.schema import USER_TYPE

# A create racing another for the same email (the account) or userName (the member): a 409, as if checked.
_CREATE_UNIQUES: Final = frozenset({"users", "memberships"})

# The import's per-POST reads, built once (bound parameters, cache keys memoized).
_NAME_TAKEN: Final = select(Membership.id).where(
    Membership.org_id == bindparam("org_id"), Membership.user_name == bindparam("user_name")
)
_OUTSIDE_DOMAINS: Final = select(Organization.scim_outside_domains).where(
    Organization.id == bindparam("org_id")
)
# A create's three reads in one: the org's setting, whether the userName is taken, and the live account of
# the email (``AccountService.find_by_email``'s condition), if any.
_CREATE_CHECKS: Final = select(
    Organization.scim_outside_domains,
    _NAME_TAKEN.where(Membership.org_id == Organization.id).exists(),
    select(User.id).where(User.email == bindparam("email"), User.deleted_at.is_(None)).scalar_subquery(),
).where(Organization.id == bindparam("org_id"))

_CHECKS_READ: Final = PrebuiltRead(_CREATE_CHECKS)


class ScimService:
    def __init__(
        self,
        session: Session,
        clock: Clock,
        audit: AuditRecorder,
        *,
        members: MemberService,
        accounts: AccountService,
        seats: SeatService,
        mappings: GroupMappingService,
        domains: VerifiedDomains | None = None,
    ) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit
        self.members = members
        self.accounts = accounts
        self.seats = seats
        self.mappings = mappings
        self.domains = domains

    # --- users -------------------------------------------------------------------------------------------
    def _member(self, org_id: str, member_id: str) -> tuple[Membership, User]:
        try:
            return self.members.read(org_id, member_id)
        except NotFound:
            raise NotFound(f"User {member_id} not found") from None

    def user_row(self, member: Membership, user: User) -> UserRow:
        groups = self.session.execute(
            select(ScimGroup.id, ScimGroup.display_name)
            .join(ScimGroupMember, ScimGroupMember.group_id == ScimGroup.id)
            .where(ScimGroupMember.member_id == member.id)
            .order_by(ScimGroup.id)
        ).all()
        return self._row(member, user, [(g, n) for g, n in groups])

    @staticmethod
    def _row(member: Membership, user: User, groups: Sequence[tuple[str, str]]) -> UserRow:
        return member_row(member, user.email, groups)

    def get_user(self, org_id: str, member_id: str) -> UserRow:
        return self.user_row(*self._member(org_id, member_id))

    def list_users(self, org_id: str, query: ListQuery) -> Page:
        return list_users(self.session, org_id, query)

    def _user_name_taken(self, org_id: str, folded: str, except_id: str) -> bool:
        """Another member of the org has ``folded`` (a create asks in ``_CREATE_CHECKS``)."""
        stmt = _NAME_TAKEN.where(Membership.id != except_id)
        return self.session.scalar(stmt, {"org_id": org_id, "user_name": folded}) is not None

    def _check_domains(self, org_id: str, fields: UserFields, setting: str | None = None) -> None:
        """The org's ``scim_outside_domains`` setting (read here unless given): with ``refuse``, a userName
        or email outside the org's verified domains (``VerifiedDomains.email_in_verified_domain``: the org
        holds the most specific verified domain covering it) is 400 invalidValue, naming the address.
        ``accept`` (the default) checks nothing."""
        if setting is None:
            setting = self.session.scalar(_OUTSIDE_DOMAINS, {"org_id": org_id})  # one column, not the org
        if setting != "refuse":
            return
        addresses = [fields.user_name] if looks_like_email(fields.user_name) else []
        for entry in fields.attributes.get("emails") or []:
            value = entry.get("value") if isinstance(entry, Mapping) else None
            if isinstance(value, str) and looks_like_email(value.strip()):
                addresses.append(value.strip())
        for address in dict.fromkeys(a.casefold() for a in addresses):
            if self.domains is None or not self.domains.email_in_verified_domain(org_id, address):
                raise InvalidValue(
                    f"'{address}' is outside this organisation's verified domains, and the organisation "
                    "refuses such users (its setting scim_outside_domains is 'refuse').",
                    address=address,
                )

    def create_user(
        self,
        org_id: str,
        body: Mapping[str, Any],
        principal: Principal,
        then: Callable[[UserRow], object] | None = None,
    ) -> UserRow:
        """A new member (and account, if the address has none). The events are linked into the org's chain
        when the writes are done (``AuditRecorder.linked_at_end``), so an import's creates do not queue
        behind each other for the whole request: what the chain lock ordered here, the unique indexes on the
        account's email and the member's userName settle, and a create that loses such a race is a 409 like
        the check's. A create of an inactive user suspends it at once, which orders seat rows: it takes the
        chain first, as every seat change does.

        On PostgreSQL the checks are read ahead of the transaction, and the closing block's statement is
        then usually the whole transaction and commits itself (``OneStatement.execute``'s ``alone``):
        ``then`` (the caller's rendering of the resource) is called with the new row before that
        statement, so that a failure there still leaves nothing written."""
        fields = user_fields(body, USER_TYPE)
        if not fields.active:
            self.audit.lock_chain(org_id)
        folded = fields.user_name.casefold()
        checks = self._create_checks(
            {"org_id": org_id, "user_name": folded, "email": normalize_email(fields.email)}
        )
        # (no row: the org was deleted meanwhile, and its foreign key refuses the member)
        setting, taken, account = checks if checks is not None else (None, False, None)
        self._check_domains(org_id, fields, setting)
        if taken:
            raise Conflict(f"A user with userName '{fields.user_name}' already exists.")
        try:
            with self.audit.linked_at_end(closing=True):  # the views commit right after a create
                new_account = checks is not None and account is None  # no live account of the email
                row = self._create_user(org_id, fields, folded, principal, new_account=new_account)
                if then is not None:
                    then(row)
                return row
        except IntegrityError as exc:
            if unique_violation(exc) not in _CREATE_UNIQUES:
                raise
            raise Conflict(
                f"A user with userName '{fields.user_name}' or email {fields.email} was created meanwhile."
            ) from None

    def _create_checks(self, params: dict[str, Any]) -> Any:
        """``_CREATE_CHECKS``' row, on the session's connection (Core: a read of columns needs none of the
        ORM's execution around it). On SQLite, before the session's transaction has begun, on a read
        snapshot of its own instead: the session's would begin as the writer (``BEGIN IMMEDIATE`` through
        the writer gate, app/sqlite_writer.py), and a create would then hold the one writer's turn for all of
        its work, where with its rows held (``linked_at_end(closing=True)``) it begins at the chain head's
        read. What the snapshot says may be stale by then, as on PostgreSQL (whose checks lock nothing
        either): the unique indexes settle a race, and the create is a 409."""
        bind = self.session.get_bind()
        if isinstance(bind, Engine) and bind.dialect.name == "sqlite" and not self.session.in_transaction():
            with bind.connect() as conn:
                reader = conn.execution_options(**read_only_options(bind.dialect.name))
                return reader.execute(_CREATE_CHECKS, params).one_or_none()
        conn = self.session.connection()
        if conn.dialect.name == "postgresql":  # prebuilt, on the driver's cursor (app/prebuilt_read.py)
            rows = _CHECKS_READ.on(conn, params, ahead=True)
            return rows[0] if rows else None
        return conn.execute(_CREATE_CHECKS, params).one_or_none()

    def _create_user(
        self, org_id: str, fields: UserFields, folded: str, principal: Principal, *, new_account: bool
    ) -> UserRow:
        name = _display_name(fields.attributes)
        if new_account:  # the checks found no account of the email: no second read
            user, created = self.accounts.create(fields.email, name, org_id=org_id), True
        else:
            user, created = self.accounts.get_or_create(fields.email, name, org_id=org_id)
        try:
            member = self.members.add(
                org_id,
                user,
                MEMBER,
                source="scim",
                new_account=created,
                user_name=folded,
                external_id=fields.external_id,
                attributes=dict(fields.attributes),
            )
        except AlreadyMember:
            raise Conflict(f"The account {fields.email} is already a member of this organisation.") from None
        self.audit.record(
            AuditAction.SCIM_USER_PROVISIONED,
            org_id=org_id,
            targets=[Target("member", member.id), Target("user", user.id, user.email)],
            data={
                "user_id": user.id,
                "user_name": fields.user_name,
                "external_id": fields.external_id,
                "active": fields.active,
                "account_created": created,
            },
        )
        if not fields.active:
            self._deactivate(member, principal)
        return self._row(member, user, ())  # a new member is in no group yet

    def replace_user(
        self, org_id: str, member_id: str, body: Mapping[str, Any], principal: Principal, version: str | None
    ) -> UserRow:
        self.audit.lock_chain(org_id)
        member, user = self._member(org_id, member_id)
        check_version(self._row(member, user, ()), version)
        fields = user_fields(body, USER_TYPE)
        self._check_domains(org_id, fields)
        folded = fields.user_name.casefold()
        if folded != member.user_name and self._user_name_taken(org_id, folded, member.id):
            raise Conflict(f"A user with userName '{fields.user_name}' already exists.")
        changed: list[str] = []
        changes: dict[str, Any] = {}
        if folded != member.user_name:
            changes["user_name"] = {"before": member.user_name, "after": folded}
            changed.append("userName")
            member.user_name = folded
        if fields.external_id != member.external_id:
            changes["external_id"] = {"before": member.external_id, "after": fields.external_id}
            changed.append("externalId")
            member.external_id = fields.external_id
        before = member.attributes or {}
        changed += sorted(
            k for k in set(before) | set(fields.attributes) if before.get(k) != fields.attributes.get(k)
        )
        if before != fields.attributes:
            member.attributes = fields.attributes
        if changed:
            member.updated_at = self.clock.now()
            self.session.flush()
            self.audit.record(
                AuditAction.SCIM_USER_UPDATED,
                org_id=org_id,
                targets=[Target("member", member.id), Target("user", user.id, user.email)],
                changes=changes or None,
                data={"user_id": user.id, "attributes": changed},
            )
        active = member.status == "active"
        if fields.active != active:
            if fields.active:
                self._reactivate(member, principal)
            else:
                self._deactivate(member, principal)
        return self.user_row(member, user)

    def patch_user(
        self,
        org_id: str,
        member_id: str,
        body: Mapping[str, Any],
        principal: Principal,
        version: str | None,
        base_url: str,
    ) -> UserRow:
        operations = patch.parse_operations(body)
        row = self.get_user(org_id, member_id)
        check_version(row, version)
        current = user_resource(row, base_url)
        after = patch.apply(current, operations, USER_TYPE)
        return self.replace_user(org_id, member_id, after, principal, None)

    def _deactivate(self, member: Membership, principal: Principal) -> None:
        seat = member.seat_type
        self.seats.release(member, reason="member_suspended")
        self.members.update(member.org_id, member.id, principal, status="suspended")
        self.audit.record(
            AuditAction.SCIM_USER_DEACTIVATED,
            org_id=member.org_id,
            targets=[Target("member", member.id), Target("user", member.user_id)],
            data={"user_id": member.user_id, "seat_released": seat},
        )

    def _reactivate(self, member: Membership, principal: Principal) -> None:
        self.members.update(member.org_id, member.id, principal, status="active")
        seat_type, reason = self.mappings.reseat(member)
        self.audit.record(
            AuditAction.SCIM_USER_REACTIVATED,
            org_id=member.org_id,
            targets=[Target("member", member.id), Target("user", member.user_id)],
            data={"user_id": member.user_id, "seat_type": seat_type, "reason": reason},
        )

    def delete_user(self, org_id: str, member_id: str, principal: Principal, version: str | None) -> None:
        self.audit.lock_chain(org_id)
        member, user = self._member(org_id, member_id)
        check_version(self._row(member, user, ()), version)
        self.audit.record(
            AuditAction.SCIM_USER_DELETED,
            org_id=org_id,
            targets=[Target("member", member.id), Target("user", user.id, user.email)],
            data={"user_id": user.id, "user_name": member.user_name or user.email},
        )
        self.session.execute(delete(ScimGroupMember).where(ScimGroupMember.member_id == member.id))
        self.members.remove(org_id, member.id, principal)


def _display_name(attributes: Mapping[str, Any]) -> str | None:
    name = attributes.get("displayName")
    if isinstance(name, str) and name:
        return name[:200]
    parts = attributes.get("name") or {}
    joined = " ".join(p for p in (parts.get("givenName"), parts.get("familyName")) if isinstance(p, str))
    return joined[:200] or None


def check_version(row: UserRow | GroupRow, version: str | None) -> None:
    """If-Match (RFC 7644 §3.14): ``*`` or the current version, else 412."""
    if version is None:
        return
    wanted = {v.strip() for v in version.split(",")}
    current = version_of(row.updated_at)
    if "*" in wanted or current in wanted or current.removeprefix("W/") in wanted:
        return
    raise PreconditionFailed("The resource changed since that version was read (If-Match).")


__all__ = ["InvalidValue", "ScimService", "check_version"]
