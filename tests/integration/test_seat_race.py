"""The hard limit under concurrency: 50 assignments at once against 10 free seats give exactly 10 seats.

Each attempt is its own transaction on its own connection, released together by a barrier. On PostgreSQL
the pool row (after the org's chain head) is locked before the seats are counted; on SQLite the write lock
taken at ``BEGIN IMMEDIATE`` serialises the same read-count-write. Both must give the same answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app import create_app, migrate
from app.audit.models import AuditEvent
from app.config import Settings
from app.container import Container
from app.db import make_engine, transaction
from app.errors import SeatLimitReached, SeatRequestDecided, SeatRequestPending
from app.orgs.models import Membership
from tests.integration.seating import add_members
from tests.support import run_together

THREADS, SEATS = 50, 10


def race_container(url: str, tmp_path: Path, threads: int) -> Container:
    """A container whose connection pool holds one connection per thread, so none waits for a connection."""
    settings = Settings(
        env="test",
        database_url=url,
        instance_path=tmp_path / "instance",
        secret_key="race-test-secret",
        log_json=False,
        log_level="ERROR",
    )
    sized = url.startswith("postgresql")
    return Container.build(
        settings, engine=make_engine(url, pool_size=threads + 2, max_overflow=0) if sized else None
    )


def seed(container: Container, members: int, seats: int) -> tuple[str, list[str]]:
    """An org with ``seats`` Pro seats and ``members`` seatless members."""
    with transaction(container.session_factory) as session:
        svc = container.services(session)
        org = svc.orgs.create("Race")
        svc.seats.set_limit(org.id, "pro", seats)
        org_id = org.id
    return org_id, [m.id for m in add_members(container, org_id, members)]


def assign_in_own_transaction(container: Container, org_id: str, member_id: str) -> Callable[[], str]:
    def attempt() -> str:
        try:
            with transaction(container.session_factory) as session:
                container.services(session).seats.assign(org_id, member_id, "pro")
        except SeatLimitReached:
            return "limit"
        return "ok"

    return attempt


def holders_and_events(container: Container, org_id: str) -> tuple[int, int, int]:
    with transaction(container.session_factory) as session:
        holders = session.scalar(
            select(func.count()).where(Membership.org_id == org_id, Membership.seat_type == "pro")
        )
        assigned = session.scalar(
            select(func.count()).where(AuditEvent.org_id == org_id, AuditEvent.action == "seat.assigned")
        )
        used = container.services(session).seats.report(org_id)[0].used
    return int(holders or 0), int(assigned or 0), used


@pytest.fixture
def pg_race(pg_database: str, tmp_path: Path) -> Iterator[Container]:
    container = race_container(pg_database, tmp_path, THREADS)
    yield container
    container.engine.dispose()


@pytest.fixture
def sqlite_race(tmp_path: Path) -> Iterator[Container]:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    migrate.upgrade(url)
    container = race_container(url, tmp_path, THREADS)
    yield container
    container.engine.dispose()


@pytest.mark.postgres
def test_50_concurrent_assignments_against_10_seats_on_postgresql(pg_race: Container) -> None:
    org_id, members = seed(pg_race, THREADS, SEATS)
    outcomes = run_together([assign_in_own_transaction(pg_race, org_id, m) for m in members])
    assert outcomes == Counter({"ok": SEATS, "limit": THREADS - SEATS})
    assert holders_and_events(pg_race, org_id) == (SEATS, SEATS, SEATS)


def http_race(container: Container, threads: int, seats: int) -> None:
    """The whole request path from threads: authentication, the boundary's commit, the refusal's problem
    body. One org key per thread, so requests meet at the pool, not at one key's last_used_at row."""
    org_id, members = seed(container, threads, seats)
    with transaction(container.session_factory) as session:
        creds = container.services(session).credentials
        keys = [creds.create_api_key(org_id=org_id, role="admin").secret for _ in members]
    app = create_app(container.settings, container)

    def put_seat(client: FlaskClient, member_id: str, key: str) -> Callable[[], str]:
        def attempt() -> str:
            resp = client.put(
                f"/v1/orgs/{org_id}/members/{member_id}/seat",
                json={"seat_type": "pro"},
                headers={"Authorization": f"Bearer {key}"},
            )
            if resp.status_code == 409:
                assert resp.json["code"] == "seat_limit_reached"
                assert (resp.json["limit"], resp.json["used"]) == (seats, seats)
            return str(resp.status_code)

        return attempt

    clients = [app.test_client() for _ in members]
    outcomes = run_together([put_seat(c, m, k) for c, m, k in zip(clients, members, keys, strict=True)])
    assert outcomes == Counter({"200": seats, "409": threads - seats})
    assert holders_and_events(container, org_id) == (seats, seats, seats)
    pools = clients[0].get(f"/v1/orgs/{org_id}/seats", headers={"Authorization": f"Bearer {keys[0]}"})
    assert pools.json["data"] == [
        {
            "seat_type": "pro",
            "limit": seats,
            "used": seats,
            "available": 0,
            "over_limit": False,
            "shortfall": 0,
        }
    ]


@pytest.mark.postgres
def test_50_concurrent_http_assignments_against_10_seats_on_postgresql(pg_race: Container) -> None:
    http_race(pg_race, THREADS, SEATS)


