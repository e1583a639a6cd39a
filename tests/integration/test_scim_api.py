"""/scim/v2 end to end: discovery, Users and Groups lifecycles, lists, projection, ETags, errors."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from app.container import Container
from tests.integration.scim_client import SCIM_JSON, Scim, make_scim_token

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def scim(client: FlaskClient, container: Container, org: dict[str, Any]) -> Scim:
    return Scim(client, make_scim_token(container, org["id"]))


def new_user(user_name: str, **extra: Any) -> dict[str, Any]:
    return {
        "schemas": [USER],
        "userName": user_name,
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        **extra,
    }


def test_discovery_describes_what_is_stored(scim: Scim) -> None:
    config = scim.get("/ServiceProviderConfig")
    assert config.status_code == 200 and config.mimetype == SCIM_JSON
    assert config.json["patch"]["supported"] and config.json["bulk"]["supported"]
    assert config.json["bulk"]["maxOperations"] == 1000 and config.json["bulk"]["maxPayloadSize"] == 1048576
    types = scim.get("/ResourceTypes").json["Resources"]
    assert {t["id"]: t["schema"] for t in types} == {"User": USER, "Group": GROUP}
    schemas = {s["id"]: s for s in scim.get("/Schemas").json["Resources"]}
    assert set(schemas) == {USER, ENTERPRISE, GROUP}
    user_attrs = {a["name"] for a in schemas[USER]["attributes"]}
    assert "password" not in user_attrs and {"userName", "active", "emails"} <= user_attrs
    assert scim.get(f"/Schemas/{ENTERPRISE}").json["id"] == ENTERPRISE
    assert scim.get("/Schemas/urn:nope").status_code == 404


def test_user_lifecycle(scim: Scim) -> None:
    created = scim.post(
        "/Users",
        new_user(
            "bjensen@example.com",
            externalId="701984",
            password="t1meMa$heen",
            locale="en-US",
            groups=[],
            **{ENTERPRISE: {"employeeNumber": "701984", "department": "Tours"}},
        ),
    )
    assert created.status_code == 201, created.json
    body = created.json
    assert created.headers["Location"] == body["meta"]["location"]
    assert created.headers["ETag"] == body["meta"]["version"] and body["meta"]["version"].startswith('W/"')
    assert "password" not in body and body["active"] is True
    assert body[ENTERPRISE] == {"employeeNumber": "701984", "department": "Tours"}
    uid = body["id"]

    got = scim.get(f"/Users/{uid}")
    assert got.json == body
    assert scim.get(f"/Users/{uid}", headers={"If-None-Match": body["meta"]["version"]}).status_code == 304

    # Okta: existence check, then full PUT
    found = scim.get('/Users?filter=userName eq "BJENSEN@example.com"&startIndex=1&count=100').json
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == uid
    put = scim.put(f"/Users/{uid}", {**new_user("bjensen@example.com"), "title": "Guide"})
    assert put.status_code == 200 and put.json["title"] == "Guide" and "externalId" not in put.json
    assert (
        scim.put(
            f"/Users/{uid}", new_user("bjensen@example.com"), headers={"If-Match": body["meta"]["version"]}
        ).status_code
        == 412
    )

    # deactivate (path-less replace), then Entra's string boolean reactivates
    off = scim.patch(
        f"/Users/{uid}", {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]}
    )
    assert off.status_code == 200 and off.json["active"] is False
    on = scim.patch(
        f"/Users/{uid}",
        {"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "True"}]},
    )
    assert on.json["active"] is True

    assert scim.post("/Users", new_user("bjensen@example.com")).json["scimType"] == "uniqueness"
    assert scim.delete(f"/Users/{uid}").status_code == 204
    gone = scim.get(f"/Users/{uid}")
    assert gone.status_code == 404 and gone.json["status"] == "404" and gone.mimetype == SCIM_JSON


def test_lists_filter_sort_page_and_project(scim: Scim) -> None:
    ids = [scim.post("/Users", new_user(f"u{i}@example.com")).json["id"] for i in range(3)]
    page = scim.get("/Users?sortBy=userName&sortOrder=descending&startIndex=2&count=1").json
    assert page["totalResults"] == 3 and page["startIndex"] == 2 and page["itemsPerPage"] == 1
    assert page["Resources"][0]["userName"] == "u1@example.com"
    assert scim.get("/Users?count=0").json == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 3,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": [],
    }
    only = scim.get(f"/Users/{ids[0]}?attributes=name.familyName").json
    assert set(only) == {"schemas", "id", "userName", "name"} and only["name"] == {"familyName": "Jensen"}
    without = scim.get(f"/Users/{ids[0]}?excludedAttributes=name,emails").json
    assert "name" not in without and "emails" not in without and without["id"] == ids[0]
    search = scim.post(
        "/Users/.search",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'emails[type eq "work"].value eq "u2@example.com"',
        },
    )
    assert [r["id"] for r in search.json["Resources"]] == [ids[2]]
    # Entra's test connection: a random userName finds nothing, and says so with 200
    empty = scim.get('/Users?filter=userName eq "3f1a0d1e-5a8b-4c1b-9c57-0d4f3a2b1c0e"')
    assert empty.status_code == 200 and empty.json["totalResults"] == 0
    bad = scim.get('/Users?filter=nickName eq "x"')
    assert bad.status_code == 400 and bad.json["scimType"] == "invalidFilter"


def test_group_lifecycle_with_okta_and_entra_shapes(scim: Scim) -> None:
    a, b, c = (scim.post("/Users", new_user(f"{n}@example.com")).json["id"] for n in "abc")
    created = scim.post(
        "/Groups",
        {
            "schemas": [GROUP, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
            "displayName": "Tour Guides",
            "externalId": "g-1",
            "members": [{"value": a}],
        },
    )
    assert created.status_code == 201, created.json
    gid = created.json["id"]
    assert [m["value"] for m in created.json["members"]] == [a]

    push = scim.patch(
        f"/Groups/{gid}",
        {
            "schemas": [PATCH],
            "Operations": [
                {"op": "remove", "path": f'members[value eq "{a}"]'},
                {"op": "add", "path": "members", "value": [{"value": b}, {"value": c}]},
            ],
        },
    )
    assert push.status_code == 200 and {m["value"] for m in push.json["members"]} == {b, c}
    entra = scim.patch(
        f"/Groups/{gid}",
        {"schemas": [PATCH], "Operations": [{"op": "Remove", "path": "members", "value": [{"value": b}]}]},
    )
    assert [m["value"] for m in entra.json["members"]] == [c]
    rename = scim.patch(
        f"/Groups/{gid}",
        {
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "value": {"id": gid, "displayName": "Guides"}}],
        },
    )
    assert rename.json["displayName"] == "Guides"
    assert "members" not in scim.get(f"/Groups/{gid}?excludedAttributes=members").json
    assert scim.get(f"/Users/{c}").json["groups"][0]["value"] == gid
    listed = scim.get('/Groups?filter=displayName eq "guides"&excludedAttributes=members').json
    assert listed["totalResults"] == 1 and "members" not in listed["Resources"][0]
    cleared = scim.patch(
        f"/Groups/{gid}",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "members", "value": []}]},
    )
    assert "members" not in cleared.json
    assert scim.delete(f"/Groups/{gid}").status_code == 204
    assert scim.get(f"/Groups/{gid}").status_code == 404


def test_errors_are_scim_bodies(scim: Scim, client: FlaskClient) -> None:
    unauth = client.get("/scim/v2/Users")
    assert unauth.status_code == 401 and unauth.json["status"] == "401" and unauth.mimetype == SCIM_JSON
    bad_patch = scim.patch(
        "/Users/mem_nope",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": "x"}]},
    )
    assert bad_patch.status_code == 404
    assert scim.post("/Users", {"schemas": [USER]}).json["scimType"] == "invalidValue"
    syntax = scim.client.post(
        "/scim/v2/Users", data="{", content_type=SCIM_JSON, headers={"Authorization": f"Bearer {scim.token}"}
    )
    assert syntax.status_code == 400 and syntax.json["scimType"] == "invalidSyntax"
