"""The closed catalogue of audit event types. Recording takes this enum, never a free string."""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    ORG_CREATED = "org.created"
    ORG_UPDATED = "org.updated"
    ORG_DELETED = "org.deleted"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    SCIM_TOKEN_CREATED = "scim_token.created"  # noqa: S105 - an event name
    SCIM_TOKEN_REVOKED = "scim_token.revoked"  # noqa: S105 - an event name
    USER_CREATED = "user.created"
    USER_DELETED = "user.deleted"
    MEMBER_ADDED = "member.added"
    MEMBER_INVITED = "member.invited"
    MEMBER_ROLE_CHANGED = "member.role_changed"
    MEMBER_REMOVED = "member.removed"
    INVITATION_ACCEPTED = "invitation.accepted"
    INVITATION_REVOKED = "invitation.revoked"
    INVITATION_RESENT = "invitation.resent"
    INVITATION_ACCEPT_FAILED = "invitation.accept_failed"
    SEAT_ASSIGNED = "seat.assigned"
    SEAT_UNASSIGNED = "seat.unassigned"
    SEAT_TRANSFERRED = "seat.transferred"
    SEAT_LIMIT_CHANGED = "seat.limit_changed"
    SEAT_REQUESTED = "seat.requested"
    SEAT_REQUEST_APPROVED = "seat.request_approved"
    SEAT_REQUEST_DENIED = "seat.request_denied"
    MEMBER_SUSPENDED = "member.suspended"
    MEMBER_REACTIVATED = "member.reactivated"
    SESSION_ENDED = "session.ended"
    # Sign-in by email code (app/sso/email_codes.py); an owner signing in by code despite SSO enforcement.
    SESSION_STARTED = "session.started"
    SESSION_BREAK_GLASS = "session.break_glass"
    # Access-token signing keys (app/tokens/), on the platform chain.
    SIGNING_KEY_ROTATED = "signing_key.rotated"
    SIGNING_KEY_RETIRED = "signing_key.retired"
    SIGNING_KEY_REVOKED = "signing_key.revoked"
    ROLE_CREATED = "role.created"
    ROLE_UPDATED = "role.updated"
    ROLE_DELETED = "role.deleted"
    # Failed logins and refused authorizations, aggregated per minute (app/audit/failures.py).
    AUTH_FAILED = "auth.failed"
    AUTHZ_DENIED = "authz.denied"
    # Domains: claim, DNS TXT verification, re-verification, release (app/domains/).
    DOMAIN_CLAIMED = "domain.claimed"
    DOMAIN_VERIFIED = "domain.verified"
    DOMAIN_VERIFICATION_FAILED = "domain.verification_failed"
    DOMAIN_RECHECK_FAILING = "domain.recheck_failing"
    DOMAIN_RECHECK_RECOVERED = "domain.recheck_recovered"
    DOMAIN_UNVERIFIED = "domain.unverified"
    DOMAIN_DELETED = "domain.deleted"
    # Data extract jobs: every lifecycle transition (app/extracts/).
    EXTRACT_CREATED = "extract.created"
    EXTRACT_STARTED = "extract.started"
    EXTRACT_CANCEL_REQUESTED = "extract.cancel_requested"
    EXTRACT_CANCELLED = "extract.cancelled"
    EXTRACT_RESUMED = "extract.resumed"
    EXTRACT_FAILED = "extract.failed"
    EXTRACT_SUCCEEDED = "extract.succeeded"
    EXTRACT_SCHEDULE_SET = "extract.schedule_set"
    EXTRACT_SCHEDULE_DELETED = "extract.schedule_deleted"
    AUDIT_KEY_ROTATED = "audit_key.rotated"
    AUDIT_KEY_REVOKED = "audit_key.revoked"
    # SCIM provisioning by an identity provider (app/scim/); members and seats record their own events too.
    SCIM_USER_PROVISIONED = "scim_user.provisioned"
    SCIM_USER_UPDATED = "scim_user.updated"
    SCIM_USER_DEACTIVATED = "scim_user.deactivated"
    SCIM_USER_REACTIVATED = "scim_user.reactivated"
    SCIM_USER_DELETED = "scim_user.deleted"
    SCIM_GROUP_CREATED = "scim_group.created"
    SCIM_GROUP_RENAMED = "scim_group.renamed"
    SCIM_GROUP_DELETED = "scim_group.deleted"
    SCIM_GROUP_MEMBERS_ADDED = "scim_group.members_added"
    SCIM_GROUP_MEMBERS_REMOVED = "scim_group.members_removed"
    SCIM_GROUP_MAPPING_CREATED = "scim_group_mapping.created"
    SCIM_GROUP_MAPPING_DELETED = "scim_group_mapping.deleted"
    SCIM_GROUP_MAPPING_APPLIED = "scim_group_mapping.applied"
    # SSO connections and browser logins (app/sso/).
    SSO_CONNECTION_CREATED = "sso_connection.created"
    SSO_CONNECTION_UPDATED = "sso_connection.updated"
    SSO_CONNECTION_DELETED = "sso_connection.deleted"
    SSO_CONNECTION_ENABLED = "sso_connection.enabled"
    SSO_CONNECTION_DISABLED = "sso_connection.disabled"
    SSO_CONNECTION_KEYS_ROTATED = "sso_connection.keys_rotated"
    SSO_CONNECTION_KEY_REMOVED = "sso_connection.key_removed"
    SSO_CONNECTION_METADATA_REFRESH_FAILED = "sso_connection.metadata_refresh_failed"
    SSO_CONNECTION_IDP_CERT_EXPIRING = "sso_connection.idp_cert_expiring"
    SSO_LOGIN_SUCCEEDED = "sso.login_succeeded"
    SSO_LOGIN_FAILED = "sso.login_failed"

    @property
    def aggregate(self) -> str:
        return self.value.split(".", 1)[0]

    @property
    def verb(self) -> str:
        return self.value.split(".", 1)[1]

    @property
    def event_type(self) -> str:
        """The CloudEvents ``type``: ``tenantry.<aggregate>.<action>.v1``."""
        return f"tenantry.{self.value}.v1"
