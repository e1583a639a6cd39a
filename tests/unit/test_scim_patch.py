"""PATCH (RFC 7644 §3.5.2) over recorded request shapes: the RFC's samples and what Okta and Entra ID send.

Each file under tests/fixtures/scim/patch/ holds a resource, a PatchOp request and either the resource
expected afterwards or the scimType expected.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from app.scim import patch
from app.scim.errors import ScimError
from app.scim.schema import GROUP_TYPE, USER_TYPE

CASES = sorted((Path(__file__).parent.parent / "fixtures" / "scim" / "patch").glob("*.json"))
TYPES = {"User": USER_TYPE, "Group": GROUP_TYPE}


def _load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = json.loads(path.read_text())
    return case


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_recorded_patch(path: Path) -> None:
    case = _load(path)
    before = copy.deepcopy(case["resource"])
    rtype = TYPES[case["rtype"]]
    if "error" in case:
        with pytest.raises(ScimError) as raised:
            patch.apply(case["resource"], patch.parse_operations(case["request"]), rtype)
        assert raised.value.scim_type == case["error"]
    else:
        after = patch.apply(case["resource"], patch.parse_operations(case["request"]), rtype)
        assert after == case["expected"]
    assert case["resource"] == before  # the input is never changed, even half-way


def test_there_are_rfc_okta_and_entra_cases() -> None:
    prefixes = {p.stem.split("-")[0] for p in CASES}
    assert {"rfc7644", "okta", "entra"} <= prefixes


@pytest.mark.parametrize(
    ("body", "scim_type"),
    [
        ([], "invalidSyntax"),
        ({"Operations": [{"op": "add", "path": "title", "value": "x"}]}, "invalidSyntax"),
        ({"schemas": [patch.PATCH_OP], "Operations": []}, "invalidSyntax"),
        ({"schemas": [patch.PATCH_OP], "Operations": [{"op": "add", "path": "title"}]}, "invalidValue"),
        ({"schemas": [patch.PATCH_OP], "Operations": [{"op": "add", "path": "", "value": 1}]}, "invalidPath"),
    ],
)
def test_malformed_patch_bodies(body: Any, scim_type: str) -> None:
    with pytest.raises(ScimError) as raised:
        patch.parse_operations(body)
    assert raised.value.scim_type == scim_type


@pytest.mark.parametrize(
    ("path", "attribute", "sub", "filtered"),
    [
        ("title", "title", None, False),
        ("NAME.givenname", "name", "givenName", False),
        ('emails[type eq "work"].value', "emails", "value", True),
        ('members[value eq "x"]', "members", None, True),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            "manager",
            "value",
            False,
        ),
        ("urn:ietf:params:scim:schemas:core:2.0:User:userName", "userName", None, False),
    ],
)
def test_paths_resolve_case_insensitively(path: str, attribute: str, sub: str | None, filtered: bool) -> None:
    target = patch.resolve(USER_TYPE if "members" not in path else GROUP_TYPE, path)
    assert target.attribute.name == attribute
    assert (target.sub.name if target.sub else None) == sub
    assert (target.filter is not None) == filtered


@pytest.mark.parametrize(
    "path", ['emails[type eq "work"', "name.givenName.x", 'title[value eq "x"]', "urn:x:y:title", "emails]"]
)
def test_bad_paths_are_invalid_path(path: str) -> None:
    with pytest.raises(ScimError) as raised:
        patch.resolve(USER_TYPE, path)
    assert raised.value.scim_type == "invalidPath"


def test_only_one_primary_value_remains() -> None:
    resource = {"userName": "a@x", "active": True, "emails": [{"value": "a@x", "primary": True}]}
    ops = patch.parse_operations(
        {
            "schemas": [patch.PATCH_OP],
            "Operations": [{"op": "add", "path": "emails", "value": [{"value": "b@x", "primary": True}]}],
        }
    )
    after = patch.apply(resource, ops, USER_TYPE)
    assert [e.get("primary") for e in after["emails"]] == [False, True]
