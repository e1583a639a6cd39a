"""The pure SCIM resource layer: what is stored of a User body, and the attributes/excludedAttributes
projection (RFC 7644 §3.9)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from app.scim.errors import ScimError
from app.scim.resources import UserRow, project, user_fields, user_resource, version_of
from app.scim.schema import ENTERPRISE_USER, GROUP_TYPE, USER, USER_TYPE

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "email", "user_name_kept"),
    [
        ({"userName": "Ann@Example.COM"}, "ann@example.com", "Ann@Example.COM"),
        (
            {
                "userName": "ann",
                "emails": [
                    {"value": "home@x.example", "type": "home"},
                    {"value": "Work@X.example", "type": "work"},
                ],
            },
            "work@x.example",
            "ann",
        ),
        (
            {
                "userName": "ann",
                "emails": [
                    {"value": "p@x.example", "primary": True},
                    {"value": "w@x.example", "type": "work"},
                ],
            },
            "p@x.example",
            "ann",
        ),
    ],
)
def test_the_account_email_is_the_username_or_the_best_email(
    body: dict[str, Any], email: str, user_name_kept: str
) -> None:
    fields = user_fields({"schemas": [USER], **body}, USER_TYPE)
    assert fields.email == email
    assert fields.user_name == user_name_kept


def test_no_email_at_all_gives_an_unreachable_account() -> None:
    fields = user_fields({"userName": "bjensen"}, USER_TYPE)
    assert (
        fields.email.endswith("@invalid")
        and fields.email != user_fields({"userName": "bjensen"}, USER_TYPE).email
    )


def test_what_is_stored_of_a_user_body() -> None:
    fields = user_fields(
        {
            "schemas": [USER, ENTERPRISE_USER, "urn:example:unknown"],
            "userName": "a@x.example",
            "password": "secret",  # never stored
            "groups": [{"value": "grp_1"}],  # read-only: ignored
            "id": "mem_other",
            "active": "False",
            "externalId": "E-1",
            "Title": "Boss",
            "shoeSize": 9,  # not stored: ignored on POST/PUT
            ENTERPRISE_USER: {"manager": "mgr-1", "department": "Sales"},
        },
        USER_TYPE,
    )
    assert fields.active is False and fields.external_id == "E-1"
    assert fields.attributes == {
        "title": "Boss",
        ENTERPRISE_USER: {"manager": {"value": "mgr-1"}, "department": "Sales"},
    }


def test_user_name_is_required() -> None:
    with pytest.raises(ScimError):
        user_fields({"userName": "  "}, USER_TYPE)


def _user() -> dict[str, Any]:
    row = UserRow(
        id="mem_1",
        user_name="a@x.example",
        external_id="E-1",
        active=True,
        attributes={
            "name": {"givenName": "A", "familyName": "B"},
            "title": "T",
            ENTERPRISE_USER: {"department": "Sales", "employeeNumber": "7"},
        },
        created_at=NOW,
        updated_at=NOW,
        groups=[("grp_1", "G")],
    )
    return user_resource(row, "https://t.example/scim/v2")


def test_a_user_resource() -> None:
    user = _user()
    assert user["schemas"] == [USER, ENTERPRISE_USER]
    assert user["meta"]["location"] == "https://t.example/scim/v2/Users/mem_1"
    assert user["meta"]["version"] == version_of(NOW) and version_of(NOW).startswith('W/"')
    assert user["groups"][0]["$ref"] == "https://t.example/scim/v2/Groups/grp_1"


@pytest.mark.parametrize(
    ("attributes", "excluded", "keys"),
    [
        ("title", None, {"schemas", "id", "userName", "title"}),
        ("NAME.givenName", None, {"schemas", "id", "userName", "name"}),
        (f"{ENTERPRISE_USER}:department", None, {"schemas", "id", "userName", ENTERPRISE_USER}),
        (
            None,
            "name,title,groups",
            {"schemas", "id", "externalId", "userName", "active", ENTERPRISE_USER, "meta"},
        ),
        (
            None,
            "id,userName",
            {
                "schemas",
                "id",
                "externalId",
                "userName",
                "active",
                "name",
                "title",
                "groups",
                ENTERPRISE_USER,
                "meta",
            },
        ),  # returned "always" cannot be excluded
        (
            None,
            ENTERPRISE_USER,
            {"schemas", "id", "externalId", "userName", "active", "name", "title", "groups", "meta"},
        ),
    ],
)
def test_projection(attributes: str | None, excluded: str | None, keys: set[str]) -> None:
    projected = project(_user(), USER_TYPE, attributes, excluded)
    assert set(projected) == keys
    if attributes == "NAME.givenName":
        assert projected["name"] == {"givenName": "A"}
    if attributes and attributes.endswith(":department"):
        assert projected[ENTERPRISE_USER] == {"department": "Sales"}


def test_projection_on_groups_drops_members() -> None:
    group = {"schemas": ["g"], "id": "grp_1", "displayName": "G", "members": [{"value": "m"}], "meta": {}}
    assert "members" not in project(group, GROUP_TYPE, None, "members")
    assert set(project(group, GROUP_TYPE, "displayName", None)) == {"schemas", "id", "displayName"}
