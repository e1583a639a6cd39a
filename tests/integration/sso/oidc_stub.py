"""A minimal OP on loopback for the forged-token cases ONLY: the ID tokens a real OP never issues (alg none,
HS256 keyed with the public key, an unknown kid, a wrong aud or iss, a wrong nonce, an expired token) have to
come back from a token endpoint for Tenantry to meet them over HTTP. Everything else (logins, state, PKCE,
mix-up, tenant separation) runs against the real npm oidc-provider (tests/idps/oidc_provider.py).

It answers discovery (advertising none and HS256 too: the fixed allowlist must not widen), /authorize (no
login: a 302 to the redirect URI with code, state and iss), /token (checks the code and the PKCE S256
verifier, then returns what ``token_factory`` makes of the authorization request) and /jwks (one RSA key)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.support import free_port

TokenFactory = Callable[["StubOp", dict[str, str]], str]


@dataclass
class StubOp:
    issuer: str
    key: RSAKey
    token_factory: TokenFactory | None = None
    pending: dict[str, dict[str, str]] = field(default_factory=dict)  # code -> authorization request
    jwks_fetches: int = 0
    discovery_status: int = 200
    extra_discovery: dict[str, Any] = field(default_factory=dict)

    @property
    def kid(self) -> str:
        return str(self.key.kid)

    def sign(self, claims: dict[str, Any], header: dict[str, Any] | None = None, key: Any = None) -> str:
        return jwt.encode(
            header or {"alg": "RS256", "kid": self.kid}, claims, key or self.key, algorithms=["RS256"]
        )

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "id_token_signing_alg_values_supported": ["RS256", "HS256", "none"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "authorization_response_iss_parameter_supported": True,
            **self.extra_discovery,
        }


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _handler(op: StubOp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            return

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            if parts.path == "/.well-known/openid-configuration":
                return self._json(op.discovery_status, op.discovery())
            if parts.path == "/jwks":
                op.jwks_fetches += 1
                return self._json(200, {"keys": [op.key.as_dict(private=False)]})
            if parts.path == "/authorize":
                params = {k: v[0] for k, v in parse_qs(parts.query).items()}
                code = secrets.token_urlsafe(16)
                op.pending[code] = params
                query = urlencode({"code": code, "state": params.get("state", ""), "iss": op.issuer})
                self.send_response(302)
                self.send_header("Location", f"{params['redirect_uri']}?{query}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            return self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            request = op.pending.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            if request is None or b64(hashlib.sha256(verifier.encode()).digest()) != request.get(
                "code_challenge"
            ):
                return self._json(400, {"error": "invalid_grant"})
            assert op.token_factory is not None
            return self._json(
                200, {"id_token": op.token_factory(op, request), "access_token": "at", "token_type": "Bearer"}
            )

    return Handler


@contextmanager
def start_stub_op() -> Iterator[StubOp]:
    port = free_port()
    op = StubOp(
        f"http://127.0.0.1:{port}",
        RSAKey.generate_key(2048, parameters={"kid": f"stub-{secrets.token_hex(4)}", "use": "sig"}),
    )
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(op))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield op
    finally:
        server.shutdown()
        server.server_close()
