"""A prebuilt INSERT (app/prebuilt_insert.py) stores what a Core ``insert()`` stores (JSON, UTC times, NULLs),
one row or many, and its refusals are SQLAlchemy's, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError

from app.container import Container
from app.db import transaction
from app.ids import new_id
from app.orgs.models import Membership, User
from app.prebuilt_insert import PrebuiltInsert

USERS = cast(Table, User.__table__)
MEMBERSHIPS = cast(Table, Membership.__table__)


def _org(container: Container) -> str:
    with transaction(container.session_factory) as session:
        return container.services(session).orgs.create("Prebuilt").id


def _user(email: str, at: datetime) -> dict[str, Any]:
    return {
        "id": new_id("usr"),
        "email": email,
        "name": None,
        "created_at": at,
        "updated_at": at,
        "deleted_at": None,
    }


def _member(org_id: str, user_id: str, attributes: dict[str, Any], at: datetime) -> dict[str, Any]:
    row = {c.key: None for c in MEMBERSHIPS.columns}
    return row | {
        "id": new_id("mem"),
        "org_id": org_id,
        "user_id": user_id,
        "role": "member",
        "status": "active",
        "source": "scim",
        "user_name": f"{user_id}@example.com",
        "attributes": attributes,
        "created_at": at,
        "updated_at": at,
    }


def _stored(container: Container, table: Table, ids: list[str]) -> list[dict[str, Any]]:
    with container.engine.connect() as conn:
        rows = conn.execute(select(table).where(table.c.id.in_(ids)).order_by(table.c.id)).mappings()
        return [{k: v for k, v in row.items() if k != "id"} for row in rows]


def test_it_stores_what_a_core_insert_stores(container: Container) -> None:
    org_id = _org(container)
    # An aware time not in UTC, a nested JSON value with what JSON escapes, a NULL column.
    at = datetime(2026, 12, 3, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    attributes = {
        "name": {"givenName": "Zoë", "quote": 'a "b" \\ c'},
        "emails": [{"primary": True}],
        "n": None,
    }
    ours = [_user(f"p{i}@example.com", at) for i in range(3)]
    core = [_user(f"c{i}@example.com", at) for i in range(3)]
    with container.engine.begin() as conn:
        PrebuiltInsert(USERS).execute(conn, ours)  # many rows: one executemany
        conn.execute(insert(USERS), core)
        PrebuiltInsert(MEMBERSHIPS).execute(conn, [_member(org_id, ours[0]["id"], attributes, at)])  # one
        conn.execute(insert(MEMBERSHIPS), _member(org_id, core[0]["id"], attributes, at))
    mine = _stored(container, USERS, [u["id"] for u in ours])
    theirs = _stored(container, USERS, [u["id"] for u in core])
    assert [{k: v for k, v in r.items() if k != "email"} for r in mine] == [
        {k: v for k, v in r.items() if k != "email"} for r in theirs
    ]
    assert sorted(r["email"] for r in mine) == [f"p{i}@example.com" for i in range(3)]
    assert mine[0]["created_at"] == at.astimezone(UTC)  # the UTC type's own conversion, both ways
    (member,) = _stored(container, MEMBERSHIPS, [m for m in _ids(container, ours[0]["id"])])
    (reference,) = _stored(container, MEMBERSHIPS, [m for m in _ids(container, core[0]["id"])])
    assert member["attributes"] == reference["attributes"] == attributes
    assert {k: v for k, v in member.items() if k not in ("user_id", "user_name")} == {
        k: v for k, v in reference.items() if k not in ("user_id", "user_name")
    }


def _ids(container: Container, user_id: str) -> list[str]:
    with container.engine.connect() as conn:
        return list(conn.scalars(select(MEMBERSHIPS.c.id).where(MEMBERSHIPS.c.user_id == user_id)))


def test_a_refusal_is_sqlalchemys_integrity_error(container: Container) -> None:
    at = datetime.now(UTC)
    row = _user("twice@example.com", at)
    with container.engine.begin() as conn:
        PrebuiltInsert(USERS).execute(conn, [row])
    with pytest.raises(IntegrityError), container.engine.begin() as conn:
        PrebuiltInsert(USERS).execute(conn, [row | {"id": new_id("usr")}])  # the same email


def test_a_row_without_a_column_is_refused_before_anything_is_sent(container: Container) -> None:
    row = _user("short@example.com", datetime.now(UTC))
    del row["deleted_at"]
    with pytest.raises(KeyError), container.engine.begin() as conn:
        PrebuiltInsert(USERS).execute(conn, [row])
    with container.engine.connect() as conn:
        assert conn.scalar(select(USERS.c.id).where(USERS.c.email == "short@example.com")) is None


def test_some_columns_only_and_nothing_for_no_rows(container: Container) -> None:
    prebuilt = PrebuiltInsert(USERS, ["id", "email", "created_at", "updated_at"])
    at = datetime.now(UTC)
    with container.engine.begin() as conn:
        prebuilt.execute(conn, [])
        prebuilt.execute(
            conn, [{"id": new_id("usr"), "email": "few@example.com", "created_at": at, "updated_at": at}]
        )
        assert conn.scalar(select(USERS.c.name).where(USERS.c.email == "few@example.com")) is None
