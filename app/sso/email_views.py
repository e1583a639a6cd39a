"""``POST /sso/email/start`` and ``POST /sso/email/verify``: sign-in by email one-time code (browser or JSON).

A JSON request gets JSON back (``verify`` includes the session token, for clients that call ``/v1`` with it);
a form post gets a short page. Either way a successful ``verify`` sets the session cookie
(``app/sso/cookies.py``). Errors are rendered by the ``/sso`` front door (``app/frontdoor.py``). A cross-site
form post (an ``Origin`` other than ours) is refused, so nobody can sign a browser in to an account of theirs.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, g, json, request
from markupsafe import escape
from pydantic import BaseModel, EmailStr, Field
from pydantic import ValidationError as PydanticValidationError

from app.api.endpoint import parse_json_body, validation_errors
from app.api.schema import RequestBody
from app.audit.catalogue import AuditAction
from app.audit.failures import Failure
from app.audit.recorder import Actor
from app.errors import Forbidden, MalformedRequest, ValidationFailed
from app.mail import MailDeliveryError
from app.sso.cookies import set_session_cookie
from app.sso.email_codes import METHOD, EmailCodeRefused
from app.web import container, note_failure, services

log = logging.getLogger("tenantry.sso.email")
sso_email = Blueprint("sso_email", __name__, url_prefix="/sso/email")


class EmailStartIn(RequestBody):
    email: EmailStr = Field(max_length=320)


class EmailVerifyIn(RequestBody):
    email: EmailStr = Field(max_length=320)
    code: str = Field(pattern=r"^[0-9]{6,8}$")
    org: str | None = Field(default=None, max_length=64, description="The org to sign in to, when several.")


def _input(model: type[BaseModel]) -> Any:
    if request.is_json:
        data = parse_json_body()
        if not isinstance(data, dict):
            raise MalformedRequest("The request body must be a JSON object.")
    else:
        same_origin()
        data = {k: v for k, v in request.form.items() if v != "" or k != "org"}
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        errors = validation_errors(exc)
        raise ValidationFailed(
            f"Invalid input: check {', '.join(e['field'] for e in errors)}.", errors=errors
        ) from None


def same_origin() -> None:
    origin = request.headers.get("Origin")
    if not origin:  # not sent by a browser, or a same-origin navigation of an older one
        return
    ours = urlsplit(container().settings.base_url)
    theirs = urlsplit(origin)
    if (theirs.scheme, theirs.netloc) not in ((ours.scheme, ours.netloc), (request.scheme, request.host)):
        raise Forbidden("This form was posted from another site. Start the sign-in from Tenantry's own page.")


def _answer(status: int, body: dict[str, Any], title: str, text: str) -> Response:
    if request.is_json:
        resp = Response(json.dumps(body), status=status, mimetype="application/json")
    else:
        page = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>'
            f"{escape(title)} · Tenantry</title></head><body><main><h1>{escape(title)}</h1>"
            f"<p>{escape(text)}</p></main></body></html>"
        )
        resp = Response(page, status=status, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    return resp


@sso_email.post("/start")
def start() -> Response:
    body: EmailStartIn = _input(EmailStartIn)
    codes = services().email_codes
    pending = codes.start(body.email, request.remote_addr)
    g.db_session.commit()
    try:
        codes.deliver(pending)
    except MailDeliveryError:  # answered alike: the answer never depends on the address
        log.warning("sign-in code not delivered", exc_info=True)
    detail = "If this address can sign in, a code is on its way. Enter it to continue."
    return _answer(
        202,
        {"status": "sent", "expires_in": pending.expires_in, "detail": detail},
        "Check your email",
        detail,
    )


@sso_email.post("/verify")
def verify() -> Response:
    body: EmailVerifyIn = _input(EmailVerifyIn)
    svc = services()
    try:
        signed = svc.email_codes.verify(body.email, body.code, body.org, request.remote_addr)
    except EmailCodeRefused as refused:
        g.db_session.commit()  # the wrong try counts, and a burnt code stays burnt
        if refused.org_id is not None:
            note_failure(
                Failure(
                    org_id=refused.org_id,
                    action=AuditAction.AUTH_FAILED,
                    actor=Actor("user", refused.user_id, None),
                    reason=f"email code: {refused.reason}",
                    data={"login_method": METHOD, "method": request.method, "path": request.path},
                )
            )
        raise
    g.db_session.commit()
    issued = signed.session
    payload = {
        "session_token": issued.token,
        "session_id": issued.id,
        "expires_in": issued.expires_in,
        "org_id": signed.org_id,
        "user_id": signed.user_id,
        "joined": signed.joined,
        "break_glass": signed.break_glass,
    }
    resp = _answer(
        200, payload, "You are signed in", "You can close this page and return to your application."
    )
    set_session_cookie(resp, request, issued.token, issued.expires_in, base_url=container().settings.base_url)
    return resp
