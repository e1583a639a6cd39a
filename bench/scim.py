"""SCIM benchmark: lookups at 1k and 100k members, a deep page, an Okta-style import with 4 client threads.

    .venv/bin/python -m bench.scim                                   # SQLite
    .venv/bin/python -m bench.scim --database postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python -m bench.scim --import-only --imports 4000      # the import alone, no 100k load
    .venv/bin/python -m bench.scim --import-only --preload 20000 …   # … after another org's 20k (see --help)
    .venv/bin/python -m bench.scim --serve 0 --no-baseline           # the import in process, no HTTP

Lookups and pages go through the whole app (WSGI, authentication, rate limit, SCIM views) in process. The
import runs over HTTP against ``tenantry serve`` (sync gunicorn workers, two per core, as in production), each
client thread holding one persistent connection as Okta and Entra ID do (``--no-keep-alive``: a connection per
request), and, with the same client, against the python-scim reference server (``scim2-server``, in memory,
no audit, its own threaded server) before and after ours; the ratio is printed (``--no-baseline`` skips it).
Targets (issue 9): ``userName eq`` and ``externalId eq`` at 100k members at most 1.5 times slower than at 1k;
the import at least 500 requests/s with its audit writes, which is what the reference server does on such a
machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    log: Path  # the server's JSON log lines

    def errors(self, limit: int = 3) -> list[str]:
        """The distinct causes of the server's logged errors (the last line of each exception)."""
        found: dict[str, None] = {}
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("level") in ("error", "critical"):
                cause = (entry.get("exception") or entry.get("message") or "").strip().splitlines()
                found[cause[-1][:300] if cause else ""] = None
        return list(found)[:limit]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _started(server: Server, name: str) -> Server:
    """``server`` once it accepts connections (30 s at most)."""
    port = urllib.parse.urlsplit(server.base).port or 80
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.1)
    server.process.kill()
    raise SystemExit(f"{name} did not start")


