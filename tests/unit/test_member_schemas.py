from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.orgs.member_schemas import MemberListQuery, MemberUpdate


def test_list_query_defaults_and_coercion() -> None:
    q = MemberListQuery.model_validate({"limit": "7", "q": "  ann "})
    assert (q.limit, q.q, q.cursor, q.role, q.status) == (7, "ann", None, None, None)
    assert MemberListQuery.model_validate({}).limit == 50


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"status": "deleted"}, "status"),
        ({"q": "a\u0000b"}, "q"),
        ({"role": "own\ner"}, "role"),
        ({"page": "2"}, "page"),
    ],
)
def test_list_query_refuses(data: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        MemberListQuery.model_validate(data)
    assert caught.value.errors()[0]["loc"] == (field,)


def test_update_accepts_either_field_and_refuses_others() -> None:
    assert MemberUpdate.model_validate({"status": "suspended"}).role is None
    with pytest.raises(ValidationError):
        MemberUpdate.model_validate({"seat_type": "pro"})
    with pytest.raises(ValidationError):
        MemberUpdate.model_validate({"status": "paused"})
