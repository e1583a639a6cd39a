"""docs/tokens.md's verification snippet, run as written (only the issuer changed) with PyJWT against the JWKS
of a Tenantry served on loopback: the documentation stays true."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from flask import Flask
from werkzeug.serving import make_server

from app.config import Settings
from app.container import Container
from tests.conftest import Api
from tests.member_factories import add_person, session_token
from tests.support import free_port

DOC = Path(__file__).resolve().parents[3] / "docs" / "tokens.md"
PORT = free_port()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The issuer is where the app is served, as in production."""
    return Settings(**{**settings.model_dump(), "base_url": f"http://127.0.0.1:{PORT}"})


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", PORT, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{PORT}"
    server.shutdown()
    thread.join(5)


def snippet(issuer: str) -> dict[str, Any]:
    [code] = re.findall(r"### Verifying it in another service.*?```python\n(.*?)```", DOC.read_text(), re.S)
    namespace: dict[str, Any] = {}
    exec(compile(code.replace("https://tenantry.example.com", issuer), str(DOC), "exec"), namespace)  # noqa: S102
    return namespace


def test_the_documented_verification_accepts_our_tokens_and_refuses_others(
    served: str, app: Flask, container: Container, org: dict[str, Any]
) -> None:
    ann = add_person(container, org["id"], "ann@example.com")
    client = app.test_client()
    token = (
        Api(client, session_token(container, ann.user_id, org["id"]))
        .post("/v1/sessions/token")
        .json["access_token"]
    )
    verify = snippet(served)["verify"]
    claims = verify(token)
    assert claims["sub"] == ann.user_id and claims["org"] == org["id"] and claims["iss"] == served
    # A token of the same shape signed by someone else's key, and an ID-token-typed JWT: refused.
    from app.tokens import access_token

    forged = access_token.sign(
        access_token.AccessClaims(**{**claims}),
        access_token.new_key(),
        pyjwt.get_unverified_header(token)["kid"],
    )
    with pytest.raises(pyjwt.InvalidSignatureError):
        verify(forged)
    with pytest.raises(pyjwt.InvalidTokenError, match="not an access token"):
        verify(pyjwt.encode(claims, "k" * 32, algorithm="HS256"))
