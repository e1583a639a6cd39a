"""On PostgreSQL: workers creating the first signing key, or rotating, at once leave exactly one current and
one next key (the platform chain's lock orders them; partial unique indexes are the backstop); no rotation is
lost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from app.container import Container
from app.db import transaction
from app.tokens.models import SigningKey
from tests.support import container_on, run_together

pytestmark = pytest.mark.postgres


@pytest.fixture
def racing(pg_database: str, tmp_path: Path) -> Iterator[Container]:
    c = container_on(pg_database, tmp_path, pool_size=10)
    yield c
    c.engine.dispose()


def states(c: Container) -> list[str]:
    with c.session_factory() as session:
        return sorted(session.scalars(select(SigningKey.state)))


def test_first_use_from_many_workers_makes_one_key(racing: Container) -> None:
    def first_key() -> str:
        with transaction(racing.session_factory) as session:
            return racing.services(session).keyring.signing_material().kid

    outcomes = run_together([first_key] * 8)
    assert len(outcomes) == 1 and sum(outcomes.values()) == 8, outcomes  # everyone signs with the same kid
    assert states(racing) == ["current", "next"]


def test_concurrent_rotations_each_take_effect_in_turn(racing: Container) -> None:
    def rotate() -> None:
        with transaction(racing.session_factory) as session:
            racing.services(session).keyring.rotate(reason="manual")

    outcomes = run_together([rotate] * 6)
    assert outcomes == {"ok": 6}, outcomes
    assert states(racing) == ["current", "next"] + ["previous"] * 5
