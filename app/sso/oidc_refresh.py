"""OIDC discovery refresh, run by ``tenantry worker`` (job ``sso.oidc_discovery``), as app/sso/refresh.py
refreshes SAML metadata: lease the due connections in a short transaction, fetch each issuer's discovery
document with no transaction open (app/sso/oidc_fetch.py: the SSRF rules at every fetch), check it with the
core, and record the result in a transaction of its own. A failure keeps the last good document and records
``sso_connection.metadata_refresh_failed`` once per run of failures."""

from __future__ import annotations

import logging
from collections import Counter

from app.container import Container
from app.db import transaction
from app.errors import AppError
from app.sso.oidc_connections import Discovered, discover_issuer

log = logging.getLogger("tenantry.sso.oidc_refresh")
BATCH = 50


def run(container: Container) -> dict[str, int]:
    policy = container.sso_fetch_policy
    with transaction(container.session_factory) as session:
        due = container.services(session).oidc_connections.lease_due_refreshes(BATCH)
    results: Counter[str] = Counter()
    for connection_id, issuer in due:
        discovered: Discovered | None = None
        error: tuple[str, str] | None = None
        try:
            discovered = discover_issuer(container.oidc_http, issuer, policy)
        except AppError as exc:
            error = (str(exc.extra.get("reason", exc.code)), exc.detail)
        try:
            with transaction(container.session_factory) as session:
                outcome = container.services(session).oidc_connections.record_refresh(
                    connection_id, issuer, discovered, error
                )
            results[outcome] += 1
        except Exception:  # noqa: BLE001 - one connection's failure must not stop the others
            log.exception("discovery refresh failed", extra={"connection_id": connection_id})
            results["error"] += 1
    return dict(results)
