"""Orgs racing to verify one domain on PostgreSQL: exactly one wins, every other gets 409 domain_taken.

Every org publishes its own token (the TXT record set holds them all), so each lookup succeeds and the
only thing that can stop the losers is the database: the registrable-domain lock, the check under it, and
the partial unique index beneath both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.config import Settings
from app.container import Container
from app.db import transaction
from app.domains.models import Domain
from app.domains.service import DomainService, PendingCheck
from app.errors import AppError
from tests.dns_server import DnsTestServer

pytestmark = pytest.mark.postgres
RACERS = 8


@pytest.fixture
def pg_container(pg_database: str, tmp_path: Path, dns: DnsTestServer) -> Iterator[Container]:
    settings = Settings(
        env="test",
        database_url=pg_database,
        instance_path=tmp_path / "instance",
        secret_key="test-secret-key-not-for-production",
        dns_nameservers=dns.host,
        dns_port=dns.port,
        dns_timeout=2.0,
    )
    c = Container.build(settings)
    yield c
    c.engine.dispose()


def claims(container: Container, dns: DnsTestServer, name: str) -> list[PendingCheck]:
    """One org per racer, each with a pending claim of ``name`` and its token published."""
    checks = []
    for i in range(RACERS):
        with transaction(container.session_factory) as session:
            svc = container.services(session)
            org = svc.orgs.create(f"Racer {i}")
            domain = svc.domains.claim(org.id, name)
            checks.append(svc.domains.begin_verification(org.id, domain.id))
        dns.zone.add_txt(checks[-1].record.name, checks[-1].record.value)
    return checks


def race(container: Container, dns: DnsTestServer, name: str) -> Counter[str]:
    """Every racer looks its record up, waits for the others, then records its verification."""
    checks = claims(container, dns, name)
    barrier = Barrier(RACERS)

    def verify(check: PendingCheck) -> str:
        try:
            with transaction(container.session_factory) as session:
                domains = container.services(session).domains
                verdict = domains.lookup(check)
                assert verdict.verified
                barrier.wait()  # every lookup done: the writes collide
                domains.record_verification(check, verdict)
        except AppError as exc:  # the transaction was rolled back, as a request's would be
            return exc.code
        return "ok"

    with ThreadPoolExecutor(RACERS) as pool:
        return Counter(pool.map(verify, checks))


def statuses(container: Container, name: str) -> Counter[str]:
    with transaction(container.session_factory) as session:
        return Counter(session.scalars(select(Domain.status).where(Domain.name == name)))


def test_exactly_one_org_verifies_a_contested_domain(pg_container: Container, dns: DnsTestServer) -> None:
    assert race(pg_container, dns, "contested-acme.com") == {"ok": 1, "domain_taken": RACERS - 1}
    assert statuses(pg_container, "contested-acme.com") == {"verified": 1, "pending": RACERS - 1}


def test_the_unique_index_alone_still_lets_one_win(
    pg_container: Container, dns: DnsTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last line of defence: with the lock and the check above it switched off, the index refuses the
    losers and they still get 409 domain_taken (not a 500)."""
    monkeypatch.setattr(DomainService, "_lock_registrable", lambda self, name: None)
    check = DomainService._refuse_if_taken

    def parents_only(self: DomainService, org_id: str, name: str, parents_only: bool = False) -> None:
        if parents_only:  # claims still refuse subdomains; verification skips its check
            check(self, org_id, name, parents_only=True)

    monkeypatch.setattr(DomainService, "_refuse_if_taken", parents_only)
    assert race(pg_container, dns, "indexed-acme.com") == {"ok": 1, "domain_taken": RACERS - 1}
    assert statuses(pg_container, "indexed-acme.com") == {"verified": 1, "pending": RACERS - 1}


def test_the_database_itself_refuses_a_second_verified_row(
    pg_container: Container, dns: DnsTestServer
) -> None:
    """Below the service: the partial unique index, whatever code writes the rows."""
    checks = claims(pg_container, dns, "direct-acme.com")[:2]
    with transaction(pg_container.session_factory) as session:
        session.execute(update(Domain).where(Domain.id == checks[0].domain_id).values(status="verified"))
    with pytest.raises(IntegrityError, match="uq_domains_verified_name"):
        with transaction(pg_container.session_factory) as session:
            session.execute(update(Domain).where(Domain.id == checks[1].domain_id).values(status="verified"))
