"""One credential resolver: every kind of bearer credential, where each is accepted, and the org it binds.

Tenantry has three front doors (``app/frontdoor.py``) and the check API, and each accepts only some kinds:

==================  ======  ==========  =======  =========
kind                ``/v1``  check API   SCIM     ``/sso``
==================  ======  ==========  =======  =========
platform API key    yes     yes         no       no
org API key         yes     yes         no       no
member session      yes     no (403)    no       yes
SCIM token          no      no          yes      no
access token (JWT)  yes     yes         no       no
==================  ======  ==========  =======  =========

The kind is read from the credential's own prefix (``tnt_pk_``, ``tnt_ok_``, ``tnt_ses_``, ``tnt_scim_``; a
JWT starts ``eyJ``), so a SCIM token sent to ``/v1`` is refused as a SCIM token, not misread as a malformed
key. The org a credential acts in comes from its stored row here and nowhere else: views and services
receive the resulting ``Principal``. The member session's cookie is read under ``/sso`` only. An access
token (``app/tokens/``) names its org and user in signed claims; the member's current role and status, the
session it was minted from and its signing key are read from the database on every request, so it acts with
the member's role of now, not the one written in the token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Final

from sqlalchemy import select

from app.audit.recorder import Actor
from app.credentials import secrets
from app.credentials.models import ApiKey, ScimToken
from app.credentials.principal import Principal
from app.credentials.service import CredentialService
from app.errors import AppError, Forbidden, Unauthenticated
from app.orgs.models import LoginSession
from app.orgs.sessions import SessionService

if TYPE_CHECKING:
    from app.tokens.service import AccessTokenService

# The member session's cookie (set by SSO logins): read only under /sso, where pages are served to browsers.
# /v1 takes bearer credentials only, so a cross-site request can never act with a browser's cookie there.
SESSION_COOKIE: Final = "tenantry_session"


class Door(StrEnum):
    """Where a credential is presented."""

    V1 = "/v1"
    CHECK = "the check API"
    SCIM = "/scim/v2"
    SSO = "/sso"


class Kind(StrEnum):
    PLATFORM_KEY = "platform API key"
    ORG_KEY = "org API key"
    SESSION = "member session"
    SCIM_TOKEN = "SCIM token"  # noqa: S105 - a name, not a secret
    ACCESS_TOKEN = "access token"  # noqa: S105


_PREFIXES: Final = (
    (secrets.KINDS["platform"], Kind.PLATFORM_KEY),
    (secrets.KINDS["org"], Kind.ORG_KEY),
    (secrets.KINDS["session"], Kind.SESSION),
    (secrets.KINDS["scim"], Kind.SCIM_TOKEN),
    ("eyJ", Kind.ACCESS_TOKEN),  # a compact JWS: base64url of '{"'
)

ACCEPTED: Final[dict[Door, frozenset[Kind]]] = {
    Door.V1: frozenset({Kind.PLATFORM_KEY, Kind.ORG_KEY, Kind.SESSION, Kind.ACCESS_TOKEN}),
    Door.CHECK: frozenset({Kind.PLATFORM_KEY, Kind.ORG_KEY, Kind.ACCESS_TOKEN}),
    Door.SCIM: frozenset({Kind.SCIM_TOKEN}),
    Door.SSO: frozenset({Kind.SESSION}),
}

_WHERE: Final[dict[Kind, str]] = {
    Kind.PLATFORM_KEY: "under /v1 and by the check API",
    Kind.ORG_KEY: "under /v1 and by the check API",
    Kind.SESSION: "under /v1 and /sso",
    Kind.SCIM_TOKEN: "only under /scim/v2",
    Kind.ACCESS_TOKEN: "under /v1 and by the check API",
}

_EXPECTED: Final[dict[Door, str]] = {
    Door.V1: "an API key (tnt_pk_…, tnt_ok_…), a member session (tnt_ses_…) or an access token (eyJ…)",
    Door.CHECK: "a platform or org API key (tnt_pk_…, tnt_ok_…) or a member's access token (eyJ…)",
    Door.SCIM: "the organisation's SCIM token (tnt_scim_…)",
    Door.SSO: "a member session",
}


def expected_credential(door: Door) -> str:
    return _EXPECTED[door]


def kind_of(token: str) -> Kind | None:
    for prefix, kind in _PREFIXES:
        if token.startswith(prefix):
            return kind
    return None


def refusal_for(kind: Kind, door: Door) -> AppError:
    """The error for a known kind presented at a door that does not take it."""
    detail = f"A {kind} is accepted {_WHERE[kind]}, not by {door}. Send {_EXPECTED[door]}."
    if door is Door.CHECK and kind is Kind.SESSION:
        # A person's session is valid, just not for this service-to-service API.
        return Forbidden("The check API is for services: call it with a platform or org API key.")
    return Unauthenticated(detail, credential_kind=str(kind))


@dataclass(frozen=True)
class CredentialOwner:
    """Whose a refused credential is: the org it is bound to, the actor it stands for, and why it failed."""

    org_id: str
    actor: Actor
    reason: str


class CredentialResolver:
    """Turns a bearer credential presented at a door into a ``Principal``; 401 when it is not valid there."""

    def __init__(
        self,
        credentials: CredentialService,
        sessions: SessionService,
        tokens: AccessTokenService | None = None,
    ) -> None:
        self.credentials = credentials
        self.sessions = sessions
        self.tokens = tokens

    @staticmethod
    def presented(door: Door, authorization: str | None, cookies: Mapping[str, str]) -> str | None:
        """The credential a request presents at ``door``: the bearer token, or under ``/sso`` the session
        cookie."""
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                return value.strip()
        if door is Door.SSO:
            return cookies.get(SESSION_COOKIE) or None
        return None

    def resolve(self, token: str, door: Door) -> Principal:
        kind = kind_of(token)
        if kind is None:
            raise Unauthenticated(f"The credential is malformed. Send {_EXPECTED[door]} as 'Bearer <token>'.")
        if kind not in ACCEPTED[door]:
            raise refusal_for(kind, door)
        if kind in (Kind.PLATFORM_KEY, Kind.ORG_KEY):
            return self.credentials.authenticate_api_key(token)
        if kind is Kind.SESSION:
            return self.sessions.authenticate(token)
        if kind is Kind.SCIM_TOKEN:
            return self.credentials.authenticate_scim_token(token)
        if self.tokens is None:
            raise Unauthenticated("Access tokens are not accepted by this process.")
        return self.tokens.authenticate(token)

    def owner_of(self, token: str) -> CredentialOwner | None:
        """For a credential that was refused (revoked, expired, or sent where it is not taken): the org and
        actor it belongs to, so the refusal can be recorded in that org's log. None for an unknown secret or
        a platform key (no org log to record in). Reads only; the secret is looked up by its hash."""
        kind, digest, session = kind_of(token), secrets.hash_secret(token), self.credentials.session
        if kind is Kind.ACCESS_TOKEN:
            found = self.tokens.refusal(token) if self.tokens is not None else None
            if found is None:
                return None
            claims, reason = found
            return CredentialOwner(claims.org, Actor("user", claims.sub, None), f"access token {reason}")
        if kind is Kind.SESSION:
            row = session.scalars(select(LoginSession).where(LoginSession.token_hash == digest)).one_or_none()
            if row is None:
                return None
            reason = "session revoked" if row.revoked_at is not None else "session expired"
            return CredentialOwner(row.org_id, Actor("user", row.user_id, None), reason)
        if kind is Kind.SCIM_TOKEN:
            scim = session.scalars(select(ScimToken).where(ScimToken.token_hash == digest)).one_or_none()
            if scim is None:
                return None
            reason = "scim token revoked" if scim.revoked_at is not None else "scim token refused"
            return CredentialOwner(
                scim.org_id, Actor("scim_token", scim.id, scim.name or scim.prefix), reason
            )
        if kind is Kind.ORG_KEY:
            key = session.scalars(select(ApiKey).where(ApiKey.key_hash == digest)).one_or_none()
            if key is None or key.org_id is None:
                return None
            reason = "api key revoked" if key.revoked_at is not None else "api key refused"
            return CredentialOwner(key.org_id, Actor("api_key", key.id, key.name or key.prefix), reason)
        return None
