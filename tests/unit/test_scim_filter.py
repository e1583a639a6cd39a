"""SCIM filters (RFC 7644 §3.4.2.2): each row runs as SQL on SQLite and, where the semantics are the same, as
the in-memory matcher PATCH uses; both must select the expected users.

The users are RFC 7643 §8.2's Barbara Jensen and two others chosen to separate the cases (case of externalId,
LIKE wildcards in a userName, an empty title, an inactive user).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Boolean, Column, DateTime, MetaData, String, Table, create_engine, select
from sqlalchemy.engine import Connection

from app.scim import filter as f
from app.scim.errors import InvalidFilter
from app.scim.schema import ENTERPRISE_USER, USER

USERS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent.parent / "fixtures" / "scim" / "rfc7643-8.2-users.json").read_text()
)
metadata = MetaData()
users = Table(
    "users",
    metadata,
    Column("id", String, primary_key=True),
    Column("external_id", String),
    Column("user_name", String),  # stored folded, as account emails are
    Column("title", String),
    Column("user_type", String),
    Column("active", Boolean),
    Column("family_name", String),
    Column("email", String),
    Column("email_type", String),
    Column("employee_number", String),
    Column("last_modified", DateTime),
)
COLUMNS = {
    "id": f.Column(users.c.id, case="exact"),
    "externalid": f.Column(users.c.external_id, case="exact"),
    "username": f.Column(users.c.user_name, case="folded"),
    "title": f.Column(users.c.title),
    "usertype": f.Column(users.c.user_type),
    "active": f.Column(users.c.active, type="boolean"),
    "name.familyname": f.Column(users.c.family_name),
    "emails.value": f.Column(users.c.email),
    "emails.type": f.Column(users.c.email_type),
    ENTERPRISE_USER.lower() + ":employeenumber": f.Column(users.c.employee_number),
    "meta.lastmodified": f.Column(users.c.last_modified, type="dateTime"),
}


@pytest.fixture(scope="module")
def db() -> Iterator[Connection]:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as conn:
        for u in USERS:
            conn.execute(
                users.insert().values(
                    id=u["id"],
                    external_id=u["externalId"],
                    user_name=u["userName"].lower(),
                    title=u.get("title"),
                    user_type=u["userType"],
                    active=u["active"],
                    family_name=u["name"].get("familyName"),
                    email=u["emails"][0]["value"],
                    email_type=u["emails"][0]["type"],
                    employee_number=u.get(ENTERPRISE_USER, {}).get("employeeNumber"),
                    last_modified=datetime.fromisoformat(u["meta"]["lastModified"].replace("Z", "")),
                )
            )
    with engine.connect() as conn:
        yield conn


B, J, OFF = "2819c223", "a1b2", "c3d4"
E = ENTERPRISE_USER

# (filter, expected ids, whether the in-memory matcher shares the semantics)
ROWS: list[tuple[str, set[str], bool]] = [
    ('userName eq "bjensen@example.com"', {B}, True),
    ('USERNAME Eq "BJensen@Example.COM"', {B}, True),  # names, operators and userName: case-insensitive
    (f'{USER}:userName eq "bjensen@example.com"', {B}, True),
    ('externalId eq "abc"', {OFF}, False),  # caseExact: "ABC" is another user
    ('externalId eq "ABC"', {J}, False),
    ('id eq "2819C223"', set(), False),
    ('id eq "2819c223"', {B}, True),
    ('name.familyName co "ens"', {B}, True),
    ('userName sw "J"', {J}, True),
    ('userName ew "@example.com"', {B}, True),
    ('userName co "%_"', {OFF}, True),  # LIKE wildcards are literal
    ('userName co "_"', {OFF}, True),
    ("title pr", {B}, True),  # an empty string is not present
    ('title pr and userType eq "Employee"', {B}, True),
    ('title pr or userType eq "Intern"', {B, J}, True),
    ('userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")', {B}, True),
    ('userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")', {J}, True),
    ('userType eq "Employee" or userType eq "Intern" and active eq false', {B}, True),  # and binds tighter
    ('(userType eq "Employee" or userType eq "Intern") and active eq true', {B, J}, True),
    ('not (userType eq "Employee") and active eq true', {J}, True),
    ('not userType eq "Employee" and active eq true', {J}, True),
    ('emails[type eq "work" and value co "@acme"]', {J}, True),
    ('emails[type eq "work"].value eq "bjensen@example.com"', {B}, True),  # Entra's shape
    ('emails[type eq "home"].value eq "bjensen@example.com"', set(), True),
    ('meta.lastModified gt "2011-05-13T04:42:34Z"', {B, OFF}, False),
    ('meta.lastModified le "2011-08-01T18:29:49Z"', {B, J}, False),
    ("active eq false", {OFF}, True),
    ('userName ne "jsmith@acme.com"', {B, OFF}, True),
    (f'{E}:employeeNumber eq "701984"', {B}, True),
    (f"{E}:employeeNumber pr", {B}, True),
    ("title eq null", {J}, False),  # in memory, "" is absent too
]


@pytest.mark.parametrize(("text", "expected", "_"), ROWS, ids=[r[0] for r in ROWS])
def test_filter_as_sql(db: Connection, text: str, expected: set[str], _: bool) -> None:
    clause = f.to_sql(f.parse(text), COLUMNS, USER)
    assert set(db.scalars(select(users.c.id).where(clause))) == expected


@pytest.mark.parametrize(
    ("text", "expected"), [(r[0], r[1]) for r in ROWS if r[2]], ids=[r[0] for r in ROWS if r[2]]
)
def test_filter_in_memory(text: str, expected: set[str]) -> None:
    node = f.parse(text)
    assert {u["id"] for u in USERS if f.matches(node, u)} == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "userName eq",
        'userName xx "a"',
        "userName eq bjensen",  # unquoted
        '(userName eq "a"',
        'userName eq "a")',
        'userName eq "a" userType eq "b"',
        'emails[type eq "work"',
        'emails[value[type eq "x"]]',
        'userName eq "a" and',
        "userName eq 'a'",
        "x" * 5000,
    ],
)
def test_malformed_filters(text: str) -> None:
    with pytest.raises(InvalidFilter) as raised:
        f.to_sql(f.parse(text), COLUMNS, USER)
    assert raised.value.scim_type == "invalidFilter"


@pytest.mark.parametrize(
    "text",
    [
        'shoeSize eq "9"',  # not stored: refused, never an empty list
        "active gt true",
        'active eq "true"',
        "userName eq 5",
        'meta.lastModified gt "yesterday"',
        'meta.lastModified co "2011"',
        "userName lt null",
        'emails[type eq "work"].value eq "x" and name[familyName.x eq "y"]',
        'urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "x"',
    ],
)
def test_unsupported_filters(text: str) -> None:
    with pytest.raises(InvalidFilter):
        f.to_sql(f.parse(text), COLUMNS, USER)


def test_lookups_compile_to_plain_column_comparisons() -> None:
    """userName against a folded column keeps the column bare, so its index serves the lookup."""
    sql = str(
        f.to_sql(f.parse('userName eq "A@X"'), COLUMNS, USER).compile(compile_kwargs={"literal_binds": True})
    )
    assert sql == "users.user_name = 'a@x'"
    sql = str(
        f.to_sql(f.parse('externalId eq "A"'), COLUMNS, USER).compile(compile_kwargs={"literal_binds": True})
    )
    assert sql == "users.external_id = 'A'"
