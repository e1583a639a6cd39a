"""What a pool reports, as a truth table: available never negative, over_limit only strictly above."""

from __future__ import annotations

import pytest

from app.errors import ValidationFailed
from app.orgs.seats import PoolStatus, check_seat_type


@pytest.mark.parametrize(
    ("limit", "used", "available", "over_limit"),
    [
        (0, 0, 0, False),
        (10, 0, 10, False),
        (10, 9, 1, False),
        (10, 10, 0, False),  # full, not over: new seats are refused, nothing to report
        (1, 3, 0, True),  # billing lowered the limit below use: nobody evicted
        (0, 1, 0, True),
    ],
)
def test_pool_status(limit: int, used: int, available: int, over_limit: bool) -> None:
    status = PoolStatus("pro", limit, used)
    assert (status.available, status.over_limit) == (available, over_limit)


@pytest.mark.parametrize("seat_type", ["Pro", "enterprise", "", " pro"])
def test_unknown_seat_types_name_the_field(seat_type: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_seat_type(seat_type, field="seat_type")
    assert caught.value.extra["errors"][0]["field"] == "seat_type"


def test_known_seat_type_passes() -> None:
    assert check_seat_type("pro") == "pro"
