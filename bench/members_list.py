"""Member listing benchmark: keyset pages stay flat with depth; OFFSET pages (the baseline) do not.

    .venv/bin/python bench/members_list.py                       # SQLite, 20 orgs x 5,000 members
    .venv/bin/python bench/members_list.py --members 20000 --database postgresql://postgres@127.0.0.1:5432/postgres

Prints the median time of a 200-member page through MemberService.list_members at the first page, the middle
and the last page of the big org, with and without a filter, next to the same page read with OFFSET in the
same process.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from sqlalchemy import insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import migrate  # noqa: E402
from app.audit.recorder import SYSTEM, AuditRecorder, RequestContext  # noqa: E402
from app.clock import SystemClock  # noqa: E402
from app.db import make_engine, make_session_factory  # noqa: E402
from app.ids import new_id  # noqa: E402
from app.orgs.members import MemberFilter, MemberService  # noqa: E402
from app.orgs.models import Membership, Organization, User  # noqa: E402
from app.pagination import encode_cursor  # noqa: E402

PAGE = 200


def load(url: str, orgs: int, members: int) -> str:
    engine = make_engine(url)
    now = datetime.now(UTC)
    big = ""
    with engine.begin() as conn:
        for o in range(orgs):
            org_id = new_id("org")
            big = big or org_id
            conn.execute(
                insert(Organization),
                [{"id": org_id, "name": f"Org {o}", "slug": f"org-{o}-{uuid.uuid4().hex[:6]}",
                  "audit_logs_enabled": True, "audit_retention_days": 365, "sso_enforced": False,
                  "created_at": now, "updated_at": now}],
            )  # fmt: skip
            users = [
                {"id": new_id("usr"), "email": f"u{o}-{i}@example.com", "name": f"User {i}",
                 "created_at": now, "updated_at": now}
                for i in range(members)
            ]  # fmt: skip
            conn.execute(insert(User), users)
            conn.execute(
                insert(Membership),
                [{"id": new_id("mem"), "org_id": org_id, "user_id": u["id"],
                  "role": ("member", "admin", "billing")[i % 3], "seat_type": "pro" if i % 4 == 0 else None,
                  "status": "active", "source": "scim", "attributes": {},
                  "created_at": now, "updated_at": now}
                 for i, u in enumerate(users)],
            )  # fmt: skip
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))  # fresh statistics, as autovacuum would give a live database
    engine.dispose()
    return big


def keyset_page(svc: MemberService, org_id: str, flt: MemberFilter, cursor: str | None) -> object:
    svc.session.expunge_all()  # every page hydrates fresh objects, as a request does
    return svc.list_members(org_id, flt, limit=PAGE, cursor=cursor)


def offset_page(svc: MemberService, org_id: str, flt: MemberFilter, depth: int) -> object:
    svc.session.expunge_all()
    stmt = svc._filtered(org_id, flt).order_by(Membership.id).offset(depth).limit(PAGE + 1)
    return svc.session.execute(stmt).all()


def sql_only(svc: MemberService, org_id: str, flt: MemberFilter, depth: int, after: str | None) -> object:
    """The query alone, rows as tuples (no ORM objects): what the index changes."""
    stmt = svc._filtered(org_id, flt).order_by(Membership.id).limit(PAGE + 1)
    stmt = stmt.where(Membership.id > after) if after else stmt.offset(depth)
    return svc.session.connection().execute(stmt).all()


def median_ms(fn: Callable[[], object], repeat: int = 15) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orgs", type=int, default=20)
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--database", default=None, help="a PostgreSQL server URL (a fresh db is made)")
    args = parser.parse_args()

    if args.database:
        from tests.conftest import create_pg_database, drop_pg_database

        url = create_pg_database(args.database)
    else:
        url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    migrate.upgrade(url)
    started = time.perf_counter()
    org_id = load(url, args.orgs, args.members)
    took = time.perf_counter() - started
    print(f"loaded {args.orgs} orgs x {args.members} members in {took:.1f} s ({url.split(':')[0]})")

    engine = make_engine(url)
    session = make_session_factory(engine)()
    clock = SystemClock()
    svc = MemberService(session, clock, AuditRecorder(session, clock, SYSTEM, RequestContext()))
    ids = list(
        session.scalars(select(Membership.id).where(Membership.org_id == org_id).order_by(Membership.id))
    )
    depths = {"first": 0, "middle": len(ids) // 2, "last": len(ids) - PAGE}

    print(
        f"{'page':<8}{'filter':<12}{'keyset ms':>10}{'offset ms':>11}{'ratio':>8}   sql only (keyset, offset)"
    )
    for name, depth in depths.items():
        for label, flt in (
            ("none", MemberFilter()),
            ("role+seat", MemberFilter(role="admin", seat_type="none")),
        ):
            cursor = encode_cursor(ids[depth - 1]) if depth else None
            keyset = median_ms(partial(keyset_page, svc, org_id, flt, cursor))
            offset = median_ms(partial(offset_page, svc, org_id, flt, depth))
            after = ids[depth - 1] if depth else None
            sql_keyset = median_ms(partial(sql_only, svc, org_id, flt, depth, after))
            sql_offset = median_ms(partial(sql_only, svc, org_id, flt, depth, None))
            print(
                f"{name:<8}{label:<12}{keyset:>10.2f}{offset:>11.2f}{offset / keyset:>8.1f}"
                f"   {sql_keyset:8.2f} {sql_offset:8.2f}"
            )
            session.rollback()
    if engine.dialect.name == "postgresql":
        plan = (
            session.execute(
                text(
                    "EXPLAIN "
                    + str(
                        svc._filtered(org_id, MemberFilter())
                        .order_by(Membership.id)
                        .limit(PAGE + 1)
                        .compile(engine, compile_kwargs={"literal_binds": True})
                    )
                )
            )
            .scalars()
            .all()
        )
        print("plan of the first page, no filter:")
        print("\n".join(plan))
    session.close()
    engine.dispose()
    if args.database:
        drop_pg_database(url)


if __name__ == "__main__":
    main()
