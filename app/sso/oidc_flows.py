"""The OIDC browser flow over a stored connection: start a login, finish it at the callback. No Flask.

Every protocol check is the core's (app/sso/oidc/: state, RFC 9207 ``iss``, the code exchange with the PKCE
verifier, the ID token with the fixed algorithm allowlist, iss/aud/azp/nonce/exp, the JWKS rule); what the
core leaves to its caller is here: the connection's settings, one JWKS cache per connection shared by the
whole process (so "at most one refetch a minute" holds per connection, not per request), the pending
authorization sealed into the browser's transaction cookie, and the identity rules of app/sso/service.py
(domain, JIT, enforcement, groups, session). Any refusal is a ``LoginFailed`` (the answer could not be
accepted) or ``LoginRefused`` (the person may not sign in) with its ``reason``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime

from app.clock import Clock
from app.crypto.sealing import SealBroken, Sealer
from app.sso.attributes import AssertedIdentity
from app.sso.errors import LoginFailed
from app.sso.models import SsoConnection
from app.sso.oidc import (
    JwksCache,
    OidcHttp,
    OidcIdentity,
    OidcRefusal,
    PendingAuthorization,
    RelyingParty,
)
from app.sso.oidc_connections import OidcConnectionService
from app.sso.service import LoginResult, SsoLoginService

_READABLE = {
    "state_mismatch": "This sign-in answer does not match a sign-in this browser started. Start the sign-in "
    "again.",
    "callback_issuer_mismatch": "This sign-in answer comes from another identity provider than the one the "
    "sign-in was started with.",
    "expired": "The identity provider's sign-in token has expired (are the clocks in sync?). Start the "
    "sign-in again.",
    "idp_error": "Your identity provider refused the sign-in.",
    "idp_unreachable": "Your identity provider could not be reached. Try again shortly.",
    "token_error": "Your identity provider did not complete the sign-in. Start the sign-in again.",
    "missing_email": "Your identity provider did not send an email address.",
    "email_not_verified": "Your identity provider has not verified your email address.",
}


def failed(reason: str, detail: str | None = None) -> LoginFailed:
    """The refusal the browser sees: a reason code and a sentence; the core's ``detail`` (which may quote
    what the IdP sent) goes to the audit event and the log only."""
    error = LoginFailed(
        _READABLE.get(reason, "Your identity provider's sign-in answer could not be accepted."), reason=reason
    )
    error.operator_detail = detail
    return error


class CurrentClock:
    """The clock of ``source()`` at each reading: long-lived caches follow a clock swapped later (tests)."""

    def __init__(self, source: Callable[[], Clock]) -> None:
        self._source = source

    def now(self) -> datetime:
        return self._source().now()


class JwksRegistry:
    """The process's JWKS caches, one per connection and JWKS URI (a new URI after a discovery refresh
    starts a new cache). Thread-safe."""

    def __init__(self, http: OidcHttp, clock: Clock) -> None:
        self._http = http
        self._clock = clock
        self._caches: dict[tuple[str, str], JwksCache] = {}
        self._lock = threading.Lock()

    def for_connection(self, connection_id: str, jwks_uri: str) -> JwksCache:
        with self._lock:
            cache = self._caches.get((connection_id, jwks_uri))
            if cache is None:
                for key in [k for k in self._caches if k[0] == connection_id]:
                    del self._caches[key]
                cache = self._caches[(connection_id, jwks_uri)] = JwksCache(self._http, jwks_uri, self._clock)
            return cache


def seal_pending(box: Sealer, connection_id: str, pending: PendingAuthorization) -> str:
    """The pending authorization for the transaction cookie: sealed (AES-GCM), so the browser carries the
    PKCE verifier and nonce without being able to read them, bound to the connection and the state."""
    return box.seal(json.dumps(asdict(pending)).encode(), _tx_context(connection_id, pending.state))


def open_pending(box: Sealer, connection_id: str, state: str, sealed: str) -> PendingAuthorization:
    try:
        data = json.loads(box.open(sealed, _tx_context(connection_id, state)))
        return PendingAuthorization(**data)
    except (SealBroken, ValueError, TypeError):
        raise failed(
            "state_mismatch", "the transaction cookie's sealed authorization does not open"
        ) from None


def _tx_context(connection_id: str, state: str) -> str:
    return f"sso_oidc_transaction:{connection_id}:{state}"


class OidcFlows:
    def __init__(
        self,
        connections: OidcConnectionService,
        logins: SsoLoginService,
        rp: RelyingParty,
        jwks: JwksRegistry,
    ) -> None:
        self.connections = connections
        self.logins = logins
        self.rp = rp
        self.jwks = jwks

    def start_login(
        self, conn: SsoConnection, login_hint: str | None = None
    ) -> tuple[str, PendingAuthorization]:
        self.logins.check_usable(conn)
        try:
            metadata = self.connections.metadata(conn)
            client = self.connections.client_settings(conn)
        except OidcRefusal as exc:
            raise failed(exc.reason.value, exc.detail) from None
        extra = {"login_hint": login_hint[:320]} if login_hint else None
        return self.rp.begin(metadata, client, extra=extra)

    def finish_login(
        self, conn: SsoConnection, query: dict[str, str], pending: PendingAuthorization
    ) -> LoginResult:
        self.logins.check_usable(conn)
        try:
            metadata = self.connections.metadata(conn)
            client = self.connections.client_settings(conn)
            jwks = self.jwks.for_connection(conn.id, metadata.jwks_uri)
            identity = self.rp.complete(metadata, client, jwks, pending, query)
        except OidcRefusal as exc:
            raise failed(exc.reason.value, exc.detail) from None
        return self.logins.login(conn, asserted(conn, identity), "sp_initiated")


def asserted(conn: SsoConnection, identity: OidcIdentity) -> AssertedIdentity:
    """The OIDC identity as the identity rules take it: the subject is ``sub``; groups only when the IdP sent
    the mapped claim (absent: the member's groups are left as they are)."""
    mapping_groups = (conn.attribute_map or {}).get("groups") or "groups"
    only_name = identity.name if identity.first_name is None and identity.last_name is None else None
    return AssertedIdentity(
        connection_id=conn.id,
        subject=identity.subject,
        email=identity.email,
        first_name=identity.first_name or only_name,
        last_name=identity.last_name,
        groups=identity.groups if mapping_groups in identity.claims else None,
    )
