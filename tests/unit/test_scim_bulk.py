"""The pure Bulk core (RFC 7644 §3.7): request shape, bulkId references and ordering, failOnErrors."""

from __future__ import annotations

from typing import Any

import pytest

from app.errors import AppError, NotFound
from app.scim import bulk
from app.scim.errors import ScimError

REQ = bulk.BULK_REQUEST


def _req(*ops: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"schemas": [REQ], "Operations": list(ops), **extra}


def _post(bulk_id: str, resource: str = "Users", **data: Any) -> dict[str, Any]:
    return {"method": "POST", "path": f"/{resource}", "bulkId": bulk_id, "data": data}


@pytest.mark.parametrize(
    ("body", "scim_type"),
    [
        ({"Operations": [_post("a")]}, "invalidSyntax"),
        (_req(), "invalidSyntax"),
        (_req({"method": "GET", "path": "/Users/x"}), "invalidValue"),
        (_req({"method": "POST", "path": "/Users", "data": {}}), "invalidValue"),  # no bulkId
        (_req({"method": "PUT", "path": "/Users", "data": {}}), "invalidValue"),  # no id
        (_req({"method": "POST", "path": "/Users/x", "bulkId": "a", "data": {}}), "invalidValue"),
        (_req({"method": "DELETE", "path": "/Schemas/x"}), "invalidValue"),
        (_req(_post("a"), _post("a")), "invalidValue"),
        (_req(_post("a"), failOnErrors=0), "invalidValue"),
        (_req(_post("a"), failOnErrors=True), "invalidValue"),
        (_req({"method": "PATCH", "path": "/Users/x", "data": "nope"}), "invalidValue"),
    ],
)
def test_malformed_requests_are_refused_with_their_scim_type(body: dict[str, Any], scim_type: str) -> None:
    with pytest.raises(ScimError) as caught:
        bulk.parse(body)
    assert caught.value.scim_type == scim_type


def test_past_max_operations_is_413_too_many() -> None:
    with pytest.raises(bulk.TooManyOperations) as caught:
        bulk.parse(_req(*[_post(f"b{i}") for i in range(4)]), max_operations=3)
    assert caught.value.status == 413 and caught.value.scim_type == "tooMany"
    assert len(bulk.parse(_req(*[_post(f"b{i}") for i in range(3)]), max_operations=3).operations) == 3


class FakeStore:
    """Stands in for the service: numbers created resources and records what it was asked, in order."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.fail = fail or set()

    def __call__(self, op: bulk.Operation) -> bulk.Outcome:
        self.calls.append((op.method, op.path if op.target is None else str(op.target), op.data))
        if op.bulk_id in self.fail or (op.target and op.target in self.fail):
            raise NotFound("nope")
        if op.method == "POST":
            new_id = f"id{len(self.calls)}"
            return bulk.Outcome(
                201, f"/{op.resource}/{new_id}", {"id": new_id, "meta": {"version": 'W/"1"'}}, new_id
            )
        return bulk.Outcome(204 if op.method == "DELETE" else 200)


def test_bulk_ids_resolve_in_member_values_and_paths_even_when_the_creator_comes_later() -> None:
    request = bulk.parse(
        _req(
            _post(
                "team",
                "Groups",
                displayName="T",
                members=[{"value": "bulkId:alice"}, {"value": "bulkId:bob"}],
            ),
            _post("alice", userName="alice@x"),
            {"method": "PATCH", "path": "/Users/bulkId:bob", "data": {"Operations": []}},
            _post("bob", userName="bob@x"),
        )
    )
    store = FakeStore()
    response = bulk.run(request, store)
    # The group waited for both users; bob's PATCH waited for bob.
    assert [(c[0], (c[2] or {}).get("userName") or (c[2] or {}).get("displayName")) for c in store.calls] == [
        ("POST", "alice@x"),
        ("POST", "bob@x"),
        ("POST", "T"),
        ("PATCH", None),
    ]
    group_call = next(c for c in store.calls if c[2] and c[2].get("displayName"))
    created = {c[2].get("userName"): f"id{i + 1}" for i, c in enumerate(store.calls) if c[0] == "POST"}
    assert group_call[2]["members"] == [{"value": created["alice@x"]}, {"value": created["bob@x"]}]
    assert store.calls[-1][1] == created["bob@x"]
    results = response["Operations"]
    assert response["schemas"] == [bulk.BULK_RESPONSE]
    assert [r["bulkId"] for r in results if "bulkId" in r] == ["team", "alice", "bob"]  # request order
    assert results[0]["status"] == "201" and results[0]["location"].startswith("/Groups/")
    assert results[0]["version"] == 'W/"1"' and results[0]["response"]["id"]
    assert results[2] == {"method": "PATCH", "status": "200"}


def test_a_reference_to_a_failed_or_unknown_bulk_id_is_409_for_that_operation_only() -> None:
    request = bulk.parse(
        _req(
            _post("alice", userName="a"),
            _post("team", "Groups", displayName="T", members=[{"value": "bulkId:alice"}]),
            {"method": "DELETE", "path": "/Users/bulkId:ghost"},
        )
    )
    response = bulk.run(request, FakeStore(fail={"alice"}))
    statuses = [r["status"] for r in response["Operations"]]
    assert statuses == ["404", "409", "409"]
    assert response["Operations"][1]["response"]["schemas"] == [bulk.ERROR_SCHEMA]
    assert "alice" in response["Operations"][1]["response"]["detail"]
    assert response["Operations"][2]["location"] == "/Users/bulkId:ghost"


def test_fail_on_errors_stops_after_that_many_errors() -> None:
    ops = [{"method": "DELETE", "path": f"/Users/u{i}"} for i in range(5)]
    store = FakeStore(fail={"u0", "u1", "u3"})
    response = bulk.run(bulk.parse(_req(*ops, failOnErrors=2)), store)
    assert [r["status"] for r in response["Operations"]] == ["404", "404"]
    assert len(store.calls) == 2
    everything = bulk.run(bulk.parse(_req(*ops)), FakeStore(fail={"u0", "u1", "u3"}))
    assert [r["status"] for r in everything["Operations"]] == ["404", "404", "204", "404", "204"]


def test_a_cycle_fails_as_unresolved_rather_than_creating_half_of_it() -> None:
    request = bulk.parse(
        _req(
            _post("g1", "Groups", displayName="1", members=[{"value": "bulkId:g2"}]),
            _post("g2", "Groups", displayName="2", members=[{"value": "bulkId:g1"}]),
        )
    )
    response = bulk.run(request, FakeStore())
    assert [r["status"] for r in response["Operations"]] == ["409", "409"]
    assert all("bulkId" in r["response"]["detail"] for r in response["Operations"])


def test_errors_raised_by_execute_are_typed_app_errors_only() -> None:
    def explode(_op: bulk.Operation) -> bulk.Outcome:
        raise RuntimeError("a bug, not a refusal")

    with pytest.raises(RuntimeError):
        bulk.run(bulk.parse(_req(_post("a"))), explode)
    assert issubclass(bulk.UnresolvedReference, AppError)
