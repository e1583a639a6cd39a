"""The browser session cookie: set once a login succeeded, cleared on logout. One place for its flags.

Every way a person signs in through a browser (SAML, OIDC, email one-time codes) ends in
:func:`set_session_cookie`; the credential resolver reads the cookie under ``/sso`` only
(``app/credentials/resolver.py``). HttpOnly always, SameSite=Lax (the IdP's POST to the ACS is a cross-site
top-level navigation that must not carry it, and a Strict cookie would be missing on the redirect back
from the IdP), Secure when Tenantry is served over https (``TENANTRY_BASE_URL``) or the request came over
https.
"""

from __future__ import annotations

from flask import Request, Response

from app.credentials.resolver import SESSION_COOKIE


def _secure(request: Request, base_url: str) -> bool:
    return base_url.lower().startswith("https://") or request.is_secure


def set_session_cookie(
    response: Response, request: Request, token: str, max_age: int, *, base_url: str
) -> None:
    """Put the session token in the cookie for ``max_age`` seconds (the session's own lifetime)."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path="/",
        secure=_secure(request, base_url),
        httponly=True,
        samesite="Lax",
    )


def clear_session_cookie(response: Response, request: Request, *, base_url: str) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=_secure(request, base_url), httponly=True, samesite="Lax"
    )
