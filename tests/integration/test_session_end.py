"""Ending a session records ``session.ended`` in the session service, once per session that ends."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.audit.recorder import Actor
from app.container import Container
from app.db import transaction
from app.orgs.models import LoginSession
from tests.member_factories import add_person, audit_events


def _issue(container: Container, user_id: str, org_id: str) -> str:
    with transaction(container.session_factory) as session:
        return container.services(session).sessions.issue(user_id, org_id, "test").id


def _end(container: Container, session_id: str, actor: Actor) -> bool:
    with transaction(container.session_factory) as session:
        return container.services(session, actor).sessions.end(session_id, reason="logout")


def test_ending_a_session_revokes_it_and_records_one_event(container: Container, org: dict[str, Any]) -> None:
    p = add_person(container, org["id"], "p@acme.test")
    session_id, other_id = _issue(container, p.user_id, org["id"]), _issue(container, p.user_id, org["id"])
    actor = Actor("user", p.user_id, "p@acme.test")

    assert _end(container, session_id, actor) is True
    assert _end(container, session_id, actor) is False  # ended already: nothing more to record

    with container.session_factory() as session:
        revoked = dict(session.execute(select(LoginSession.id, LoginSession.revoked_at)).tuples().all())
    assert revoked[session_id] is not None and revoked[other_id] is None
    [event] = audit_events(container, "session.ended", org_id=org["id"])
    assert event.actor_id == p.user_id and event.data == {"reason": "logout"}
    assert event.targets == [{"type": "session", "id": session_id}, {"type": "user", "id": p.user_id}]


def test_ending_an_unknown_session_records_nothing(container: Container, org: dict[str, Any]) -> None:
    assert _end(container, "ses_" + "0" * 32, Actor("user", "usr_x", None)) is False
    assert audit_events(container, "session.ended") == []
