"""The event contract: for every :class:`AuditAction`, when it fires and what its ``data.details`` holds.

``scripts/gen_event_contract.py`` turns this table into one JSON Schema per event type
(``docs/events/schemas/tenantry.<aggregate>.<action>.v1.json``), the CloudEvents envelope schema and
``docs/asyncapi.yaml``; a test fails when an action has no entry or the files are stale. Pure data.

Field shorthand in ``details``: ``"string"``, ``"integer"``, ``"boolean"``, ``"datetime"``, ``"string[]"``; a
trailing ``?`` means the value may be null, a trailing ``~`` that the field may be absent (otherwise it is
always present). Producers may add fields (consumers must ignore unknown ones); removing or retyping one
is a breaking change and needs ``.v2``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.audit.catalogue import AuditAction


@dataclass(frozen=True)
class EventContract:
    fires: str  # when the event is recorded, for the docs and the AsyncAPI summary
    details: dict[str, str] = field(default_factory=dict)
    targets: tuple[str, ...] = ()  # target types, in order
    changes: tuple[str, ...] = ()  # fields whose before/after may appear in ``changes``
    failure: bool = False  # may be recorded with outcome "failure"


_FAILURE = {
    "count": "integer",
    "aggregated": "boolean~",
    "credential_prefix": "string~",
    "method": "string~",
    "path": "string~",
    "window_start": "datetime~",
    "window_end": "datetime~",
    "first_event_id": "string~",
}
_SSO_CONNECTION = {
    "connection_id": "string",
    "type": "string",
    "name": "string",
    "enabled": "boolean",
    "default_role": "string",
    "idp_entity_id": "string?",
}
_SEAT_MEMBER = {"seat_type": "string", "member_id": "string", "user_id": "string", "reason": "string"}

CONTRACT: dict[AuditAction, EventContract] = {
    AuditAction.ORG_CREATED: EventContract(
        "An organisation is created (platform key or `tenantry orgs create`).",
        targets=("org",),
        changes=(
            "name",
            "audit_logs_enabled",
            "audit_retention_days",
            "sso_enforced",
            "auto_join",
            "scim_outside_domains",
        ),
    ),
    AuditAction.ORG_UPDATED: EventContract(
        "An organisation's name or settings change (PATCH /v1/orgs/{org}); only changed fields appear. "
        "Also recorded by Tenantry when the org loses its last verified domain: SSO enforcement and "
        "auto-join are turned off, with `reason` domain_unverified or domain_deleted.",
        {"reason": "string~"},
        targets=("org",),
        changes=(
            "name",
            "audit_logs_enabled",
            "audit_retention_days",
            "sso_enforced",
            "auto_join",
            "scim_outside_domains",
        ),
    ),
    AuditAction.ORG_DELETED: EventContract(
        "An organisation is deleted: members end (seats freed), pending invitations, keys, tokens and "
        "sessions are revoked.",
        {"members_ended": "integer", "invitations_revoked": "integer", "domains_released": "integer~"},
        targets=("org",),
    ),
    AuditAction.API_KEY_CREATED: EventContract(
        "An API key is issued (the key itself is never logged, only its display prefix).",
        {"kind": "string", "role": "string?", "prefix": "string"},
        targets=("api_key",),
    ),
    AuditAction.API_KEY_REVOKED: EventContract("An API key is revoked.", targets=("api_key",)),
    AuditAction.SCIM_TOKEN_CREATED: EventContract(
        "A SCIM bearer token is issued for the org's IdP (only its display prefix is logged).",
        {"prefix": "string"},
        targets=("scim_token",),
    ),
    AuditAction.SCIM_TOKEN_REVOKED: EventContract("A SCIM token is revoked.", targets=("scim_token",)),
    AuditAction.USER_CREATED: EventContract(
        "A global account is created (first invitation, SCIM or SSO sign-in of that email).",
        targets=("user",),
    ),
    AuditAction.USER_DELETED: EventContract(
        "An account is deleted (DELETE /v1/me or by an operator): memberships end, email and name erased, "
        "and so are its personal values in the audit log (keys destroyed; events from before sealing erased "
        "in place and attested by `redacted_events` and `redactions_digest`). A consumer of the bus erases "
        "its own copies of the user's data on this event.",
        {
            "initiated_by": "string",
            "org_ids": "string[]",
            "memberships_ended": "integer",
            "sessions_ended": "integer",
            "erased": "string[]",
            "redacted_events": "integer~",
            "redactions_digest": "string~",
        },
        targets=("user",),
    ),
    AuditAction.MEMBER_ADDED: EventContract(
        "A user becomes a member of the org (invitation, SCIM, SSO just-in-time, verified domain).",
        {"user_id": "string", "role": "string", "source": "string"},
        targets=("member", "user"),
    ),
    AuditAction.MEMBER_INVITED: EventContract(
        "An invitation is created and mailed (the invitation token is never logged).",
        {
            "invitation_id": "string",
            "email": "string",
            "role": "string",
            "seat_type": "string?",
            "expires_at": "datetime",
            "token_returned": "boolean~",
        },
        targets=("invitation",),
    ),
    AuditAction.MEMBER_ROLE_CHANGED: EventContract(
        "A member's role changes.", {"user_id": "string"}, targets=("member", "user"), changes=("role",)
    ),
    AuditAction.MEMBER_REMOVED: EventContract(
        "A membership ends (removal, account deletion, org deletion); a seat held is released with it.",
        {"user_id": "string", "role": "string", "seat_type": "string?", "reason": "string"},
        targets=("member", "user"),
    ),
    AuditAction.MEMBER_SUSPENDED: EventContract(
        "A member is suspended; their sessions in the org end.",
        {"user_id": "string", "role": "string", "sessions_ended": "integer"},
        targets=("member", "user"),
        changes=("status",),
    ),
    AuditAction.MEMBER_REACTIVATED: EventContract(
        "A suspended member is reactivated.",
        {"user_id": "string", "role": "string", "sessions_ended": "integer"},
        targets=("member", "user"),
        changes=("status",),
    ),
    AuditAction.INVITATION_ACCEPTED: EventContract(
        "An invitation is accepted: a new account is created (the mailed token alone) or an existing one, "
        "signed in with proof, joins (`account`: created or existing); the membership starts.",
        {"member_id": "string", "role": "string", "seat_type": "string?", "account": "string~"},
        targets=("invitation", "member", "user"),
    ),
    AuditAction.INVITATION_REVOKED: EventContract(
        "A pending invitation is revoked.", targets=("invitation",), changes=("status",)
    ),
    AuditAction.INVITATION_RESENT: EventContract(
        "A pending invitation is mailed again with a new token and expiry.",
        {"token_returned": "boolean~"},
        targets=("invitation",),
        changes=("expires_at",),
    ),
    AuditAction.INVITATION_ACCEPT_FAILED: EventContract(
        "An attempt to accept a known invitation is refused (used, expired, revoked, an existing account "
        "not signed in, another account's session, a seat limit). Aggregated per minute like auth.failed; "
        "only the token's display prefix is logged.",
        {**_FAILURE, "status": "integer~"},
        targets=("invitation",),
        failure=True,
    ),
    AuditAction.SEAT_ASSIGNED: EventContract(
        "A member takes a seat of a type (assignment, invitation, SCIM, SSO, approved request).",
        {**_SEAT_MEMBER, "used": "integer", "limit": "integer"},
        targets=("member", "user"),
        changes=("seat_type",),
    ),
    AuditAction.SEAT_UNASSIGNED: EventContract(
        "A member's seat is released (unassignment, switch of type, removal of the member).",
        _SEAT_MEMBER,
        targets=("member", "user"),
        changes=("seat_type",),
    ),
    AuditAction.SEAT_TRANSFERRED: EventContract(
        "A seat moves from one member to another in one transaction; the pool's count is unchanged.",
        {
            "seat_type": "string",
            "from_member": "string",
            "to_member": "string",
            "from_user": "string",
            "to_user": "string",
        },
        targets=("member", "member"),
    ),
    AuditAction.SEAT_LIMIT_CHANGED: EventContract(
        "Billing sets a pool's limit (PUT /v1/orgs/{org}/seats/{seat_type}); lowering it evicts nobody.",
        {"seat_type": "string", "limit": "integer", "used": "integer", "over_limit": "boolean"},
        targets=("seat_pool",),
        changes=("limit",),
    ),
    AuditAction.SEAT_REQUESTED: EventContract(
        "A member asks for a seat.",
        {"seat_type": "string", "member_id": "string", "user_id": "string"},
        targets=("seat_request", "member"),
    ),
    AuditAction.SEAT_REQUEST_APPROVED: EventContract(
        "An admin approves a seat request (the seat itself comes as seat.assigned).",
        {"seat_type": "string", "member_id": "string", "seat_assigned": "boolean"},
        targets=("seat_request", "member"),
        changes=("status",),
    ),
    AuditAction.SEAT_REQUEST_DENIED: EventContract(
        "An admin denies a seat request.",
        {"seat_type": "string", "member_id": "string", "reason": "string?"},
        targets=("seat_request", "member"),
        changes=("status",),
    ),
    AuditAction.SESSION_ENDED: EventContract(
        "A member session ends: `reason` logout, sso_logout (single logout we started) or idp_logout (the "
        "IdP's LogoutRequest).",
        {"reason": "string"},
        targets=("session", "user"),
    ),
    AuditAction.SESSION_STARTED: EventContract(
        "A member signs in and a session opens (POST /sso/email/verify for `email_code`); `break_glass` is "
        "true when an owner used a code although the org enforces SSO (session.break_glass follows).",
        {"method": "string", "account_proof": "string", "break_glass": "boolean", "joined": "boolean"},
        targets=("session", "user"),
    ),
    AuditAction.SESSION_BREAK_GLASS: EventContract(
        "An owner signed in by email code although the org enforces SSO for the address's verified domain: "
        "the audited break-glass path, so that a broken IdP never locks the owners out.",
        {"method": "string", "email_domain": "string", "role": "string"},
        targets=("session", "user"),
    ),
    AuditAction.SIGNING_KEY_ROTATED: EventContract(
        "The next access-token signing key (published since the last rotation) becomes current and a new "
        "next key is published (platform chain). `reason`: first_use, scheduled, manual or current_revoked. "
        "The previous key stays published until its tokens have expired.",
        {
            "kid": "string",
            "previous_kid": "string?",
            "next_kid": "string",
            "reason": "string",
            "previous_published_until": "string?",
        },
        targets=("signing_key",),
    ),
    AuditAction.SIGNING_KEY_RETIRED: EventContract(
        "A previous signing key leaves /.well-known/jwks.json: every token it signed has expired.",
        {"kid": "string"},
        targets=("signing_key",),
    ),
    AuditAction.SIGNING_KEY_REVOKED: EventContract(
        "A signing key is revoked (`tenantry keys revoke`): tokens it signed are refused from now on and it "
        "leaves the JWKS; `state` is what it was (next, current, previous, retired). A revoked current key "
        "is replaced by the next one, a revoked next key by a new one.",
        {"kid": "string", "state": "string"},
        targets=("signing_key",),
    ),
    AuditAction.ROLE_CREATED: EventContract(
        "A custom role is created in the org.",
        {"name": "string", "permissions": "string[]"},
        targets=("role",),
    ),
    AuditAction.ROLE_UPDATED: EventContract(
        "A custom role's description or permissions change.",
        targets=("role",),
        changes=("description", "permissions"),
    ),
    AuditAction.ROLE_DELETED: EventContract("A custom role no one uses is deleted.", targets=("role",)),
    AuditAction.AUTH_FAILED: EventContract(
        "A request is refused (401) with a credential Tenantry knows for this org (a revoked or expired key, "
        "session or access token), or a sign-in by email code into this org is refused (wrong, expired or "
        "used code, SSO enforced, not a member; `login_method` email_code). The first such failure per actor "
        "and reason in a minute is recorded at once (count 1); repeats in that minute become one summary "
        "event (aggregated, count = repeats) once the minute is over. Only the credential's display prefix "
        "is logged, never the credential.",
        {**_FAILURE, "login_method": "string~"},
        failure=True,
    ),
    AuditAction.AUTHZ_DENIED: EventContract(
        "A request by a member of this org is refused (403) for a missing permission; aggregated per "
        "minute like auth.failed.",
        {**_FAILURE, "permission": "string~", "role": "string?~"},
        failure=True,
    ),
    AuditAction.DOMAIN_CLAIMED: EventContract(
        "An org claims a domain (POST /v1/orgs/{org}/domains); it stays pending until its TXT record "
        "is seen.",
        {"domain": "string", "record_name": "string"},
        targets=("domain",),
    ),
    AuditAction.DOMAIN_VERIFIED: EventContract(
        "The domain's TXT record was found: the org now holds the domain and its subdomains.",
        {"domain": "string", "record_name": "string", "previous_status": "string"},
        targets=("domain",),
        changes=("status",),
    ),
    AuditAction.DOMAIN_VERIFICATION_FAILED: EventContract(
        "A verification attempt did not find the record; `reason` is nxdomain, no_txt_record, "
        "token_mismatch, timeout or servfail (also the outcome's reason).",
        {"domain": "string", "reason": "string", "status": "string"},
        targets=("domain",),
        failure=True,
    ),
    AuditAction.DOMAIN_RECHECK_FAILING: EventContract(
        "A re-verification of a verified domain did not find its record (timeouts and SERVFAIL never "
        "count): the grace period starts and the owners are mailed.",
        {"domain": "string", "reason": "string", "failing_since": "datetime", "unverify_after": "datetime"},
        targets=("domain",),
    ),
    AuditAction.DOMAIN_RECHECK_RECOVERED: EventContract(
        "The record of a domain in its grace period was found again: the domain stays verified.",
        {"domain": "string", "failing_since": "datetime"},
        targets=("domain",),
    ),
    AuditAction.DOMAIN_UNVERIFIED: EventContract(
        "The record stayed missing for the whole grace period: the domain is unverified. `withdrawn` "
        "names the org settings turned off because the org holds no verified domain any more "
        "(sso_enforced, auto_join).",
        {"domain": "string", "reason": "string", "failing_since": "datetime", "withdrawn": "string[]"},
        targets=("domain",),
        changes=("status",),
    ),
    AuditAction.DOMAIN_DELETED: EventContract(
        "An org releases a domain (DELETE /v1/orgs/{org}/domains/{id}); `withdrawn` as for "
        "domain.unverified.",
        {"domain": "string", "status": "string", "withdrawn": "string[]"},
        targets=("domain",),
    ),
    # -- data extract jobs (app/extracts/) --
    AuditAction.EXTRACT_CREATED: EventContract(
        "An extract job is requested (POST /v1/orgs/{org}/extracts); it waits queued for a worker.",
        {
            "source": "string",
            "format": "string",
            "compression": "string",
            "from": "datetime",
            "to": "datetime",
        },
        targets=("extract",),
        changes=("status",),
    ),
    AuditAction.EXTRACT_STARTED: EventContract(
        "A worker takes the job: its first start, a resume, or a takeover after a worker's lease expired "
        "(`takeover` true; the status stays running).",
        {
            "worker": "string",
            "takeover": "boolean",
            "attempt": "integer",
            "rows_total": "integer",
            "rows_written": "integer",
        },
        targets=("extract",),
        changes=("status",),
    ),
    AuditAction.EXTRACT_CANCEL_REQUESTED: EventContract(
        "Cancel is asked of a running job; it stops at its next checkpoint (then extract.cancelled).",
        {"rows_written": "integer"},
        targets=("extract",),
    ),
    AuditAction.EXTRACT_CANCELLED: EventContract(
        "The job stops: at once when it was queued, at its next checkpoint when it was running.",
        {"rows_written": "integer", "rows_total": "integer"},
        targets=("extract",),
        changes=("status",),
    ),
    AuditAction.EXTRACT_RESUMED: EventContract(
        "A cancelled or failed job is queued again; it goes on from its last checkpoint.",
        {"rows_written": "integer"},
        targets=("extract",),
        changes=("status",),
    ),
    AuditAction.EXTRACT_FAILED: EventContract(
        "The job stopped on an error (kept in `error`); it can be resumed.",
        {"rows_written": "integer", "rows_total": "integer", "error": "string"},
        targets=("extract",),
        changes=("status",),
    ),
    AuditAction.EXTRACT_SUCCEEDED: EventContract(
        "Every file and the manifest are stored; the requester is mailed. Files are deleted at `expires_at`.",
        {"rows_written": "integer", "rows_total": "integer", "files": "integer", "expires_at": "datetime"},
        targets=("extract",),
        changes=("status",),
    ),
    AuditAction.EXTRACT_SCHEDULE_SET: EventContract(
        "The org's monthly extract is set or changed (PUT /v1/orgs/{org}/extract-schedule): on the first "
        "days of each month the worker queues an extract of the previous month.",
        {"format": "string", "compression": "string", "notify_email": "string?"},
        targets=("org",),
        changes=("format", "compression", "notify_email"),
    ),
    AuditAction.EXTRACT_SCHEDULE_DELETED: EventContract(
        "The org's monthly extract is turned off.", targets=("org",)
    ),
    # Checkpoint signing keys (app/audit/keyring.py), on the platform chain.
    AuditAction.AUDIT_KEY_ROTATED: EventContract(
        "A new checkpoint signing key signs from now on (`tenantry audit keys rotate`); the previous one is "
        "retired (its checkpoints still verify).",
        {"key_id": "string", "previous_key_ids": "string[]"},
        targets=("audit_key",),
    ),
    AuditAction.AUDIT_KEY_REVOKED: EventContract(
        "A checkpoint signing key is revoked (`tenantry audit keys revoke`): its checkpoints anchor nothing "
        "any more.",
        {"key_id": "string", "reason": "string"},
        targets=("audit_key",),
        changes=("status",),
    ),
    # SCIM provisioning (app/scim/service.py): the IdP's view of the same changes members and seats record.
    AuditAction.SCIM_USER_PROVISIONED: EventContract(
        "An identity provider creates a user (POST /scim/v2/Users): the account is found or created and "
        "joins the org; `account_created` says which.",
        {
            "user_id": "string",
            "user_name": "string",
            "external_id": "string?",
            "active": "boolean",
            "account_created": "boolean",
        },
        targets=("member", "user"),
    ),
    AuditAction.SCIM_USER_UPDATED: EventContract(
        "An identity provider changes a user's attributes (PUT or PATCH /scim/v2/Users/{id}); `attributes` "
        "names the SCIM attributes that changed.",
        {"user_id": "string", "attributes": "string[]"},
        targets=("member", "user"),
        changes=("user_name", "external_id"),
    ),
    AuditAction.SCIM_USER_DEACTIVATED: EventContract(
        "An identity provider sets active=false: the membership is suspended, its sessions end and its "
        "seat (`seat_released`, null when none) is freed.",
        {"user_id": "string", "seat_released": "string?"},
        targets=("member", "user"),
    ),
    AuditAction.SCIM_USER_REACTIVATED: EventContract(
        "An identity provider sets active=true again: the membership is active, without a seat until one "
        "is assigned (`seat_type` is null and `reason` says why).",
        {"user_id": "string", "seat_type": "string?", "reason": "string"},
        targets=("member", "user"),
    ),
    AuditAction.SCIM_USER_DELETED: EventContract(
        "An identity provider deletes a user (DELETE /scim/v2/Users/{id}): the membership ends through the "
        "member service (member.removed follows); the global account stays.",
        {"user_id": "string", "user_name": "string"},
        targets=("member", "user"),
    ),
    AuditAction.SCIM_GROUP_CREATED: EventContract(
        "An identity provider pushes a new group (POST /scim/v2/Groups).",
        {"display_name": "string", "external_id": "string?", "members": "integer"},
        targets=("group",),
    ),
    AuditAction.SCIM_GROUP_RENAMED: EventContract(
        "A group's displayName or externalId changes (PUT or PATCH /scim/v2/Groups/{id}).",
        {"display_name": "string"},
        targets=("group",),
        changes=("display_name", "external_id"),
    ),
    AuditAction.SCIM_GROUP_DELETED: EventContract(
        "An identity provider deletes a group (DELETE /scim/v2/Groups/{id}); its memberships go with it.",
        {"display_name": "string", "members": "integer"},
        targets=("group",),
    ),
    AuditAction.SCIM_GROUP_MEMBERS_ADDED: EventContract(
        "Members join a group (POST, PUT or PATCH on /scim/v2/Groups); ids of other orgs or unknown ids "
        "are not stored and not listed.",
        {"display_name": "string", "member_ids": "string[]"},
        targets=("group",),
    ),
    AuditAction.SCIM_GROUP_MEMBERS_REMOVED: EventContract(
        "Members leave a group (PUT or PATCH on /scim/v2/Groups/{id}).",
        {"display_name": "string", "member_ids": "string[]"},
        targets=("group",),
    ),
    AuditAction.SCIM_GROUP_MAPPING_CREATED: EventContract(
        "An admin maps an IdP group to a role and/or a seat type (POST /v1/orgs/{org}/group-mappings); it "
        "applies to the group's current members at once.",
        {"group_id": "string", "role": "string?", "seat_type": "string?"},
        targets=("group_mapping", "group"),
    ),
    AuditAction.SCIM_GROUP_MAPPING_DELETED: EventContract(
        "A group mapping is deleted; roles and seats it gave stay until changed.",
        {"group_id": "string", "role": "string?", "seat_type": "string?"},
        targets=("group_mapping", "group"),
    ),
    AuditAction.SCIM_GROUP_MAPPING_APPLIED: EventContract(
        "A member joined or left a mapped group (`change`: joined or left) and the mapping was applied in "
        "the same transaction (SCIM, or an SSO login asserting the group by name). `role_outcome`: "
        "granted, restored, unchanged, owner_kept or refused; `seat_outcome`: assigned, already_held, "
        "released, kept, member_suspended, none, or shortfall when "
        "the pool is full (the SCIM request still succeeds, without the seat).",
        {
            "member_id": "string",
            "user_id": "string",
            "group_id": "string",
            "change": "string",
            "role": "string?",
            "role_outcome": "string",
            "seat_type": "string?",
            "seat_outcome": "string",
        },
        targets=("member", "group"),
    ),
    AuditAction.SSO_CONNECTION_CREATED: EventContract(
        "An admin creates an SSO connection (POST /v1/orgs/{org}/sso-connections); `source` says where the "
        "IdP settings came from (settings, metadata_url).",
        {**_SSO_CONNECTION, "source": "string"},
        targets=("sso_connection",),
    ),
    AuditAction.SSO_CONNECTION_UPDATED: EventContract(
        "A connection's settings change (PATCH, or the worker's metadata refresh with `reason` "
        "metadata_refreshed); only changed fields appear, certificates as SHA-256 fingerprints, an OIDC "
        "client secret as a fingerprint of its sealed value (`oidc_client_secret_sealed`), never itself.",
        {"connection_id": "string", "type": "string", "reason": "string~"},
        targets=("sso_connection",),
        changes=(
            "name",
            "default_role",
            "jit",
            "allow_idp_initiated",
            "require_verified_domain",
            "attribute_map",
            "idp_entity_id",
            "idp_sso_url",
            "idp_sso_binding",
            "idp_slo_url",
            "idp_metadata_url",
            "idp_certs",
            "idp_set_by_owner",
            "oidc_issuer",
            "oidc_client_id",
            "oidc_client_secret_sealed",
            "oidc_scopes",
            "oidc_token_auth_method",
        ),
    ),
    AuditAction.SSO_CONNECTION_DELETED: EventContract(
        "A connection is deleted; its members keep their accounts and memberships.",
        _SSO_CONNECTION,
        targets=("sso_connection",),
    ),
    AuditAction.SSO_CONNECTION_ENABLED: EventContract(
        "A disabled connection is enabled.",
        {"connection_id": "string", "type": "string"},
        targets=("sso_connection",),
        changes=("enabled",),
    ),
    AuditAction.SSO_CONNECTION_DISABLED: EventContract(
        "A connection is disabled: logins through it are refused until it is enabled.",
        {"connection_id": "string", "type": "string"},
        targets=("sso_connection",),
        changes=("enabled",),
    ),
    AuditAction.SSO_CONNECTION_KEYS_ROTATED: EventContract(
        "New SP keys are generated (`uses`: signing, encryption); the previous ones stay published and "
        "decrypt until removed.",
        {"connection_id": "string", "uses": "string[]", "new_key_ids": "string[]"},
        targets=("sso_connection",),
    ),
    AuditAction.SSO_CONNECTION_KEY_REMOVED: EventContract(
        "A previous SP key is removed (the end of a rotation's overlap).",
        {"connection_id": "string", "key_id": "string", "use": "string"},
        targets=("sso_connection",),
    ),
    AuditAction.SSO_CONNECTION_METADATA_REFRESH_FAILED: EventContract(
        "The worker could not refresh a connection's IdP metadata from its URL (the first failure of a "
        "run of failures; `reason`: invalid_url, insecure_url, dns_error, private_address, http_status, "
        "too_large, timeout, tls_error, connect_error, invalid_idp_settings). The last good settings stay.",
        {"connection_id": "string", "metadata_url": "string", "error": "string"},
        targets=("sso_connection",),
        failure=True,
    ),
    AuditAction.SSO_CONNECTION_IDP_CERT_EXPIRING: EventContract(
        "An IdP signing certificate of the connection expires within the warning period (30 days by "
        "default); raised once per certificate set.",
        {"connection_id": "string", "fingerprints": "string[]", "not_after": "datetime"},
        targets=("sso_connection",),
    ),
    AuditAction.SSO_LOGIN_SUCCEEDED: EventContract(
        "A member signed in through SSO; `jit` says the account or membership was created by this login, "
        "`flow` sp_initiated or idp_initiated.",
        {
            "connection_id": "string",
            "member_id": "string",
            "user_id": "string",
            "session_id": "string",
            "flow": "string",
            "jit": "boolean",
            "seat_outcome": "string~",
        },
        targets=("sso_connection", "member", "user"),
    ),
    AuditAction.SSO_LOGIN_FAILED: EventContract(
        "A sign-in through a connection is refused; `reason` names why (a SAML check such as "
        "signature_invalid, replay, audience_mismatch, or email_domain_not_verified, member_suspended, "
        "jit_disabled, connection_disabled, ...). Aggregated per minute like auth.failed.",
        {**_FAILURE, "connection_id": "string~"},
        targets=("sso_connection",),
        failure=True,
    ),
}
