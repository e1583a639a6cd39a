"""SSO secrets at rest: SP private keys and OIDC client secrets. Pure: no Flask, no session.

Sealed by the one sealing scheme (app/crypto/sealing.py) for the purpose ``sso/secrets``: under a key derived
from ``TENANTRY_SECRET_KEY``, or under ``TENANTRY_SSO_KEY_ENCRYPTION_KEY`` when set (base64 of 32 bytes, the
KMS-style option: it can be rotated apart from the secret key). The ciphertext is bound to its row (associated
data: the connection id and the use), so a value copied into another connection's row does not open.
"""

from __future__ import annotations

from app.crypto.sealing import Sealer, derive_key, key_from_base64

PURPOSE = "sso/secrets"


def sso_sealer(secret_key: str, encryption_key: str = "") -> Sealer:
    """The sealer of SSO secrets: the configured encryption key, else one derived from the secret key."""
    if encryption_key:
        return Sealer(key_from_base64(encryption_key, "TENANTRY_SSO_KEY_ENCRYPTION_KEY"))
    if not secret_key:
        raise ValueError("a secret key is needed to encrypt SSO secrets")
    return Sealer(derive_key(secret_key, PURPOSE))


def key_context(connection_id: str, key_id: str, use: str) -> str:
    """The associated data binding a sealed private key to its row."""
    return f"sso_sp_key:{connection_id}:{key_id}:{use}"
