"""The browser's own session under ``/sso``: ``GET /sso/session`` (who is signed in) and ``POST /sso/logout``.

Both read the session cookie (the only door that does: ``app/credentials/resolver.py``) through the one
resolver, which checks the session and the membership in the database on every request: a session ended by
logout, member removal, suspension or account deletion is refused at once, on every worker.
"""

from __future__ import annotations

from flask import Blueprint, Response, json, request

from app.errors import Forbidden
from app.sso.cookies import clear_session_cookie
from app.sso.email_views import same_origin
from app.web import authenticate, container, db_session, services

sso_session = Blueprint("sso_session", __name__, url_prefix="/sso")


def _member() -> tuple[str, str, str]:
    principal = authenticate()
    if principal.kind != "user" or principal.user_id is None or principal.org_id is None:
        raise Forbidden("This is a browser's session page: sign in first.")
    return principal.id, principal.user_id, principal.org_id


@sso_session.get("/session")
def current_session() -> Response:
    session_id, user_id, org_id = _member()
    body = {"session_id": session_id, "user_id": user_id, "org_id": org_id, "role": authenticate().role}
    resp = Response(json.dumps(body), mimetype="application/json")
    resp.headers["Cache-Control"] = "no-store"
    return resp


@sso_session.post("/logout")
def logout() -> Response:
    same_origin()
    session_id, _, _ = _member()
    services().sessions.end(session_id, reason="logout")
    db_session().commit()
    resp = Response(status=204)
    clear_session_cookie(resp, request, base_url=container().settings.base_url)
    return resp
