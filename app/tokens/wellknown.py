"""``/.well-known/jwks.json`` and ``/.well-known/openid-configuration``: what other services need to verify
access tokens without calling Tenantry.

The JWKS lists the current key and the previous keys still in their overlap (never a retired or revoked key),
with ``Cache-Control: public, max-age=TENANTRY_JWKS_MAX_AGE`` and a strong ``ETag`` of its body, so a
verifier revalidates cheaply (``If-None-Match`` answers 304). The metadata document follows the names of
OpenID Connect Discovery 1.0 §3 and RFC 8414 for the parts that apply to an issuer of access tokens (Tenantry
is not an OpenID Provider: it lists no authorization endpoint and no response types; stock discovery clients
read ``issuer`` and ``jwks_uri`` from it).
"""

from __future__ import annotations

import hashlib
import json

from flask import Blueprint, Response, request

from app.tokens import access_token
from app.web import container, services

wellknown = Blueprint("wellknown", __name__, url_prefix="/.well-known")


def _cached(body: dict[str, object], max_age: int) -> Response:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    etag = hashlib.sha256(text.encode()).hexdigest()[:32]
    headers = {"Cache-Control": f"public, max-age={max_age}", "ETag": f'"{etag}"'}
    if request.if_none_match.contains(etag):
        return Response(status=304, headers=headers)
    return Response(text, mimetype="application/json", headers=headers)


@wellknown.get("/jwks.json")
def jwks() -> Response:
    svc = services()
    if svc.keyring.current() is None:  # publish the first key before any token it signs reaches a verifier
        svc.keyring.rotate(reason="first_use", only_if_missing=True)
        svc.session.commit()
    keys = [dict(k.public_jwk) for k in svc.keyring.published()]
    return _cached({"keys": keys}, container().settings.jwks_max_age)


@wellknown.get("/openid-configuration")
def issuer_metadata() -> Response:
    issuer = container().issuer
    body: dict[str, object] = {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "id_token_signing_alg_values_supported": [access_token.ALGORITHM],
        "access_token_signing_alg_values_supported": [access_token.ALGORITHM],
        "response_types_supported": [],
        "subject_types_supported": ["public"],
        "claims_supported": [
            "iss", "sub", "aud", "iat", "exp", "jti", "org", "role", "seat", "authz_version", "sid",
        ],
    }  # fmt: skip
    return _cached(body, container().settings.jwks_max_age)
