"""Refused authorizations and failed authentications become aggregated audit events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Blueprint, Flask
from flask.testing import FlaskClient

from app import create_app
from app.audit import failures
from app.audit.models import AuditEvent
from app.clock import FrozenClock
from app.config import Settings
from app.container import Container
from app.db import transaction
from app.worker import Worker
from tests.conftest import Api, _truncate, make_org_key
from tests.integration.audit_helpers import T0
from tests.member_factories import add_person, session_token


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0 + timedelta(seconds=5))


@pytest.fixture
def frozen(settings: Settings, clock: FrozenClock) -> Iterator[tuple[Container, FlaskClient]]:
    c = Container.build(settings, clock=clock)
    yield c, create_app(settings, c).test_client()
    _truncate(c)  # its own container: leave no rows for the tests after it
    c.engine.dispose()


def _setup(c: Container) -> tuple[str, str, str]:
    with transaction(c.session_factory) as session:
        svc = c.services(session)
        org = svc.orgs.create("Acme", None)
        member = svc.credentials.create_api_key(org_id=org.id, role="member", name="viewer")
        admin = svc.credentials.create_api_key(org_id=org.id, role="admin", name="admin")
        return org.id, member.secret, admin.secret


def _events(c: Container, org_id: str, action: str) -> list[AuditEvent]:
    with transaction(c.session_factory) as session:
        rows = (
            session.query(AuditEvent).filter_by(org_id=org_id, action=action).order_by(AuditEvent.seq).all()
        )
        for r in rows:
            session.expunge(r)
        return rows


def test_fifty_refusals_are_two_events_with_the_right_count(
    frozen: tuple[Container, FlaskClient], clock: FrozenClock
) -> None:
    c, client = frozen
    org_id, member_key, admin_key = _setup(c)
    viewer = Api(client, member_key)
    for i in range(50):
        clock.advance(timedelta(milliseconds=100))
        resp = viewer.get(f"/v1/orgs/{org_id}/audit-logs", environ_base={"REMOTE_ADDR": f"10.0.0.{i}"})
        assert resp.status_code == 403 and resp.json["code"] == "forbidden"
    first = _events(c, org_id, "authz.denied")
    assert len(first) == 1
    event = first[0]
    assert event.outcome == "failure" and event.reason == "missing permission audit_logs:read"
    assert event.actor_type == "api_key" and event.data["count"] == 1
    assert event.data["permission"] == "audit_logs:read" and event.data["role"] == "member"

    assert Worker(c).run_once()["audit.failures.flush"] == 0  # the window is still open
    clock.advance(timedelta(minutes=1))
    assert Worker(c).run_once()["audit.failures.flush"] == 1
    events = _events(c, org_id, "authz.denied")
    assert len(events) == 2
    summary = events[1]
    assert summary.data["aggregated"] is True and summary.data["first_event_id"] == event.id
    assert sum(e.data["count"] for e in events) == 50
    assert Worker(c).run_once()["audit.failures.flush"] == 0  # flushed once only

    # The admin sees them through the API as failures.
    admin = Api(client, admin_key)
    page = admin.get(f"/v1/orgs/{org_id}/audit-logs", query_string={"outcome": "failure"}).json["data"]
    assert [e["action"] for e in page] == ["authz.denied", "authz.denied"]


def test_a_revoked_key_is_recorded_by_prefix_never_the_secret(
    frozen: tuple[Container, FlaskClient], clock: FrozenClock
) -> None:
    c, client = frozen
    org_id, member_key, _ = _setup(c)
    with transaction(c.session_factory) as session:
        svc = c.services(session)
        key = svc.credentials.authenticate_api_key(member_key)
        svc.credentials.revoke_api_key(key.id, org_id=org_id)
    for _ in range(20):
        resp = Api(client, member_key).get(f"/v1/orgs/{org_id}")
        assert resp.status_code == 401
    assert Api(client, "tnt_ok_" + "B" * 43).get(f"/v1/orgs/{org_id}").status_code == 401  # unknown: no org
    clock.advance(timedelta(minutes=2))
    Worker(c).run_once()
    events = _events(c, org_id, "auth.failed")
    assert len(events) == 2 and sum(e.data["count"] for e in events) == 20
    assert events[0].reason == "api key revoked" and events[0].actor_id == key.id
    assert events[0].data["credential_prefix"] == member_key[:13]
    stored = json.dumps([{"data": e.data, "ctx": e.context, "name": e.actor_name} for e in events])
    assert member_key not in stored and member_key[13:] not in stored


def test_distinct_failures_past_the_cap_fold_into_one_group(
    frozen: tuple[Container, FlaskClient], monkeypatch: Any
) -> None:
    c, client = frozen
    monkeypatch.setattr(failures, "MAX_GROUPS_PER_MINUTE", 2)
    org_id, _, _ = _setup(c)
    keys = [make_org_key(c, org_id, "member") for _ in range(6)]
    for key in keys:
        for _ in range(3):
            assert Api(client, key).get(f"/v1/orgs/{org_id}/audit-logs").status_code == 403
    events = _events(c, org_id, "authz.denied")
    assert len(events) == 3  # two groups, then one overflow group
    assert events[2].actor_name == "many actors"


def test_a_failure_to_record_does_not_change_the_answer(
    frozen: tuple[Container, FlaskClient], monkeypatch: Any
) -> None:
    c, client = frozen
    org_id, member_key, _ = _setup(c)

    def boom(*_: Any, **__: Any) -> bool:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(failures.FailureAggregator, "note", boom)
    resp = Api(client, member_key).get(f"/v1/orgs/{org_id}/audit-logs")
    assert resp.status_code == 403


def _other_front_doors(app: Flask) -> None:
    """Two doors outside ``/v1``, shaped like the SCIM and SSO ones to come: each reads its own credential
    and refuses through the shared boundary."""
    from app.web import authenticate, services

    scim = Blueprint("scim_probe", __name__, url_prefix="/scim/v2")
    sso = Blueprint("sso_probe", __name__, url_prefix="/sso")

    @scim.get("/Users")
    def users() -> str:
        authenticate()  # the one resolver: under /scim/v2 it takes SCIM tokens only
        return "{}"

    @sso.get("/orgs/<org_id>/settings")
    def settings(org_id: str) -> str:
        services().authorizer.require(authenticate(), org_id, "org:update")
        return "{}"

    app.register_blueprint(scim)
    app.register_blueprint(sso)


def test_refusals_are_recorded_at_every_front_door(
    frozen: tuple[Container, FlaskClient], clock: FrozenClock
) -> None:
    c, client = frozen
    _other_front_doors(client.application)
    org_id, member_key, _ = _setup(c)
    with transaction(c.session_factory) as session:
        svc = c.services(session)
        scim = svc.credentials.create_scim_token(org_id=org_id, name="okta")
        svc.credentials.revoke_scim_token(scim.id, org_id=org_id)

    assert Api(client, scim.secret).get("/scim/v2/Users").status_code == 401
    # /sso takes member sessions (API keys are refused there by the resolver, before any permission).
    person = add_person(c, org_id, "viewer@acme.example", role="member")
    viewer = session_token(c, person.user_id, org_id)
    assert Api(client, viewer).get(f"/sso/orgs/{org_id}/settings").status_code == 403

    [failed] = _events(c, org_id, "auth.failed")
    assert failed.reason == "scim token revoked"
    assert (failed.actor_type, failed.actor_id, failed.actor_name) == ("scim_token", scim.id, "okta")
    assert failed.data["credential_prefix"] == scim.prefix and failed.data["path"] == "/scim/v2/Users"
    assert scim.secret not in json.dumps([failed.data, failed.context])
    [denied] = _events(c, org_id, "authz.denied")
    assert (denied.actor_type, denied.actor_id) == ("user", person.user_id)
    assert denied.data["role"] == "member"
    assert denied.data["path"] == f"/sso/orgs/{org_id}/settings" and denied.data["method"] == "GET"
