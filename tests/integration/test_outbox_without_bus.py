"""Without ``TENANTRY_BUS_URL`` events live in the audit table only: no outbox rows, no wakeup, no lag."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.audit.bus.models import OutboxEvent
from app.audit.models import AuditEvent
from app.container import Container
from tests.conftest import Api


def test_without_a_bus_nothing_piles_up_in_the_outbox(
    container: Container, admin: Api, org: dict[str, Any]
) -> None:
    assert not container.settings.bus_url
    for name in ("One", "Two", "Three"):
        assert admin.patch(f"/v1/orgs/{org['id']}", {"name": name}).status_code == 200
    with container.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) >= 4
        assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 0
    assert container.relay_waker is None
    ready = admin.get("/readyz")
    assert ready.status_code == 200 and "outbox" not in ready.json["checks"]
    assert "tenantry_outbox_rows" not in admin.get("/metrics").get_data(as_text=True)


def test_with_a_bus_the_outbox_lag_shows_on_readyz_and_metrics(
    container: Container, admin: Api, org: dict[str, Any]
) -> None:
    from app.audit.bus import outbox
    from app.audit.recorder import OutboxConfig

    bus = Container.build(container.settings.model_copy(update={"bus_url": "nats://127.0.0.1:1"}))
    try:
        assert isinstance(bus.outbox, OutboxConfig) and bus.outbox.enabled
        from app.db import transaction

        with transaction(bus.session_factory) as session:
            bus.services(session).orgs.update(org["id"], {"name": "Lagging"})
        lag = outbox.outbox_lag(bus.engine, bus.clock)
        assert lag.rows == 1 and lag.oldest_age_seconds >= 0
        status, healthy = bus.readiness["outbox"]()
        assert healthy and status.startswith("ok: 1 rows")
        from flask.testing import FlaskClient

        from app import create_app

        client: FlaskClient = create_app(bus.settings, bus).test_client()
        body = client.get("/metrics").get_data(as_text=True)
        assert "tenantry_outbox_rows 1.0" in body and "tenantry_outbox_oldest_age_seconds" in body
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json["checks"]["outbox"].startswith("ok: 1 rows")
        assert ready.json["checks"]["bus"].startswith("unreachable")  # shown, but the API stays ready
    finally:
        assert bus.relay_waker is not None
        bus.relay_waker.close()
        bus.engine.dispose()
