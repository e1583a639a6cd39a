"""Issuing access tokens from a member's session, and authenticating them for the credential resolver.

Who a token acts as: the org and user it names, with the member's **current** role and status read from the
database on every request, never the ``role`` claim (that claim is for other services, which hold the token
for at most its lifetime). A removed or suspended member, a deleted account or org, an ended session (logout)
or a revoked signing key stops the token at once on every worker, because all of them are read here in one
query. A token acts in its org only: it never proves control of the account (``/v1/me`` and account deletion
need the session itself), and it cannot mint further tokens.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from joserfc.jwk import ECKey
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from app.clock import Clock
from app.credentials.principal import Principal
from app.errors import Forbidden, Unauthenticated
from app.orgs.models import LoginSession, Membership, Organization, User
from app.tokens import access_token
from app.tokens.access_token import AccessClaims, TokenRefused
from app.tokens.keyring import KeyRing, PublicKeys, load_public_jwk
from app.tokens.models import CURRENT, PREVIOUS, SigningKey


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int
    claims: AccessClaims


class AccessTokenRefused(Unauthenticated):
    """A refused access token; ``reason`` is a short code for the audit log."""

    def __init__(self, refused: TokenRefused) -> None:
        super().__init__(refused.detail)
        self.reason = refused.reason


class AccessTokenService:
    def __init__(
        self,
        session: Session,
        clock: Clock,
        keyring: KeyRing,
        public_keys: PublicKeys,
        *,
        issuer: str,
        audience: str,
        ttl: int,
        authz_version: Callable[[str], int | None],
    ) -> None:
        self.session = session
        self.clock = clock
        self.keyring = keyring
        self.public_keys = public_keys
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        self.authz_version = authz_version

    def issue(self, principal: Principal) -> IssuedToken:
        """A token for the caller's session: only a member session mints one (not a token, not a key)."""
        if principal.kind != "user" or principal.user_id is None or principal.org_id is None:
            raise Forbidden("Access tokens are minted from a member's session (tnt_ses_…), not an API key.")
        if principal.token_id is not None:
            raise Forbidden("An access token cannot mint another: use the session it came from.")
        member = self.session.scalars(
            select(Membership).where(
                Membership.org_id == principal.org_id, Membership.user_id == principal.user_id
            )
        ).one()
        login = self.session.get(LoginSession, principal.id)
        material = self.keyring.signing_material()
        now = int(self.clock.now().timestamp())
        # Never outlive the session it comes from (other services cannot see the session end).
        ttl = self.ttl if login is None else max(1, min(self.ttl, int(login.expires_at.timestamp()) - now))
        claims = AccessClaims(
            iss=self.issuer,
            sub=principal.user_id,
            aud=self.audience,
            iat=now,
            exp=now + ttl,
            jti=secrets.token_urlsafe(16),
            org=principal.org_id,
            role=member.role,
            seat=member.seat_type,
            authz_version=int(self.authz_version(principal.org_id) or 0),
            sid=principal.id,
        )
        self.public_keys.forget(material.kid)
        return IssuedToken(access_token.sign(claims, material.key, material.kid), ttl, claims)

    def authenticate(self, token: str) -> Principal:
        try:
            return self._authenticate(token)[1]
        except TokenRefused as refused:
            raise AccessTokenRefused(refused) from None

    def refusal(self, token: str) -> tuple[AccessClaims, str] | None:
        """For a refused token whose signature is ours: its claims and why it was refused (the audit side
        records the refusal in the token's org). None when the token is not ours at all."""
        try:
            self._authenticate(token)
        except _Refused as refused:
            return refused.claims, refused.reason
        except TokenRefused:
            return None
        return None

    def verified_claims(self, token: str) -> AccessClaims:
        """Signature, type, issuer, audience and expiry, without the database checks (tests, tools)."""
        key = self._key(access_token.header_of(token)["kid"])
        payload = access_token.verified_payload(token, key)
        now = int(self.clock.now().timestamp())
        return access_token.check_claims(payload, issuer=self.issuer, audience=self.audience, now=now)

    def _key(self, kid: str) -> ECKey:
        key = self.public_keys.get(kid, load_public_jwk(self.session))
        if key is None:
            raise TokenRefused(
                "unknown_key", "The access token was signed with a key Tenantry does not know."
            )
        return key

    def _authenticate(self, token: str) -> tuple[AccessClaims, Principal]:
        header = access_token.header_of(token)
        key = self._key(header["kid"])
        payload = access_token.verified_payload(token, key)
        now = int(self.clock.now().timestamp())
        claims = access_token.parse_claims(payload)
        try:
            access_token.check_validity(claims, issuer=self.issuer, audience=self.audience, now=now)
        except TokenRefused as refused:
            if refused.reason != "expired":  # not ours (issuer, audience): nobody's refusal to record
                raise
            raise _Refused(claims, refused) from None
        key_state = select(SigningKey.state).where(SigningKey.kid == header["kid"]).scalar_subquery()
        found = self.session.execute(
            select(Membership, User, LoginSession, key_state.label("key_state"))
            .join(User, User.id == Membership.user_id)
            .join(Organization, Organization.id == Membership.org_id)
            .outerjoin(
                LoginSession,
                and_(
                    LoginSession.id == claims.sid,
                    LoginSession.user_id == Membership.user_id,
                    LoginSession.org_id == Membership.org_id,
                ),
            )
            .where(
                Membership.org_id == claims.org,
                Membership.user_id == claims.sub,
                Organization.deleted_at.is_(None),
                User.deleted_at.is_(None),
            )
        ).one_or_none()
        if found is None:
            raise _Refused(claims, TokenRefused("membership_ended", "The token's membership has ended."))
        member, user, login, state = found
        if state not in (CURRENT, PREVIOUS):
            raise _Refused(
                claims, TokenRefused("key_revoked", "The key that signed the access token was revoked.")
            )
        if login is None or login.revoked_at is not None or login.expires_at <= self.clock.now():
            raise _Refused(
                claims, TokenRefused("session_ended", "The session the token was minted from has ended.")
            )
        if member.status != "active":
            raise _Refused(claims, TokenRefused("membership_suspended", "The membership is suspended."))
        principal = Principal(
            "user",
            login.id,
            user.name or user.email,
            org_id=member.org_id,
            role=member.role,  # the current role, not the claim
            user_id=user.id,
            account_proof=None,  # a token acts in its org, never on the account
            token_id=claims.jti,
        )
        return claims, principal


class _Refused(TokenRefused):
    """A refusal of a token whose signature verified: its claims say whose it was."""

    def __init__(self, claims: AccessClaims, refused: TokenRefused) -> None:
        super().__init__(refused.reason, refused.detail)
        self.claims = claims
