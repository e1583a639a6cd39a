"""IdP metadata refresh and certificate expiry warnings, run by ``tenantry worker`` (job ``sso.metadata``).

Each run leases the connections whose metadata URL is due (at most ``BATCH``), fetches each with no
transaction open (the SSRF rules of app/sso/metadata_fetch.py apply again: the host is resolved and checked
at every fetch, and the connection is made to the checked address), then records the result in a short
transaction of its own. A failed refresh keeps the last good settings and records
``sso_connection.metadata_refresh_failed`` once per run of failures; IdP certificates expiring within the
warning period raise ``sso_connection.idp_cert_expiring`` once per certificate set.
"""

from __future__ import annotations

import logging
from collections import Counter

from app.container import Container
from app.db import transaction
from app.errors import AppError
from app.sso.idp_config import IdpConfig, from_url
from app.sso.metadata_fetch import Resolver, system_resolver

log = logging.getLogger("tenantry.sso.refresh")
BATCH = 50


def run(container: Container, resolver: Resolver = system_resolver) -> dict[str, int]:
    with transaction(container.session_factory) as session:
        due = container.services(session).sso_connections.lease_due_refreshes(BATCH)
    results: Counter[str] = Counter()
    for connection_id, url, binding in due:
        idp: IdpConfig | None = None
        error: tuple[str, str] | None = None
        try:
            idp = from_url(url, container.sso_fetch_policy, resolver, binding)
        except AppError as exc:
            error = (str(exc.extra.get("reason", exc.code)), exc.detail)
        try:
            with transaction(container.session_factory) as session:
                outcome = container.services(session).sso_connections.record_refresh(
                    connection_id, url, idp, error
                )
            results[outcome.result] += 1
        except Exception:  # noqa: BLE001 - one connection's failure must not stop the others
            log.exception("metadata refresh failed", extra={"connection_id": connection_id})
            results["error"] += 1
    with transaction(container.session_factory) as session:
        warned = container.services(session).sso_connections.due_cert_warnings()
    if warned:
        results["cert_warnings"] = warned
    return dict(results)
