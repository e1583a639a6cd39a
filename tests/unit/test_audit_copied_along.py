"""The recorder seals personal values in a copy of the event's fields made only along the sealed paths
(``app.audit.recorder._copied_along``): the clear fields (the bus's) stay as they were, and what no path
goes through is shared, not copied."""

from __future__ import annotations

import copy
from typing import Any

from app.audit.personal import set_path
from app.audit.recorder import _copied_along


def _fields() -> dict[str, Any]:
    return {
        "actor": {"type": "user", "id": "usr_1", "name": "Ada"},
        "targets": [{"type": "member", "id": "mem_1"}, {"type": "user", "id": "usr_2", "name": "b@x.io"}],
        "changes": {"email": {"before": "a@x.io", "after": "b@x.io"}},
        "data": {"email": "b@x.io", "groups": [{"id": "g1"}], "nested": {"deep": {"email": "c@x.io"}}},
    }


def test_setting_the_paths_in_the_copy_leaves_the_fields_as_they_were() -> None:
    fields = _fields()
    before = copy.deepcopy(fields)
    paths = ["actor.name", "targets.1.name", "changes.email.before", "data.email", "data.nested.deep.email"]
    stored = _copied_along(fields, paths)
    for path in paths:
        set_path(stored, path, "tok")
    assert fields == before
    assert stored["actor"] == {"type": "user", "id": "usr_1", "name": "tok"}
    assert stored["targets"][1]["name"] == "tok" and stored["targets"][0] == before["targets"][0]
    assert stored["changes"]["email"] == {"before": "tok", "after": "b@x.io"}
    assert stored["data"]["email"] == "tok" and stored["data"]["nested"] == {"deep": {"email": "tok"}}


def test_what_no_path_goes_through_is_shared() -> None:
    fields = _fields()
    stored = _copied_along(fields, ["data.email", "targets.1.name"])
    assert stored is not fields and stored["data"] is not fields["data"]
    assert stored["targets"] is not fields["targets"] and stored["targets"][1] is not fields["targets"][1]
    assert stored["actor"] is fields["actor"] and stored["changes"] is fields["changes"]
    assert stored["targets"][0] is fields["targets"][0]
    assert stored["data"]["groups"] is fields["data"]["groups"]


def test_two_paths_through_one_container_copy_it_once() -> None:
    fields = _fields()
    stored = _copied_along(fields, ["changes.email.before", "changes.email.after"])
    set_path(stored, "changes.email.before", "t1")
    set_path(stored, "changes.email.after", "t2")
    assert stored["changes"]["email"] == {"before": "t1", "after": "t2"}
    assert fields["changes"]["email"] == {"before": "a@x.io", "after": "b@x.io"}
