"""``app.db.holding_inserts``: inside, ``insert_now`` holds its rows for the caller's own statement (a SCIM
create's closing audit block writes the account and the membership with its events). Nothing that could
refer to or read them runs before they are written: a flush with changes and an ORM statement write them
first; a statement marked ``READS_NO_HELD_ROWS`` does not; leaving the block writes what is left; an error
drops them with the transaction. On the suite's backend (SQLite or PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from app.container import Container
from app.db import READS_NO_HELD_ROWS, holding_inserts, insert_now, take_held, transaction
from app.ids import new_id
from app.orgs.models import Membership, User
from tests.support import statements_run


def _user(email: str) -> User:
    now = datetime.now(UTC)
    return User(id=new_id("usr"), email=email, name=None, created_at=now, updated_at=now)


def _org(container: Container) -> str:
    with transaction(container.session_factory) as session:
        return container.services(session).orgs.create("Holding").id


def _users(container: Container, *emails: str) -> int:
    with container.session_factory() as session:
        return session.scalar(select(func.count()).select_from(User).where(User.email.in_(emails))) or 0


def test_held_rows_are_written_when_the_block_ends_and_not_before(container: Container) -> None:
    with container.session_factory() as session:
        session.connection()
        seen = statements_run(session)
        with holding_inserts(session):
            user = _user("held@example.com")
            insert_now(session, user)
            assert seen == [] and session.get(User, user.id) is user  # persistent, not written
            unread = select(func.count()).select_from(User).where(User.id == user.id)
            assert session.scalar(unread.execution_options(**{READS_NO_HELD_ROWS: True})) == 0
        assert session.scalar(select(func.count()).select_from(User).where(User.id == user.id)) == 1
        session.commit()
    assert _users(container, "held@example.com") == 1


def test_an_orm_query_writes_them_first(container: Container) -> None:
    with container.session_factory() as session, holding_inserts(session):
        user = _user("queried@example.com")
        insert_now(session, user)
        assert session.scalar(select(User.email).where(User.id == user.id)) == "queried@example.com"
        assert take_held(session) == []  # written: nothing left for the caller


def test_a_flush_writes_them_before_rows_that_refer_to_them(container: Container) -> None:
    org_id = _org(container)
    with container.session_factory() as session:
        with holding_inserts(session):
            user = _user("flushed@example.com")
            insert_now(session, user)
            now = datetime.now(UTC)
            session.add(
                Membership(
                    id=new_id("mem"), org_id=org_id, user_id=user.id, role="member", status="active",
                    source="test", user_name=user.email, attributes={}, created_at=now, updated_at=now,
                )
            )  # fmt: skip
            session.flush()  # the membership's foreign key needs the held account's row
        session.commit()
    assert _users(container, "flushed@example.com") == 1


def test_taken_rows_are_the_callers_and_an_error_drops_what_is_held(container: Container) -> None:
    with container.session_factory() as session:
        with holding_inserts(session):
            insert_now(session, taken := _user("taken@example.com"))
            held = take_held(session)
            assert [(table.name, row["email"]) for table, row in held] == [("users", "taken@example.com")]
            assert held[0][1]["id"] == taken.id
        with pytest.raises(RuntimeError), holding_inserts(session):
            insert_now(session, _user("dropped@example.com"))
            raise RuntimeError("the block failed")
        session.commit()
    assert _users(container, "taken@example.com", "dropped@example.com") == 0