@pytest.mark.postgres
def test_joining_members_and_assignments_race_without_deadlock_on_postgresql(pg_race: Container) -> None:
    """Half the threads add a member and then take a seat in one transaction (as invitation acceptance
    does: an event recorded before the pool is locked); half assign existing members. The lock order
    (chain head, then pool) must hold: no deadlock, exactly the limit taken."""
    half = THREADS // 2
    org_id, existing = seed(pg_race, half, SEATS)

    def join_with_seat(i: int) -> Callable[[], str]:
        def attempt() -> str:
            try:
                with transaction(pg_race.session_factory) as session:
                    svc = pg_race.services(session)
                    user, _ = svc.accounts.get_or_create(f"joiner{i}@example.com", org_id=org_id)
                    member = svc.members.add(org_id, user, "member", source="invitation")
                    svc.seats.take(member, "pro", reason="invitation")
            except SeatLimitReached:
                return "limit"
            return "ok"

        return attempt

    attempts = [assign_in_own_transaction(pg_race, org_id, m) for m in existing]
    attempts += [join_with_seat(i) for i in range(half)]
    outcomes = run_together(attempts)
    assert outcomes == Counter({"ok": SEATS, "limit": THREADS - SEATS})
    assert holders_and_events(pg_race, org_id) == (SEATS, SEATS, SEATS)


@pytest.mark.postgres
def test_opposite_transfers_at_once_do_not_deadlock_on_postgresql(pg_race: Container) -> None:
    """A→B and B→A (and the like) at once: one order of locks, so each either moves a seat or is refused."""
    pairs = 10
    org_id, members = seed(pg_race, pairs * 2, pairs)
    holders, others = members[:pairs], members[pairs:]
    for member_id in holders:
        assign_in_own_transaction(pg_race, org_id, member_id)()

    def transfer(source: str, target: str) -> Callable[[], str]:
        def attempt() -> str:
            with transaction(pg_race.session_factory) as session:
                try:
                    pg_race.services(session).seats.transfer(org_id, "pro", source, target)
                except SeatLimitReached:  # pragma: no cover - a transfer never takes a new seat
                    return "limit"
                except Exception as exc:  # a refused transfer is a 409: no seat, or already holds one
                    return type(exc).__name__
            return "ok"

        return attempt

    attempts = [transfer(h, o) for h, o in zip(holders, others, strict=True)]
    attempts += [transfer(o, h) for h, o in zip(holders, others, strict=True)]
    outcomes = run_together(attempts)
    assert set(outcomes) <= {"ok", "SeatNotHeld", "SeatAlreadyHeld"}
    assert outcomes["ok"] >= pairs  # every pair moved at least once
    assert holders_and_events(pg_race, org_id)[0] == pairs  # the count never changed


def test_concurrent_assignments_on_sqlite_give_the_same_answer(sqlite_race: Container) -> None:
    org_id, members = seed(sqlite_race, THREADS, SEATS)
    outcomes = run_together([assign_in_own_transaction(sqlite_race, org_id, m) for m in members])
    assert outcomes == Counter({"ok": SEATS, "limit": THREADS - SEATS})
    assert holders_and_events(sqlite_race, org_id) == (SEATS, SEATS, SEATS)


def test_concurrent_http_assignments_on_sqlite_give_the_same_answer(sqlite_race: Container) -> None:
    http_race(sqlite_race, THREADS, SEATS)


def ask_for_seats(container: Container, org_id: str, member_ids: list[str]) -> list[str]:
    with transaction(container.session_factory) as session:
        svc = container.services(session)
        user_ids = [session.get_one(Membership, m).user_id for m in member_ids]
        return [svc.seat_requests.create(org_id, u, "pro", None).request.id for u in user_ids]


def decide(container: Container, org_id: str, request_id: str, verdict: str) -> Callable[[], str]:
    def attempt() -> str:
        try:
            with transaction(container.session_factory) as session:
                requests = container.services(session).seat_requests
                if verdict == "approve":
                    requests.approve(org_id, request_id)
                else:
                    requests.deny(org_id, request_id, "no budget")
        except SeatLimitReached:
            return "limit"
        except SeatRequestDecided:
            return "decided"
        return verdict

    return attempt


@pytest.mark.postgres
def test_concurrent_approvals_stop_at_the_limit_on_postgresql(pg_race: Container) -> None:
    org_id, members = seed(pg_race, 20, 5)
    request_ids = ask_for_seats(pg_race, org_id, members)
    outcomes = run_together([decide(pg_race, org_id, r, "approve") for r in request_ids])
    assert outcomes == Counter({"approve": 5, "limit": 15})
    assert holders_and_events(pg_race, org_id) == (5, 5, 5)
    with transaction(pg_race.session_factory) as session:
        page = pg_race.services(session).seat_requests.list(org_id, status="pending")
        assert len(page.items) == 15  # refused approvals leave their requests pending


@pytest.mark.postgres
def test_one_request_decided_by_many_admins_at_once_is_decided_once_on_postgresql(
    pg_race: Container,
) -> None:
    org_id, members = seed(pg_race, 1, 5)
    (request_id,) = ask_for_seats(pg_race, org_id, members)
    verdicts = ["approve", "deny"] * 5
    outcomes = run_together([decide(pg_race, org_id, request_id, v) for v in verdicts])
    assert outcomes["decided"] == 9 and outcomes["approve"] + outcomes["deny"] == 1
    assert holders_and_events(pg_race, org_id)[0] == outcomes["approve"]


@pytest.mark.postgres
def test_two_asks_at_once_make_one_request_on_postgresql(pg_race: Container) -> None:
    org_id, members = seed(pg_race, 1, 5)

    def ask() -> str:
        try:
            ask_for_seats(pg_race, org_id, members)
        except SeatRequestPending:
            return "pending"
        return "created"

    assert run_together([ask] * 10) == Counter({"created": 1, "pending": 9})
