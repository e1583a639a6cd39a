"""The first writers of a fresh chain race to create its head row: both must succeed, in sequence."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import select

from app.audit.models import PLATFORM_CHAIN, AuditEvent
from app.config import Settings
from app.container import Container
from app.db import transaction


def test_concurrent_first_events_of_a_chain(pg_database: str, tmp_path: Path) -> None:
    settings = Settings(env="test", database_url=pg_database, instance_path=tmp_path, secret_key="x" * 32)
    container = Container.build(settings)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def create_key() -> None:
        try:
            barrier.wait(timeout=10)
            with transaction(container.session_factory) as session:
                container.services(session).credentials.create_api_key(org_id=None, name="race")
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=create_key) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    try:
        assert errors == []
        with container.session_factory() as session:
            seqs = session.scalars(
                select(AuditEvent.seq).where(AuditEvent.chain == PLATFORM_CHAIN).order_by(AuditEvent.seq)
            ).all()
        assert list(seqs) == list(range(1, 9))
    finally:
        container.engine.dispose()
