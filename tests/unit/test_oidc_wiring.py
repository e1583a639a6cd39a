"""The OIDC wiring around the core (app/sso/oidc_flows.py, app/sso/oidc_connections.py): the pending
authorization sealed into the transaction cookie, the per-connection JWKS caches, the identity handed to the
shared identity rules, the scopes asked for."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from app.clock import FrozenClock
from app.crypto.sealing import Sealer
from app.sso.errors import LoginFailed
from app.sso.models import SsoConnection
from app.sso.oidc import HttpResponse, OidcIdentity, PendingAuthorization
from app.sso.oidc_connections import _scopes
from app.sso.oidc_flows import CurrentClock, JwksRegistry, asserted, open_pending, seal_pending

PENDING = PendingAuthorization(
    issuer="https://op.example",
    client_id="client",
    redirect_uri="https://t.example/sso/oidc/sso_1/callback",
    state="state-1",
    nonce="nonce-1",
    code_verifier="v" * 86,
)


class NoHttp:
    def get(self, url: str, *, headers: object = None) -> HttpResponse:
        raise OSError("no network in unit tests")

    def post_form(self, url: str, form: object, *, headers: object = None) -> HttpResponse:
        raise OSError("no network in unit tests")


def test_the_pending_authorization_is_sealed_and_bound_to_connection_and_state() -> None:
    box = Sealer(os.urandom(32))
    sealed = seal_pending(box, "sso_a", PENDING)
    for secret in (PENDING.nonce, PENDING.code_verifier, PENDING.state):
        assert secret not in sealed
    assert open_pending(box, "sso_a", "state-1", sealed) == PENDING
    for connection_id, state, value in [
        ("sso_b", "state-1", sealed),  # another connection's callback
        ("sso_a", "state-2", sealed),  # another state
        ("sso_a", "state-1", sealed[:-4] + "AAAA"),  # altered
        ("sso_a", "state-1", "not sealed"),
    ]:
        with pytest.raises(LoginFailed) as err:
            open_pending(box, connection_id, state, value)
        assert err.value.extra["reason"] == "state_mismatch"
    with pytest.raises(LoginFailed):
        open_pending(Sealer(os.urandom(32)), "sso_a", "state-1", sealed)  # another instance key


def test_one_jwks_cache_per_connection_and_uri() -> None:
    registry = JwksRegistry(NoHttp(), FrozenClock(datetime.now(UTC)))
    a = registry.for_connection("sso_a", "https://op.example/jwks")
    assert registry.for_connection("sso_a", "https://op.example/jwks") is a
    assert registry.for_connection("sso_b", "https://op.example/jwks") is not a
    moved = registry.for_connection("sso_a", "https://op.example/keys")  # after a discovery refresh
    assert moved is not a and registry.for_connection("sso_a", "https://op.example/keys") is moved
    assert registry.for_connection("sso_a", "https://op.example/jwks") is not a  # the old one was dropped


def test_current_clock_follows_a_swapped_clock() -> None:
    first, second = (
        FrozenClock(datetime(2026, 1, 1, tzinfo=UTC)),
        FrozenClock(datetime(2027, 1, 1, tzinfo=UTC)),
    )
    holder = {"clock": first}
    clock = CurrentClock(lambda: holder["clock"])
    assert clock.now() == first.now()
    holder["clock"] = second
    second.advance(timedelta(seconds=5))
    assert clock.now() == second.now()


def _identity(claims: dict[str, object], **fields: object) -> OidcIdentity:
    base: dict[str, object] = {
        "issuer": "https://op.example",
        "subject": "sub-1",
        "email": "ann@example.com",
        "email_verified": True,
        "first_name": None,
        "last_name": None,
        "name": None,
        "groups": (),
        "claims": claims,
    }
    return OidcIdentity(**{**base, **fields})  # type: ignore[arg-type]


def test_asserted_identity_groups_only_when_the_claim_is_sent_and_name_fallback() -> None:
    conn = SsoConnection(id="sso_a", attribute_map={})
    silent = asserted(conn, _identity({"sub": "sub-1"}, name="Ann Example"))
    assert silent.groups is None and silent.first_name == "Ann Example" and silent.subject == "sub-1"
    empty = asserted(conn, _identity({"groups": []}))
    assert empty.groups == ()  # sent and empty: mapped groups are left
    mapped = SsoConnection(id="sso_b", attribute_map={"groups": "roles"})
    sent = asserted(mapped, _identity({"roles": ["Eng"]}, groups=("Eng",), first_name="Ann", last_name="E"))
    assert sent.groups == ("Eng",) and sent.display_name == "Ann E"


@pytest.mark.parametrize(
    ("given", "asked"),
    [
        (None, ["openid", "email", "profile"]),
        (["email", "groups"], ["openid", "email", "groups"]),
        (["openid", "email", "openid"], ["openid", "email"]),
    ],
)
def test_scopes_always_include_openid_once(given: list[str] | None, asked: list[str]) -> None:
    assert _scopes(given) == asked
