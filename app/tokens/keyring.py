"""The signing keys' lifecycle (create, rotate, retire, revoke) and the public keys every worker caches.

Lock order: every change takes the platform audit chain's head first (``AuditRecorder.lock_chain(None)``), so
two rotations (a worker's schedule and an operator's ``tenantry keys rotate``) run one after the other; the
partial unique index on ``state = 'current'`` is the backstop that keeps one current key whatever happens.

Public keys are immutable per ``kid``, so :class:`PublicKeys` caches them in memory for the life of the
process. Whether a key is still good (not revoked) is not cached: the credential resolver reads it with the
member's row on every request (``AccessTokenService.authenticate``), so every worker sees a revocation
at once.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc.jwk import ECKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.catalogue import AuditAction
from app.audit.recorder import AuditRecorder, Target
from app.clock import Clock
from app.crypto import sealing
from app.errors import Conflict, NotFound
from app.tokens import access_token
from app.tokens.models import CURRENT, NEXT, PREVIOUS, RETIRED, REVOKED, SigningKey

SEAL_PURPOSE = "tokens/signing-keys"  # app/crypto/sealing.py: one key per purpose
OVERLAP_MARGIN = timedelta(seconds=60)  # beyond the token lifetime: clock skew, a request in flight


@dataclass(frozen=True)
class SigningMaterial:
    kid: str
    key: ECKey


def new_kid(now: datetime) -> str:
    return f"{now:%Y%m%d}-{secrets.token_hex(6)}"


class KeyRing:
    def __init__(
        self, session: Session, clock: Clock, audit: AuditRecorder, *, secret_key: str, token_ttl: int
    ) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit
        self.secret_key = secret_key
        self.overlap = timedelta(seconds=token_ttl) + OVERLAP_MARGIN

    # --- reading ---------------------------------------------------------------------------------------
    def current(self) -> SigningKey | None:
        return self.session.scalars(select(SigningKey).where(SigningKey.state == CURRENT)).one_or_none()

    def published(self) -> list[SigningKey]:
        """What ``/.well-known/jwks.json`` lists: the next and current keys, and previous keys still in
        their overlap."""
        now = self.clock.now()
        rows = self.session.scalars(
            select(SigningKey)
            .where(SigningKey.state.in_((NEXT, CURRENT, PREVIOUS)))
            .order_by(SigningKey.created_at)
        ).all()
        return [
            k for k in rows if k.state != PREVIOUS or (k.publish_until is not None and k.publish_until > now)
        ]

    def all_keys(self) -> list[SigningKey]:
        return list(self.session.scalars(select(SigningKey).order_by(SigningKey.created_at)))

    def signing_material(self) -> SigningMaterial:
        """The current key's private half, creating the first key on first use."""
        row = self.current() or self.rotate(reason="first_use", only_if_missing=True)
        if row.private_key_sealed is None:  # cannot happen for a current key: refuse rather than guess
            raise Conflict("The current signing key has no private key; run `tenantry keys rotate`.")
        pem = sealing.unseal(self.secret_key, SEAL_PURPOSE, row.private_key_sealed, row.kid)
        return SigningMaterial(row.kid, ECKey.import_key(pem))

    # --- changing --------------------------------------------------------------------------------------
    def rotate(self, *, reason: str, only_if_missing: bool = False) -> SigningKey:
        """The ``next`` key (already published) becomes current and a new ``next`` is made; the old current
        becomes ``previous`` (still published and accepted until the last token it signed has expired).
        Returns the new current key. ``only_if_missing``: do nothing if a current key exists."""
        self.audit.lock_chain(None)
        old = self.current()
        if old is not None and only_if_missing:
            return old
        now = self.clock.now()
        if old is not None:
            old.state, old.rotated_at = PREVIOUS, now
            old.publish_until = now + self.overlap
            old.private_key_sealed = None  # it never signs again
            self.session.flush()  # one current at a time (the index): demote before promoting
        row = self._next()
        if row is not None:
            row.state, row.activated_at = CURRENT, now
            self.session.flush()
        else:
            row = self._new_key(CURRENT, now)
        upcoming = self._new_key(NEXT, now)
        self.audit.record(
            AuditAction.SIGNING_KEY_ROTATED,
            org_id=None,
            targets=[Target("signing_key", row.kid)],
            data={
                "kid": row.kid,
                "previous_kid": old.kid if old else None,
                "next_kid": upcoming.kid,
                "reason": reason,
                "previous_published_until": old.publish_until.isoformat()
                if old and old.publish_until
                else None,
            },
        )
        return row

    def upcoming(self) -> SigningKey | None:
        """The next key: published, signing from the next rotation."""
        return self._next()

    def _next(self) -> SigningKey | None:
        return self.session.scalars(select(SigningKey).where(SigningKey.state == NEXT)).one_or_none()

    def _new_key(self, state: str, now: datetime) -> SigningKey:
        key = access_token.new_key()
        kid = new_kid(now)
        row = SigningKey(
            kid=kid,
            alg=access_token.ALGORITHM,
            state=state,
            public_jwk=access_token.public_jwk(key, kid),
            private_key_sealed=sealing.seal(self.secret_key, SEAL_PURPOSE, key.as_pem(private=True), kid),
            created_at=now,
            activated_at=now if state == CURRENT else None,
        )
        self.session.add(row)
        self.session.flush()
        return row

    def rotate_if_due(self, interval: timedelta) -> SigningKey | None:
        """The worker's schedule: rotate when the current key has signed for ``interval`` (or is missing)."""
        current = self.current()
        if current is not None:
            since = current.activated_at or current.created_at
            if self.clock.now() - since < interval:
                return None
        return self.rotate(reason="scheduled" if current else "first_use")

    def retire_expired(self) -> list[str]:
        """Previous keys whose overlap is over leave the JWKS (``retired``); no token they signed is valid."""
        now = self.clock.now()
        due = self.session.scalars(
            select(SigningKey).where(SigningKey.state == PREVIOUS, SigningKey.publish_until <= now)
        ).all()
        if not due:
            return []
        self.audit.lock_chain(None)
        for row in due:
            row.state = RETIRED
            self.audit.record(
                AuditAction.SIGNING_KEY_RETIRED,
                org_id=None,
                targets=[Target("signing_key", row.kid)],
                data={"kid": row.kid},
            )
        return [row.kid for row in due]

    def revoke(self, kid: str) -> SigningKey | None:
        """Revoke a key: every token it signed is refused from now on, and it leaves the JWKS. A revoked
        current key is replaced by the next one at once, a revoked next key by a new one (returned)."""
        self.audit.lock_chain(None)
        row = self.session.get(SigningKey, kid)
        if row is None or row.state == REVOKED:
            raise NotFound(f"Signing key {kid} not found (or already revoked).")
        was = row.state
        row.state, row.revoked_at, row.private_key_sealed = REVOKED, self.clock.now(), None
        self.session.flush()
        self.audit.record(
            AuditAction.SIGNING_KEY_REVOKED,
            org_id=None,
            targets=[Target("signing_key", kid)],
            data={"kid": kid, "state": was},
        )
        if was == CURRENT:
            return self.rotate(reason="current_revoked")
        if was == NEXT:
            return self._new_key(NEXT, self.clock.now())
        return None


