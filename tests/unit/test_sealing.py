"""The one sealing scheme (app/crypto/sealing.py): one key per purpose, bound to the row, lazy derivation."""

from __future__ import annotations

import base64

import pytest

from app.crypto.sealing import SealBroken, Sealer, derive_key, key_from_base64, seal, unseal


def test_a_value_opens_only_under_its_secret_purpose_and_row() -> None:
    sealed = seal("secret-a", "sso/secrets", b"pem", "row-1")
    assert sealed.startswith("v1.") and unseal("secret-a", "sso/secrets", sealed, "row-1") == b"pem"
    for secret, purpose, row in [
        ("secret-b", "sso/secrets", "row-1"),
        ("secret-a", "audit/subject-keys", "row-1"),
        ("secret-a", "sso/secrets", "row-2"),
    ]:
        with pytest.raises(SealBroken):
            unseal(secret, purpose, sealed, row)
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    for bad in (tampered, "v2." + sealed[3:], "v1.", "v1.%%%"):
        with pytest.raises(SealBroken):
            unseal("secret-a", "sso/secrets", bad, "row-1")
    assert derive_key("secret-a", "a") != derive_key("secret-a", "b")
    with pytest.raises(ValueError):
        derive_key("", "a")


def test_a_callable_secret_is_read_on_first_use_only() -> None:
    reads: list[int] = []

    def secret() -> str:
        reads.append(1)
        return "secret-a"

    sealer = Sealer.for_purpose(secret, "audit/checkpoint-keys")
    assert reads == []  # a command that seals nothing needs no secret
    sealed = sealer.seal(b"seed", "kid")
    assert sealer.open(sealed, "kid") == b"seed" and reads == [1]
    assert Sealer.for_purpose("secret-a", "audit/checkpoint-keys").open(sealed, "kid") == b"seed"


def test_a_configured_key_must_be_base64_of_32_bytes() -> None:
    key = key_from_base64(base64.b64encode(bytes(range(32))).decode(), "SETTING")
    assert Sealer(key).open(Sealer(key).seal(b"x", "r"), "r") == b"x"
    for bad in ("not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(ValueError, match="SETTING"):
            key_from_base64(bad, "SETTING")
    with pytest.raises(ValueError):
        Sealer(b"short")
