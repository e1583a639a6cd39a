"""``tenantry audit verify|checkpoint|purge``: tamper evidence and retention from the command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from app.config import Settings

if TYPE_CHECKING:
    from app.container import Container


@contextmanager
def built_container() -> Iterator[Container]:
    """A container for one command; its connections are closed when the command ends."""
    from app.container import Container

    c = Container.build(Settings())
    try:
        yield c
    finally:
        c.engine.dispose()


@click.group(help="The audit log: verify chains, sign checkpoints, purge past retention.")
def audit() -> None:
    pass


@audit.command(
    "verify",
    help="Verify whole hash chains (a progress bar on a terminal); exit 1 naming the first broken link of "
    "each broken chain. The outcome is stored: the bounded /verify endpoint goes on from an intact head.",
)
@click.option("--org", "org_id", default=None, help="Only this organisation's chain (default: every chain).")
@click.option("--json", "as_json", is_flag=True)
def verify(org_id: str | None, as_json: bool) -> None:
    from app.audit.integrity import AuditIntegrity
    from app.audit.verification import record_full
    from app.db import transaction

    broken = False
    show_bar = not as_json and sys.stderr.isatty()
    with built_container() as c, transaction(c.session_factory) as session:
        integrity = AuditIntegrity(session, c.clock, c.audit_signer)
        for chain in [org_id] if org_id else integrity.chains():
            if show_bar:
                with click.progressbar(length=integrity.span(chain), label=chain, file=sys.stderr) as bar:
                    result = integrity.verify(chain, progress=bar.update)
            else:
                result = integrity.verify(chain)
            record_full(session, c.clock, result)
            broken = broken or not result.ok
            if as_json:
                click.echo(json.dumps(result.as_dict()))
            elif result.ok:
                head = result.head or {}
                cp = f", signed checkpoint at seq {result.checkpoint['seq']}" if result.checkpoint else ""
                span = f"seq {result.first_seq}..{head.get('seq')}"
                click.echo(f"ok      {chain}: {result.checked} events ({span}){cp}")
            else:
                b = result.broken or {}
                where = f"seq {b.get('seq')} (event {b.get('event_id')})"
                click.echo(f"BROKEN  {chain}: {where}: {b.get('reason')}")
    sys.exit(1 if broken else 0)


@audit.command("checkpoint", help="Sign the head of every chain that moved since its last checkpoint.")
@click.option("--org", "org_id", default=None)
def checkpoint(org_id: str | None) -> None:
    from app.audit.integrity import AuditIntegrity
    from app.db import transaction

    with built_container() as c, transaction(c.session_factory) as session:
        integrity = AuditIntegrity(session, c.clock, c.audit_signer)
        cps = [cp for cp in [integrity.checkpoint(org_id)] if cp] if org_id else integrity.checkpoint_all()
        for cp in cps:
            click.echo(f"{cp.chain}: seq {cp.seq} hash {cp.hash[:16]}… signed by {cp.key_id}")


@audit.command("purge", help="Purge events past each org's retention now (the worker does it hourly).")
def purge() -> None:
    from app.audit.retention import RetentionPurge

    with built_container() as c:
        purge = RetentionPurge(
            c.session_factory, c.clock, platform_retention_days=c.settings.audit_platform_retention_days
        )
        for r in purge.run():
            click.echo(f"{r.org_id}: purged {r.purged} events, horizon at seq {r.horizon_seq}")


@audit.group(
    "keys", help="Checkpoint signing keys: list, rotate, revoke (GET /v1/audit-keys publishes them)."
)
def keys() -> None:
    pass


@keys.command("list", help="Every checkpoint signing key with its status; the active one signs.")
@click.option("--json", "as_json", is_flag=True)
def keys_list(as_json: bool) -> None:
    from app.audit.keyring import SigningKeyring
    from app.db import transaction

    with built_container() as c, transaction(c.session_factory) as session:
        document = SigningKeyring(session, c.clock, c.audit_signer).documents()
    if as_json:
        click.echo(json.dumps(document))
        return
    for key in document["keys"]:
        when = key["revoked_at"] or key["retired_at"] or key["created_at"]
        click.echo(f"{key['key_id']}  {key['status']:<8} since {when}")


@keys.command("rotate", help="A new key signs checkpoints from now on; the previous one is retired.")
def keys_rotate() -> None:
    from app.audit.keyring import SigningKeyring
    from app.db import transaction

    with built_container() as c, transaction(c.session_factory) as session:
        row = SigningKeyring(session, c.clock, c.audit_signer).rotate(c.services(session).audit)
        click.echo(f"{row.kid} signs checkpoints now")


@keys.command("revoke", help="Mark a retired key as no longer trusted: its checkpoints prove nothing.")
@click.argument("kid")
@click.option("--reason", default="revoked by an operator", show_default=True)
def keys_revoke(kid: str, reason: str) -> None:
    from app.audit.keyring import SigningKeyring
    from app.db import transaction
    from app.errors import AppError

    try:
        with built_container() as c, transaction(c.session_factory) as session:
            SigningKeyring(session, c.clock, c.audit_signer).revoke(c.services(session).audit, kid, reason)
    except AppError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{kid} revoked")
