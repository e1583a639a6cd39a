"""``tenantry keys list|rotate|revoke``: the access tokens' signing keys from the operator's shell."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from app.audit.cli.log import built_container
from app.db import transaction
from app.errors import AppError
from app.tokens.models import SigningKey


def _row(key: SigningKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "alg": key.alg,
        "state": key.state,
        "created_at": key.created_at.isoformat(),
        "activated_at": key.activated_at.isoformat() if key.activated_at else None,
        "rotated_at": key.rotated_at.isoformat() if key.rotated_at else None,
        "publish_until": key.publish_until.isoformat() if key.publish_until else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


def _show(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rows))
        return
    for r in rows:
        click.echo(f"{r['kid']}  {r['state']:<8}  {r['alg']}  created {r['created_at']}")


@click.group(help="Signing keys of access tokens: list, rotate (with overlap), revoke.")
def keys() -> None:
    pass


@keys.command("list", help="Every signing key and its state (next, current, previous, retired, revoked).")
@click.option("--json", "as_json", is_flag=True)
def list_keys(as_json: bool) -> None:
    with built_container() as c, transaction(c.session_factory) as session:
        _show([_row(k) for k in c.services(session).keyring.all_keys()], as_json)


@keys.command(
    "rotate",
    help="The next key (already published) becomes current and a new next key is published. The old current "
    "key stays published and valid until the tokens it signed expire. Prints the current and next keys.",
)
@click.option("--json", "as_json", is_flag=True)
def rotate(as_json: bool) -> None:
    with built_container() as c, transaction(c.session_factory) as session:
        keyring = c.services(session).keyring
        key = keyring.rotate(reason="manual")
        upcoming = keyring.upcoming()
        _show([_row(key)] + ([_row(upcoming)] if upcoming else []), as_json)


@keys.command(
    "revoke", help="Revoke KID: its tokens are refused at once; a revoked current or next key is replaced."
)
@click.argument("kid")
@click.option("--json", "as_json", is_flag=True)
def revoke(kid: str, as_json: bool) -> None:
    try:
        with built_container() as c, transaction(c.session_factory) as session:
            keyring = c.services(session).keyring
            replacement = keyring.revoke(kid)
            revoked = session.get(SigningKey, kid)
            assert revoked is not None
            _show([_row(revoked)] + ([_row(replacement)] if replacement else []), as_json)
    except AppError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(1)