class PublicKeys:
    """Process-wide cache of public keys by ``kid`` (immutable once created). An unknown ``kid`` is read from
    the database; a ``kid`` that is not there is remembered as unknown for ``negative_ttl`` seconds, so a
    flood of forged kids costs one read each per interval, not one per request."""

    def __init__(self, negative_ttl: float = 5.0, capacity: int = 1024) -> None:
        self.negative_ttl = negative_ttl
        self.capacity = capacity
        self._keys: dict[str, ECKey] = {}
        self._unknown: dict[str, float] = {}
        self._lock = threading.Lock()
        self.reads = 0

    def get(self, kid: str, load: Callable[[str], dict[str, Any] | None]) -> ECKey | None:
        key = self._keys.get(kid)
        if key is not None:
            return key
        if self._unknown.get(kid, 0.0) > time.monotonic():
            return None
        self.reads += 1
        jwk = load(kid)
        with self._lock:
            if jwk is None:
                if len(self._unknown) >= self.capacity:
                    self._unknown.clear()
                self._unknown[kid] = time.monotonic() + self.negative_ttl
                return None
            key = ECKey.import_key({k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y")})
            if len(self._keys) >= self.capacity:
                self._keys.clear()
            self._keys[kid] = key
            return key

    def forget(self, kid: str) -> None:
        """A key this process just created: drop any 'unknown' mark a request left before it existed."""
        with self._lock:
            self._unknown.pop(kid, None)


def load_public_jwk(session: Session) -> Callable[[str], dict[str, Any] | None]:
    def load(kid: str) -> dict[str, Any] | None:
        row = session.get(SigningKey, kid)
        return None if row is None else dict(row.public_jwk)

    return load
