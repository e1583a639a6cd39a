"""The login transaction: which logins this browser started, in a signed, short-lived cookie.

SP-initiated SAML must only accept a Response whose InResponseTo is a request *this browser* sent (else a
response captured or forged for another browser could be posted here). The cookie holds, per pending login,
the connection id, the SAML request id, where to go afterwards (``return_to``), when it expires, and room for
OIDC's state, nonce and PKCE verifier (the next issue). Signed with the secret key (itsdangerous, its own
salt) and dated; at most ``MAX_PENDING`` logins are kept (several tabs), the oldest dropped first.

SameSite: the IdP returns the browser with a cross-site POST to the ACS. A Lax cookie is not sent on a
cross-site POST, so over https the cookie is ``SameSite=None; Secure``. Browsers refuse ``SameSite=None``
without Secure, so over plain http (development only) the attribute is left out: Chrome then treats it as Lax
but still sends it on a top-level POST within two minutes of being set ("Lax+POST"), Firefox and Safari send
it; a slower login over plain http fails with "sign-in expired" and must be started again. The cookie is
HttpOnly and scoped to ``/sso``.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime

from flask import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "tenantry_sso_tx"
MAX_PENDING = 5
_SALT = "tenantry.sso.login-transaction.v1"


@dataclass(frozen=True)
class PendingLogin:
    connection_id: str
    request_id: str  # SAML AuthnRequest ID (OIDC: the state)
    return_to: str | None
    expires_at: float  # POSIX seconds
    oidc: dict[str, str] = field(default_factory=dict)  # next issue: nonce, code_verifier


class LoginTransactions:
    def __init__(self, secret_key: str, ttl_seconds: int, *, secure: bool) -> None:
        self.serializer = URLSafeTimedSerializer(secret_key, salt=_SALT)
        self.ttl = ttl_seconds
        self.secure = secure

    def read(self, request: Request, now: datetime) -> list[PendingLogin]:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return []
        try:
            data = self.serializer.loads(raw, max_age=self.ttl)
        except BadSignature:  # also SignatureExpired
            return []
        pending = []
        if isinstance(data, list):
            for item in data:
                try:
                    login = PendingLogin(**item)
                except TypeError:
                    continue
                if login.expires_at > now.timestamp():
                    pending.append(login)
        return pending

    def begin(self, request: Request, response: Response, login: PendingLogin, now: datetime) -> None:
        pending = [p for p in self.read(request, now) if p.request_id != login.request_id]
        pending = [*pending[-(MAX_PENDING - 1) :], login]
        self._write(response, pending)

    def take(
        self, request: Request, response: Response, connection_id: str, request_id: str | None, now: datetime
    ) -> PendingLogin | None:
        """The pending login of this connection with this request id, removed from the cookie; None when
        this browser started no such login (or it expired)."""
        pending = self.read(request, now)
        found = next(
            (p for p in pending if p.connection_id == connection_id and p.request_id == request_id), None
        )
        if found is not None:
            self._write(response, [p for p in pending if p is not found])
        return found

    def new_login(
        self, connection_id: str, request_id: str, return_to: str | None, now: datetime
    ) -> PendingLogin:
        return PendingLogin(connection_id, request_id, return_to, now.timestamp() + self.ttl)

    def _write(self, response: Response, pending: list[PendingLogin]) -> None:
        if not pending:
            response.delete_cookie(COOKIE, path="/sso", secure=self.secure, httponly=True)
            return
        value = self.serializer.dumps([asdict(p) for p in pending])
        response.set_cookie(
            COOKIE,
            value,
            max_age=self.ttl,
            path="/sso",
            secure=self.secure,
            httponly=True,
            samesite="None" if self.secure else None,
        )


def new_relay_state() -> str:
    return secrets.token_urlsafe(16)
