"""The personal-field core: which values are personal and whose, and sealing (app/audit/personal.py)."""

from __future__ import annotations

import os

import pytest

from app.audit.personal import (
    ERASED,
    UNREADABLE,
    PersonalValue,
    Subject,
    commitment,
    personal_values,
    reveal,
    seal,
    set_path,
    unseal,
)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # A user actor's name is the user's; an API key's name is not personal.
        ({"actor": {"type": "user", "id": "usr_a", "name": "Ann"}}, [("actor.name", "user", "usr_a")]),
        ({"actor": {"type": "api_key", "id": "key_1", "name": "ci"}}, []),
        # A user target's name is the user's; an invitation's is its address's; an org's is not personal.
        (
            {
                "targets": [
                    {"type": "user", "id": "usr_b", "name": "b@x.test"},
                    {"type": "org", "id": "o", "name": "O"},
                ]
            },
            [("targets.0.name", "user", "usr_b")],
        ),
        (
            {"targets": [{"type": "invitation", "id": "inv_1", "name": "C@X.test "}]},
            [("targets.0.name", "email", "c@x.test")],
        ),
        # data/changes values belong to the one user target, else to the address.
        (
            {"targets": [{"type": "user", "id": "usr_d"}], "data": {"user_name": "dd", "role": "admin"}},
            [("data.user_name", "user", "usr_d")],
        ),
        ({"data": {"email": "E@x.test"}}, [("data.email", "email", "e@x.test")]),
        (
            {"changes": {"notify_email": {"before": None, "after": "f@x.test"}}},
            [("changes.notify_email.after", "email", "f@x.test")],
        ),
        # Tokens (already sealed) are never sealed again.
        ({"actor": {"type": "user", "id": "usr_a", "name": "pii1.abc"}}, []),
    ],
)
def test_personal_values(fields: dict, expected: list[tuple[str, str, str]]) -> None:
    found = [(v.path, v.subject.kind, v.subject.ref) for v in personal_values(fields)]
    assert found == expected


def test_seal_then_reveal_and_erase() -> None:
    key = os.urandom(32)
    token, entry = seal("k1", key, "Ann Example")
    assert token.startswith("pii1.") and "Ann" not in str(entry)
    opened = unseal(entry, key)
    assert opened.value == "Ann Example" and opened.salt is not None
    assert unseal(entry, None).value == ERASED  # the key was destroyed
    assert unseal(entry, os.urandom(32)).value == UNREADABLE  # another key
    moved = {**entry, "t": commitment(os.urandom(16), "Ann Example")}  # ciphertext moved to another token
    assert unseal(moved, key).value == UNREADABLE

    fields = {"actor": {"name": token}, "targets": [], "changes": {}, "data": {}}
    proofs = reveal(fields, {"actor.name": entry}, {"k1": key})
    assert fields["actor"]["name"] == "Ann Example" and proofs["actor.name"]["token"] == token
    fields2 = {"actor": {"name": token}, "targets": [], "changes": {}, "data": {}}
    assert reveal(fields2, {"actor.name": entry}, {}) == {"actor.name": {"token": token}}
    assert fields2["actor"]["name"] == ERASED


def test_set_path_walks_lists_and_dicts() -> None:
    fields = {"targets": [{"name": "a"}, {"name": "b"}], "changes": {"email": {"before": "x"}}}
    set_path(fields, "targets.1.name", "B")
    set_path(fields, "changes.email.before", "X")
    assert fields == {"targets": [{"name": "a"}, {"name": "B"}], "changes": {"email": {"before": "X"}}}
    assert PersonalValue("p", Subject("user", "u"), "v").subject.kind == "user"
