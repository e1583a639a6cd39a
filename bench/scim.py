"""SCIM benchmark: lookups at 1k and 100k members, a deep page, an Okta-style import with 4 client threads.

    .venv/bin/python -m bench.scim                                   # SQLite
    .venv/bin/python -m bench.scim --database postgresql://postgres@127.0.0.1:5432/postgres

Requests go through the whole app (WSGI, authentication, rate limit, SCIM views, audit writes) in process,
so the figures are the server's cost without a network. Targets (issue 9): ``userName eq`` and
``externalId eq`` at 100k members at most 1.5 times slower than at 1k; the import at least 500 requests/s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import create_app, migrate  # noqa: E402
from app.config import Settings  # noqa: E402
from app.container import Container  # noqa: E402
from app.db import transaction  # noqa: E402
from app.ids import new_id  # noqa: E402
from app.orgs.models import Membership, Organization, User  # noqa: E402

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def load_org(container: Container, members: int) -> tuple[str, str]:
    """An org with ``members`` SCIM members (bulk inserted), and a SCIM token for it."""
    now = datetime.now(UTC)
    org_id = new_id("org")
    tag = uuid.uuid4().hex[:6]
    with container.engine.begin() as conn:
        conn.execute(
            insert(Organization),
            [
                {
                    "id": org_id,
                    "name": f"Bench {members}",
                    "slug": f"bench-{members}-{tag}",
                    "created_at": now,
                    "updated_at": now,
                    "audit_logs_enabled": True,
                    "audit_retention_days": 365,
                    "sso_enforced": False,
                }
            ],
        )
        for start in range(0, members, 5000):
            users, memberships = [], []
            for i in range(start, min(members, start + 5000)):
                uid, email = new_id("usr"), f"u{i}-{tag}@bench.example"
                users.append({"id": uid, "email": email, "name": None, "created_at": now, "updated_at": now})
                memberships.append(
                    {
                        "id": new_id("mem"),
                        "org_id": org_id,
                        "user_id": uid,
                        "role": "member",
                        "status": "active",
                        "source": "scim",
                        "external_id": f"ext-{i}-{tag}",
                        "user_name": email,
                        "attributes": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            conn.execute(insert(User), users)
            conn.execute(insert(Membership), memberships)
    if container.engine.dialect.name == "postgresql":
        with container.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE memberships; ANALYZE users"))  # as autovacuum would after a load
    with transaction(container.session_factory) as session:
        token = container.services(session).credentials.create_scim_token(org_id=org_id, name="bench").secret
    return tag, token


def timed(call: Callable[[], Any], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="", help="a PostgreSQL server URL; default: a SQLite file")
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--imports", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    if args.database:
        name = f"tenantry_bench_scim_{uuid.uuid4().hex[:8]}"
        admin = create_engine(
            args.database.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = args.database.rsplit("/", 1)[0] + "/" + name
    else:
        url = f"sqlite:///{tempfile.mkdtemp()}/scim-bench.db"
    migrate.upgrade(url)
    settings = Settings(
        env="test",
        database_url=url,
        secret_key="bench",
        log_json=False,
        log_level="WARNING",
        instance_path=Path(tempfile.mkdtemp()),
    )
    container = Container.build(settings)
    app = create_app(settings, container)

    print(f"database: {'postgresql' if args.database else 'sqlite'}")
    results: dict[str, float] = {}
    for size in (args.small, args.big):
        started = time.perf_counter()
        tag, token = load_org(container, size)
        print(f"loaded {size} members in {time.perf_counter() - started:.1f} s")
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        probe = size // 2

        def get(path: str, client: Any = client, headers: dict[str, str] = headers) -> None:  # noqa: B023
            resp = client.get("/scim/v2" + path, headers=headers)
            assert resp.status_code == 200, resp.get_data(as_text=True)

        for name, path in (
            ("userName eq", f'/Users?filter=userName eq "u{probe}-{tag}@bench.example"'),
            ("externalId eq", f'/Users?filter=externalId eq "ext-{probe}-{tag}"'),
        ):
            timed(lambda p=path: get(p), 20)  # warm
            results[f"{name} {size}"] = ms = timed(lambda p=path: get(p), 200)
            print(f"{name:<16} {size:>7} members: {ms:7.2f} ms median")
        if size == args.big:
            middle = f"/Users?startIndex={size // 2}&count=100"
            ms = timed(lambda p=middle: get(p), 20)
            print(f"page of 100 at offset {size // 2} of {size}: {ms:.1f} ms median")
            ms = timed(lambda: get("/Users?startIndex=1&count=100"), 20)
            print(f"first page of 100 of {size}: {ms:.1f} ms median")
    for name in ("userName eq", "externalId eq"):
        ratio = results[f"{name} {args.big}"] / results[f"{name} {args.small}"]
        print(f"{name}: {args.big} vs {args.small} members = {ratio:.2f}x (target <= 1.5x)")

    # Okta-style import: for each user, an existence check then a POST (each POST writes its audit events).
    _, token = load_org(container, 0)
    headers = {"Authorization": f"Bearer {token}"}
    per_thread = args.imports // args.threads
    errors: list[str] = []

    def importer(n: int) -> None:
        client = app.test_client()
        for i in range(per_thread):
            user_name = f"import-{n}-{i}@okta.example"
            found = client.get(
                f'/scim/v2/Users?filter=userName eq "{user_name}"&startIndex=1&count=100', headers=headers
            )
            if found.status_code != 200 or found.json["totalResults"] != 0:
                errors.append(f"check {found.status_code}")
            body = {
                "schemas": [USER],
                "userName": user_name,
                "name": {"givenName": "I", "familyName": str(i)},
                "emails": [{"value": user_name, "type": "work", "primary": True}],
                "active": True,
                "externalId": f"00u{n}{i}",
                "password": "ignored",
                "groups": [],
            }
            made = client.post(
                "/scim/v2/Users", data=json.dumps(body), content_type="application/scim+json", headers=headers
            )
            if made.status_code != 201:
                errors.append(f"post {made.status_code} {made.get_data(as_text=True)[:200]}")

    threads = [threading.Thread(target=importer, args=(n,)) for n in range(args.threads)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    requests = 2 * per_thread * args.threads
    print(
        f"import: {per_thread * args.threads} users ({requests} requests) with {args.threads} threads in "
        f"{elapsed:.1f} s = {requests / elapsed:.0f} requests/s; errors: {len(errors)} {errors[:3]}"
    )
    container.engine.dispose()
    if args.database:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
