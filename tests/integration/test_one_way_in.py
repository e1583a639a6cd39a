"""One way in: the credential-kind matrix, the unconditional tenancy rule and its sweep over every /v1
operation, and the error format of each front door for 401, 403, 404, 405, 413, 422 and 500."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Blueprint, Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app import create_app
from app.api.endpoint import REGISTRY, RouteWithoutTenancy, operation, require_tenancy
from app.audit.models import AuditEvent
from app.config import Settings
from app.container import Container
from app.credentials.resolver import ACCEPTED, Door, Kind, kind_of
from app.errors import Forbidden, ValidationFailed
from app.web import authenticate
from tests.conftest import Api, _truncate, make_org_key
from tests.mailbox import Mailbox
from tests.member_factories import add_person, session_token


# --- credential kinds ------------------------------------------------------------------------------------
@pytest.fixture
def credentials(
    client: FlaskClient, container: Container, org: dict[str, Any], platform_key: str
) -> dict[Kind, str]:
    person = add_person(container, org["id"], "kinds@example.com", role="admin")
    with container.session_factory.begin() as session:
        scim = container.services(session).credentials.create_scim_token(org_id=org["id"]).secret
    session = session_token(container, person.user_id, org["id"])
    minted = Api(client, session).post("/v1/sessions/token")
    assert minted.status_code == 200, minted.json
    return {
        Kind.PLATFORM_KEY: platform_key,
        Kind.ORG_KEY: make_org_key(container, org["id"], "admin"),
        Kind.SESSION: session,
        Kind.SCIM_TOKEN: scim,
        Kind.ACCESS_TOKEN: minted.json["access_token"],
    }


def test_each_kind_is_recognised_by_its_own_prefix(credentials: dict[Kind, str]) -> None:
    assert {kind: kind_of(token) for kind, token in credentials.items()} == {k: k for k in credentials}
    assert kind_of("Basic abc") is None and kind_of("tnt_inv_x") is None


def test_each_kind_is_accepted_only_where_it_belongs(
    client: FlaskClient, org: dict[str, Any], credentials: dict[Kind, str]
) -> None:
    check = {"org": org["id"], "subject": "usr_x", "action": "org:read"}
    for kind, token in credentials.items():
        api = Api(client, token)
        rest = api.get(f"/v1/orgs/{org['id']}")
        checked = api.post("/v1/authz/check", check)
        assert (rest.status_code == 200) is (kind in ACCEPTED[Door.V1]), (kind, rest.json)
        assert (checked.status_code == 200) is (kind in ACCEPTED[Door.CHECK]), (kind, checked.json)
        if kind is Kind.SCIM_TOKEN:
            assert rest.status_code == 401 and "only under /scim/v2" in rest.json["detail"]
        if kind is Kind.SESSION:
            assert checked.status_code == 403  # a valid credential, for the wrong API


def test_the_scim_door_takes_only_scim_tokens(
    settings: Settings, container: Container, credentials: dict[Kind, str]
) -> None:
    app = _app_with_probe_routes(settings, container)
    client = app.test_client()
    for kind, token in credentials.items():
        resp = client.get("/scim/v2/_probe/whoami", headers={"Authorization": f"Bearer {token}"})
        if kind is Kind.SCIM_TOKEN:
            assert resp.status_code == 200 and resp.json["kind"] == "scim"
        else:
            assert resp.status_code == 401, kind
            assert resp.json["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


def test_the_session_cookie_is_read_under_sso_only(
    settings: Settings, container: Container, credentials: dict[Kind, str]
) -> None:
    client = _app_with_probe_routes(settings, container).test_client()
    client.set_cookie("tenantry_session", credentials[Kind.SESSION])
    assert client.get("/sso/_probe/whoami").json == {"kind": "user"}
    # /v1 takes bearer credentials only: a browser's cookie never acts there (no cross-site requests).
    assert client.get("/v1/_probe/whoami").status_code == 401


# --- tenancy -----------------------------------------------------------------------------------------------
def test_a_route_with_org_id_and_no_tenancy_rule_stops_the_app(
    settings: Settings, container: Container
) -> None:
    app = create_app(settings, container)
    rogue = Blueprint("rogue", __name__, url_prefix="/v1/rogue")
    rogue.add_url_rule("/orgs/<org_id>/secrets", "secrets", lambda org_id: {"org": org_id})
    app.register_blueprint(rogue)
    with pytest.raises(RouteWithoutTenancy, match="secrets"):
        require_tenancy(app)
    with pytest.raises(RouteWithoutTenancy, match="needs one"):
        operation(Blueprint("anon", __name__, url_prefix="/v1/anon"), "/orgs/<org_id>/x", "GET",
                  summary="x", tag="x", auth="none")(lambda org_id: None)  # fmt: skip


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "x_unknown"), path)


def test_sweep_every_v1_operation_with_another_orgs_key_and_ids(
    client: FlaskClient, container: Container, platform: Api
) -> None:
    mine = platform.post("/v1/orgs", {"name": "Mine"}).json
    theirs = platform.post("/v1/orgs", {"name": "Theirs"}).json
    platform.put(f"/v1/orgs/{theirs['id']}/seats/pro", {"limit": 3})
    victim = add_person(container, theirs["id"], "victim@theirs.example", role="admin", seat="pro")
    invited = platform.post(
        f"/v1/orgs/{theirs['id']}/invitations", {"email": "new@theirs.example", "role": "member"}
    ).json
    their_owner = Api(client, make_org_key(container, theirs["id"], "owner"))
    their_key = their_owner.post(f"/v1/orgs/{theirs['id']}/api-keys", {"name": "k", "role": "admin"}).json
    their_scim = their_owner.post(f"/v1/orgs/{theirs['id']}/scim-tokens", {"name": "okta"}).json
    their_owner.post(
        f"/v1/orgs/{theirs['id']}/roles", {"name": "auditor", "permissions": ["audit_logs:read"]}
    )
    ids = {
        "org_id": theirs["id"],
        "member_id": victim.member_id,
        "invitation_id": invited["id"],
        "key_id": their_key["id"],
        "token_id": their_scim["id"],
        "role": "auditor",
        "name": "auditor",
        "seat_type": "pro",
        "user_id": victim.user_id,
    }
    with container.session_factory() as session:
        their_events = select(func.count()).select_from(AuditEvent).where(AuditEvent.org_id == theirs["id"])
        before = session.scalar(their_events)

    attackers = {
        "owner key": Api(client, make_org_key(container, mine["id"], "owner")),
        "owner session": Api(
            client,
            session_token(
                container,
                add_person(container, mine["id"], "me@mine.example", role="owner").user_id,
                mine["id"],
            ),
        ),  # fmt: skip
    }
    swept = 0
    for op in REGISTRY:
        if "{" not in op.path or op.path.startswith("/v1/invitations"):
            continue
        path = _fill(op.path, ids)
        for name, attacker in attackers.items():
            resp = attacker.call(op.method.upper(), path, json={} if op.body else None)
            assert resp.status_code in (401, 403, 404), (
                name,
                op.method,
                op.path,
                resp.status_code,
                resp.json,
            )
            swept += 1
    assert swept >= 2 * 25
    with container.session_factory() as session:
        assert session.scalar(their_events) == before  # nothing of theirs changed
    assert their_owner.get(f"/v1/orgs/{theirs['id']}/members/{victim.member_id}").json["role"] == "admin"


# --- error families ----------------------------------------------------------------------------------------
def _app_with_probe_routes(settings: Settings, container: Container) -> Flask:
    """The real app, plus a probe route under each front door that raises each kind of error: the mapping is
    by door, so these show exactly what a real route there would answer."""
    app = create_app(settings.model_copy(update={"max_request_bytes": 2048}), container)

    def raise_(what: str) -> Any:
        if what == "401":
            authenticate()
        if what == "403":
            raise Forbidden("Your role does not allow this.")
        if what == "422":
            raise ValidationFailed(
                "Invalid request body: check name.", errors=[{"field": "name", "message": "x"}]
            )
        if what == "500":
            raise RuntimeError("a bug")
        return {"ok": True}

    def whoami() -> Any:
        return {"kind": authenticate().kind}

    def echo() -> Any:
        from flask import request

        return {"length": len(request.get_data())}

    for prefix in ("/v1/_probe", "/scim/v2/_probe", "/sso/_probe"):
        name = prefix.strip("/").replace("/", "_")
        app.add_url_rule(f"{prefix}/raise/<what>", f"{name}_raise", raise_, methods=["GET"])
        app.add_url_rule(f"{prefix}/whoami", f"{name}_whoami", whoami, methods=["GET"])
        app.add_url_rule(f"{prefix}/echo", f"{name}_echo", echo, methods=["POST"])
    return app


@pytest.fixture
def probe(settings: Settings) -> Iterator[FlaskClient]:
    c = Container.build(settings, mailer=Mailbox())
    app = _app_with_probe_routes(settings, c)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    yield app.test_client()
    _truncate(c)
    c.engine.dispose()


CASES = {
    401: ("GET", "raise/401", None),
    403: ("GET", "raise/403", None),
    404: ("GET", "no/such/thing", None),
    405: ("DELETE", "echo", None),
    413: ("POST", "echo", b"x" * 4096),
    422: ("GET", "raise/422", None),
    500: ("GET", "raise/500", None),
}


@pytest.mark.parametrize("status", sorted(CASES))
def test_rest_errors_are_problem_json(probe: FlaskClient, status: int) -> None:
    method, path, data = CASES[status]
    resp = probe.open(f"/v1/_probe/{path}", method=method, data=data)
    assert resp.status_code == status
    assert resp.mimetype == "application/problem+json"
    assert resp.json["status"] == status and resp.json["code"] and resp.json["request_id"]


@pytest.mark.parametrize("status", sorted(CASES))
def test_scim_errors_are_scim_error_bodies(probe: FlaskClient, status: int) -> None:
    method, path, data = CASES[status]
    resp = probe.open(f"/scim/v2/_probe/{path}", method=method, data=data)
    assert resp.status_code == status
    assert resp.mimetype == "application/scim+json"
    body = resp.json
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == str(status) and body["detail"]  # RFC 7644 §3.12: status is a string
    if status == 422:
        assert "scimType" not in body  # scimType accompanies 400 (and uniqueness with 409) only
    assert "Traceback" not in resp.get_data(as_text=True)


@pytest.mark.parametrize("status", sorted(CASES))
def test_sso_errors_are_readable_pages_or_json_when_asked(probe: FlaskClient, status: int) -> None:
    method, path, data = CASES[status]
    page = probe.open(f"/sso/_probe/{path}", method=method, data=data, headers={"Accept": "text/html"})
    assert page.status_code == status and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert text.startswith("<!doctype html>") and f"Error {status}" in text and "Traceback" not in text
    as_json = probe.open(
        f"/sso/_probe/{path}", method=method, data=data, headers={"Accept": "application/json"}
    )
    assert as_json.status_code == status and as_json.mimetype == "application/problem+json"


def test_sso_pages_escape_what_the_caller_sent(probe: FlaskClient) -> None:
    page = probe.get("/sso/_probe/<script>alert(1)</script>", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "<script>" not in page.get_data(as_text=True)