def _serve(url: str, workers: int) -> Server:
    """``tenantry serve`` (gunicorn, ``--preload``, sync workers) on a free loopback port."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTRY_")}
    env.update(
        TENANTRY_DATABASE_URL=url,
        TENANTRY_INSTANCE_PATH=tempfile.mkdtemp(),
        TENANTRY_SECRET_KEY="bench-secret-key",
    )  # the default log level (INFO: a JSON line per request, as in production), to /dev/null
    cmd = [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", str(workers)]
    log = Path(env["TENANTRY_INSTANCE_PATH"]) / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603
            cmd, env=env, cwd=Path(__file__).resolve().parents[1], stderr=out
        )
    return _started(Server(process, f"http://127.0.0.1:{port}", log), "tenantry serve")


def _serve_reference(token: str) -> Server:
    """The python-scim reference server (``scim2-server``, in memory, no audit) as its command serves it: one
    threaded process, base path ``/v2``."""
    port = _free_port()
    log = Path(tempfile.mkdtemp()) / "reference.log"
    cmd = [str(Path(sys.executable).with_name("scim2-server")), "--port", str(port), "--bearer-token", token]
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=out)  # noqa: S603
    return _started(Server(process, f"http://127.0.0.1:{port}", log), "scim2-server")


def _cpu_seconds(root: int) -> float:
    """User + system CPU of process ``root`` and its children (gunicorn's master and workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == root or ppid == root:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


@dataclass
class HttpResponse:
    status_code: int
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def get_data(self, as_text: bool = False) -> Any:
        return self.body.decode() if as_text else self.body


class HttpClient:
    """The two calls the import makes, over plain ``http.client``. Without ``keep_alive`` a connection per
    request (as behind a load balancer without keep-alive to the app); with it one persistent connection per
    client thread, as Okta and Entra ID hold theirs, opened again when the server closed it."""

    def __init__(self, base: str, keep_alive: bool = False) -> None:
        self.host, self.port = urllib.parse.urlsplit(base).hostname, urllib.parse.urlsplit(base).port
        self.keep_alive = keep_alive
        self.conn: http.client.HTTPConnection | None = None

    def _call(self, method: str, path: str, body: str | None, headers: dict[str, str]) -> HttpResponse:
        conn = self.conn or http.client.HTTPConnection(self.host or "127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, urllib.parse.quote(path, safe="/?&="), body=body, headers=headers)
            resp = conn.getresponse()
            result = HttpResponse(resp.status, resp.read())
        except (http.client.RemoteDisconnected, ConnectionError):
            conn.close()
            if self.conn is None:
                raise
            self.conn = None  # the server closed the idle connection: once more on a new one
            return self._call(method, path, body, headers)
        if self.keep_alive and not resp.will_close:
            self.conn = conn
        else:
            conn.close()
            self.conn = None
        return result

    def get(self, path: str, headers: dict[str, str]) -> HttpResponse:
        return self._call("GET", path, None, headers)

    def post(self, path: str, data: str, content_type: str, headers: dict[str, str]) -> HttpResponse:
        return self._call("POST", path, data, {**headers, "Content-Type": content_type})


@dataclass
class ImportRun:
    users: int
    requests: int
    elapsed: float
    cpu_ms: float  # per request
    errors: list[str]

    @property
    def rate(self) -> float:
        return self.requests / self.elapsed

    def summary(self, threads: int) -> str:
        return (
            f"{self.users} users ({self.requests} requests) with {threads} threads in {self.elapsed:.1f} s = "
            f"{self.rate:.0f} requests/s; errors: {len(self.errors)} {self.errors[:3]}"
        )


def run_import(
    make_client: Callable[[], Any],
    prefix: str,
    token: str,
    threads: int,
    per_thread: int,
    tag: str,
    cpu: Callable[[], float],
) -> ImportRun:
    """Okta's import: per user an existence check (``userName eq``, ``startIndex=1&count=100``), then a POST
    with what Okta sends (a password, ``groups: []``), from ``threads`` client threads."""
    headers = {"Authorization": f"Bearer {token}"}
    errors: list[str] = []

    def importer(n: int) -> None:
        client = make_client()
        for i in range(per_thread):
            user_name = f"import-{tag}-{n}-{i}@okta.example"
            found = client.get(
                f'{prefix}/Users?filter=userName eq "{user_name}"&startIndex=1&count=100', headers=headers
            )
            if found.status_code != 200 or found.json["totalResults"] != 0:
                errors.append(f"check {found.status_code}")
            body = {
                "schemas": [USER],
                "userName": user_name,
                "name": {"givenName": "I", "familyName": str(i)},
                "emails": [{"value": user_name, "type": "work", "primary": True}],
                "active": True,
                "externalId": f"00u{tag}{n}x{i}",
                "password": "ignored",
                "groups": [],
            }
            made = client.post(
                f"{prefix}/Users",
                data=json.dumps(body),
                content_type="application/scim+json",
                headers=headers,
            )
            if made.status_code != 201:
                errors.append(f"post {made.status_code} {made.get_data(as_text=True)[:200]}")

    workers = [threading.Thread(target=importer, args=(n,)) for n in range(threads)]
    cpu_started = cpu()
    started = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    elapsed = time.perf_counter() - started
    requests = 2 * per_thread * threads
    return ImportRun(per_thread * threads, requests, elapsed, (cpu() - cpu_started) * 1000 / requests, errors)


def _reference_import(args: argparse.Namespace, per_thread: int, tag: str) -> ImportRun:
    token = uuid.uuid4().hex
    server = _serve_reference(token)
    try:
        return run_import(
            lambda: HttpClient(server.base, args.keep_alive),
            "/v2",
            token,
            args.threads,
            per_thread,
            tag,
            lambda: _cpu_seconds(server.process.pid),
        )
    finally:
        server.stop()


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
    parser.add_argument(
        "--serve",
        type=int,
        default=2 * (os.cpu_count() or 1),
        metavar="WORKERS",
        help="import over HTTP against `tenantry serve --workers WORKERS` (gunicorn, as in production); "
        "default: two per core, as `tenantry serve`; 0: in process, through the WSGI test client",
    )
    parser.add_argument("--import-only", action="store_true", help="the import alone (no 100k load)")
    parser.add_argument(
        "--preload",
        type=int,
        default=0,
        metavar="MEMBERS",
        help="with --import-only: first load (and ANALYZE) an org of MEMBERS members, as in a database "
        "that already serves orgs. Without it PostgreSQL plans the import's statements against empty "
        "tables: until autovacuum analyzes them (within a minute), lookups and foreign-key checks scan what "
        "the import wrote",
    )
    parser.add_argument(
        "--baseline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the same import against the python-scim reference server (scim2-server) before and after",
    )
    parser.add_argument(
        "--keep-alive",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="over HTTP, one persistent connection per client thread (as Okta and Entra ID hold theirs)",
    )
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
    orgs: dict[int, tuple[str, str]] = {}
    for size in ((args.preload,) if args.preload else ()) if args.import_only else (args.small, args.big):
        started = time.perf_counter()
        orgs[size] = load_org(container, size)
        print(f"loaded {size} members in {time.perf_counter() - started:.1f} s")
    client = app.test_client()

    def get(path: str, token: str) -> None:
        resp = client.get("/scim/v2" + path, headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 200, resp.get_data(as_text=True)

    def lookup(name: str, size: int) -> tuple[str, str]:
        tag, token = orgs[size]
        probe = size // 2
        if name == "userName eq":
            return f'/Users?filter=userName eq "u{probe}-{tag}@bench.example"', token
        return f'/Users?filter=externalId eq "ext-{probe}-{tag}"', token

    # The two org sizes are measured in alternation, so a change of load on a shared machine weighs on both.
    for name in () if args.import_only else ("userName eq", "externalId eq"):
        samples: dict[int, list[float]] = {args.small: [], args.big: []}
        for round_ in range(220):
            for size in (args.small, args.big):
                path, token = lookup(name, size)
                started = time.perf_counter()
                get(path, token)
                if round_ >= 20:  # the first rounds warm caches
                    samples[size].append(time.perf_counter() - started)
        small, big = (statistics.median(samples[s]) * 1000 for s in (args.small, args.big))
        print(
            f"{name:<14} {args.small:>7} members: {small:6.2f} ms median, {args.big} members: {big:6.2f} ms"
        )
        print(f"{name}: {args.big} vs {args.small} members = {big / small:.2f}x (target <= 1.5x)")
    if not args.import_only:
        _, big_token = orgs[args.big]
        middle = f"/Users?startIndex={args.big // 2}&count=100"
        ms = timed(lambda: get(middle, big_token), 20)
        print(f"page of 100 at offset {args.big // 2} of {args.big}: {ms:.1f} ms median")
        ms = timed(lambda: get("/Users?startIndex=1&count=100", big_token), 20)
        print(f"first page of 100 of {args.big}: {ms:.1f} ms median")

    # Okta-style import: for each user, an existence check then a POST (each POST writes its audit events).
    _, token = load_org(container, 0)
    per_thread = args.imports // args.threads
    # The baseline, in the same run and with the same client: the reference server before and after ours, so
    # a change of load on a shared machine weighs on both.
    reference: list[ImportRun] = []
    if args.baseline:
        reference.append(_reference_import(args, per_thread, "r1"))
    server = _serve(url, args.serve) if args.serve else None
    if server is not None and container.authorizer.engine is not None:
        # This process only sends requests now: its own authorization engine would otherwise hear (LISTEN)
        # every write's NOTIFY on PostgreSQL, as one more worker, and spend the client's CPU on it.
        container.authorizer.engine.stop()
    if server is not None:
        run = run_import(
            lambda: HttpClient(server.base, args.keep_alive),
            "/scim/v2",
            token,
            args.threads,
            per_thread,
            "ours",
            lambda: _cpu_seconds(server.process.pid),
        )
        server.stop()
        if run.errors:
            print(f"server errors: {server.errors()}")
        where = f"over HTTP, gunicorn with {args.serve} workers{', keep-alive' if args.keep_alive else ''}"
    else:
        run = run_import(
            app.test_client, "/scim/v2", token, args.threads, per_thread, "ours", time.process_time
        )
        where = "in process"
    if args.baseline:
        reference.append(_reference_import(args, per_thread, "r2"))
    print(f"import ({where}): {run.summary(args.threads)}")
    # CPU spent serving: the server's processes over HTTP, this whole process (test client included) in
    # process. On a shared machine the wall-clock rate says how busy the neighbours are; this says what a
    # request costs. In process the GIL keeps the app on one core; gunicorn's workers use them all.
    # PostgreSQL's own processes are not counted.
    cores = (os.cpu_count() or 1) if server is not None else 1
    print(
        f"import CPU: {run.cpu_ms:.2f} ms per request ({'server processes' if server else 'this process'}); "
        f"{cores} dedicated core(s) would serve about {cores * 1000 / run.cpu_ms:.0f} requests/s"
    )
    if reference:
        for i, ref in enumerate(reference, 1):
            print(
                f"reference server (scim2-server, in memory, no audit), run {i}: "
                f"{ref.summary(args.threads)}; CPU {ref.cpu_ms:.2f} ms per request (its process)"
            )
        base = statistics.mean(r.rate for r in reference)
        print(
            f"import: {run.rate:.0f} vs {base:.0f} requests/s = {run.rate / base:.2f}x the reference server "
            f"(target: at least 500 requests/s, what the reference server does on such a machine)"
        )
    container.engine.dispose()
    if args.database:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
