"""The keyring of checkpoint signing keys: key ids, rotation, revocation, and the public key set.

The configured key (``TENANTRY_AUDIT_SIGNING_KEY``, or in development the instance folder's) is the first key;
its key id is derived from its public key (``app/audit/signing.key_id``), the id every checkpoint signed
before the keyring existed already carries, so they verify unchanged. ``rotate`` makes a new Ed25519 key the
one that signs; its private key is stored sealed (app/crypto/sealing.py, purpose ``audit/checkpoint-keys``)
under a key derived from ``TENANTRY_SECRET_KEY``, never in clear. The previous key is ``retired``: it signs
nothing more, and its checkpoints still verify. ``revoke`` marks a key as no longer trusted (lost, leaked):
its checkpoints anchor nothing any more (verification uses the latest checkpoint signed by a key that is not
revoked) and the public key set names it as revoked. The key that signs cannot be revoked: rotate first.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.audit.catalogue import AuditAction
from app.audit.chain import format_time
from app.audit.models import AuditSigningKey
from app.audit.recorder import AuditRecorder, Target
from app.audit.signing import Signer, key_id, raw_public_key
from app.clock import Clock
from app.crypto.sealing import Sealer
from app.errors import Conflict, NotFound

ACTIVE, RETIRED, REVOKED = "active", "retired", "revoked"


class SigningKeyring:
    def __init__(self, session: Session, clock: Clock, base: Signer) -> None:
        self.session = session
        self.clock = clock
        self.base = base
        self._registered = False

    @property
    def _sealer(self) -> Sealer | None:
        """Derived when a rotated key is sealed or opened (never for the configured key)."""
        secret = self.base.keyring_secret
        if secret is None:
            return None
        return Sealer.for_purpose(secret if isinstance(secret, str) else secret(), "audit/checkpoint-keys")

    # -- reading ---------------------------------------------------------------------------------------

    def rows(self) -> list[AuditSigningKey]:
        self._register_base()
        return list(self.session.scalars(select(AuditSigningKey).order_by(AuditSigningKey.created_at)))

    def active_signer(self) -> Signer:
        self._register_base()
        row = self.session.scalars(select(AuditSigningKey).where(AuditSigningKey.status == ACTIVE)).first()
        if row is None or row.kid == self.base.key_id:
            return self.base
        sealer = self._sealer
        if row.private_wrapped is None or sealer is None:
            raise RuntimeError(f"the active audit signing key {row.kid} cannot be unwrapped here")
        seed = sealer.open(row.private_wrapped, row.kid)
        return Signer(Ed25519PrivateKey.from_private_bytes(seed), self.base.keyring_secret)

    def public_key(self, kid: str) -> tuple[Ed25519PublicKey, str] | None:
        """The public key of ``kid`` and its status, or None for a key this instance never had."""
        if kid == self.base.key_id:
            row = self.session.get(AuditSigningKey, kid)
            return self.base.public_key, row.status if row is not None else ACTIVE
        row = self.session.get(AuditSigningKey, kid)
        if row is None:
            return None
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(row.public_key)), row.status

    def revoked(self) -> list[str]:
        return list(
            self.session.scalars(select(AuditSigningKey.kid).where(AuditSigningKey.status == REVOKED))
        )

    def documents(self) -> dict[str, Any]:
        """The public key set customers verify with: every key, its status, the one that signs now."""
        rows = self.rows()
        active = next((r.kid for r in rows if r.status == ACTIVE), self.base.key_id)
        return {"active": active, "keys": [key_document(r) for r in rows]}

    # -- changing (the caller's transaction; recorded on the platform chain) ------------------------------

    def rotate(self, audit: AuditRecorder) -> AuditSigningKey:
        sealer = self._sealer
        if sealer is None:
            raise RuntimeError("rotating needs TENANTRY_SECRET_KEY (it wraps the new private key)")
        audit.lock_chain(None)
        previous = [r for r in self.rows() if r.status == ACTIVE]
        private = Ed25519PrivateKey.generate()
        kid = key_id(private.public_key())
        seed = private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        now = self.clock.now()
        row = AuditSigningKey(
            kid=kid,
            algorithm="Ed25519",
            public_key=base64.b64encode(raw_public_key(private.public_key())).decode("ascii"),
            private_wrapped=sealer.seal(seed, kid),
            status=ACTIVE,
            created_at=now,
        )
        for old in previous:
            old.status, old.retired_at = RETIRED, now
        self.session.add(row)
        self.session.flush()
        audit.record(
            AuditAction.AUDIT_KEY_ROTATED,
            org_id=None,
            targets=[Target("audit_key", kid)],
            data={"key_id": kid, "previous_key_ids": [r.kid for r in previous]},
        )
        return row

    def revoke(self, audit: AuditRecorder, kid: str, reason: str) -> AuditSigningKey:
        audit.lock_chain(None)
        row = next((r for r in self.rows() if r.kid == kid), None)
        if row is None:
            raise NotFound(f"Audit signing key {kid} not found")
        if row.status == ACTIVE:
            raise Conflict(f"Key {kid} signs checkpoints now: rotate first (tenantry audit keys rotate).")
        if row.status == REVOKED:
            return row
        before = row.status
        row.status, row.revoked_at, row.revoked_reason = REVOKED, self.clock.now(), reason[:500]
        self.session.flush()
        audit.record(
            AuditAction.AUDIT_KEY_REVOKED,
            org_id=None,
            targets=[Target("audit_key", kid)],
            changes={"status": {"before": before, "after": REVOKED}},
            data={"key_id": kid, "reason": row.revoked_reason},
        )
        return row

    def _register_base(self) -> None:
        """The configured key is in the table (on first use); a configured key never seen before (changed in
        the environment) becomes the active one, as a rotation by configuration would."""
        if self._registered:
            return
        self._registered = True
        kid = self.base.key_id
        if self.session.get(AuditSigningKey, kid) is not None:
            return
        now = self.clock.now()
        for old in self.session.scalars(select(AuditSigningKey).where(AuditSigningKey.status == ACTIVE)):
            old.status, old.retired_at = RETIRED, now
        # Two first readers may race (GET /v1/audit-keys needs no credential): insert if missing.
        insert = pg_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        self.session.execute(
            insert(AuditSigningKey)
            .values(
                kid=kid,
                algorithm="Ed25519",
                public_key=base64.b64encode(raw_public_key(self.base.public_key)).decode("ascii"),
                private_wrapped=None,  # lives in the environment (or the development instance folder)
                status=ACTIVE,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["kid"])
        )
        self.session.flush()


def key_document(row: AuditSigningKey) -> dict[str, Any]:
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(row.public_key))
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    return {
        "key_id": row.kid,
        "algorithm": row.algorithm,
        "public_key": row.public_key,
        "public_key_pem": pem,
        "status": row.status,
        "created_at": _time(row.created_at),
        "retired_at": _time(row.retired_at),
        "revoked_at": _time(row.revoked_at),
        "revoked_reason": row.revoked_reason,
    }


def _time(value: datetime | None) -> str | None:
    return format_time(value) if value is not None else None
