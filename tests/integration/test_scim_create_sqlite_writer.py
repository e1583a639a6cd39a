"""A SCIM create on SQLite takes the one writer's turn (app/sqlite_writer.py) only for its chain head, links,
writes and commit: its checks read a snapshot of their own and its account and membership rows are held for
the end (``linked_at_end(closing=True)``), so its work does not wait behind another writer. What the checks
no longer settle under the writer's lock (two creates of one userName) the unique indexes settle, as a SCIM
409, and the chain stays gapless."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.container import Container
from app.orgs.models import Membership
from app.scim.service import ScimService
from tests.integration.audit_helpers import intact_chain
from tests.integration.scim_client import Scim, make_scim_token
from tests.support import wait_until

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.fixture(autouse=True)
def _sqlite_only(container: Container) -> None:
    if container.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's writer gate (PostgreSQL's checks never took a lock: test_scim_create_race.py)")


@contextmanager
def another_writer(container: Container) -> Iterator[Any]:
    """Another writer holding SQLite's write turn (its gate and BEGIN IMMEDIATE) until the test lets go (or
    the block ends)."""
    with container.engine.connect() as conn:
        transaction = conn.begin()
        try:
            yield transaction
        finally:
            if transaction.is_active:
                transaction.rollback()


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The userNames whose create has read its checks."""
    done: list[str] = []
    real = ScimService._create_checks

    def noted(self: ScimService, params: dict[str, Any]) -> Any:
        row = real(self, params)
        done.append(params["user_name"])
        return row

    monkeypatch.setattr(ScimService, "_create_checks", noted)
    return done


@pytest.fixture
def token(client: Any, container: Container, org: dict[str, Any]) -> str:
    """A SCIM token the key cache holds (a cold one writes its last use first, which would wait its turn)."""
    made = make_scim_token(container, org["id"])
    assert Scim(client, made).get("/Users?count=0").status_code == 200
    return made


def _create(app: Flask, token: str, user_name: str, out: list[Any]) -> threading.Thread:
    body = {"schemas": [USER], "userName": user_name, "emails": [{"value": user_name, "primary": True}]}

    def run() -> None:
        out.append(Scim(app.test_client(), token).post("/Users", body))

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _members(container: Container, org_id: str) -> int:
    with container.session_factory() as session:
        return int(session.scalar(select(func.count()).where(Membership.org_id == org_id)) or 0)


def test_the_checks_and_the_rows_do_not_wait_for_another_writer(
    app: Flask, container: Container, org: dict[str, Any], token: str, checked: list[str]
) -> None:
    answers: list[Any] = []
    with another_writer(container) as writer:
        create = _create(app, token, "ada@example.com", answers)
        try:
            assert wait_until(lambda: checked == ["ada@example.com"]), "the checks waited for the writer"
            create.join(timeout=0.5)
            assert create.is_alive() and answers == []  # waiting its turn: the head, the writes, the commit
        finally:
            writer.rollback()
            create.join(timeout=30)
    assert [a.status_code for a in answers] == [201]
    assert _members(container, org["id"]) == 1


def test_two_creates_of_one_username_checked_at_once_are_one_201_and_one_409(
    app: Flask, container: Container, org: dict[str, Any], token: str, checked: list[str]
) -> None:
    answers: list[Any] = []
    with another_writer(container) as writer:
        creates = [_create(app, token, name, answers) for name in ("ada@example.com", "ADA@example.com")]
        try:
            assert wait_until(lambda: len(checked) == 2), "the checks waited for the other writer"
        finally:
            writer.rollback()
            for create in creates:
                create.join(timeout=30)
    assert sorted(a.status_code for a in answers) == [201, 409]
    (refused,) = [a for a in answers if a.status_code == 409]
    assert refused.json["scimType"] == "uniqueness" and refused.json["status"] == "409"
    assert _members(container, org["id"]) == 1
    with container.session_factory() as session:
        assert intact_chain(session, org["id"])  # the refused create's events went with its rollback
