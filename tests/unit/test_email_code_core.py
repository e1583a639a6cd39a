"""Email code generation and hashing: fixed width with leading zeros, uniform over the whole range (the
randomness is injected), and a keyed hash that differs by key, address and code."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.ratelimit import Rule
from app.sso.email_codes import EmailCodePolicy, EmailCodeService, new_code

WIDTHS = [
    (6, 0, "000000"),
    (6, 42, "000042"),
    (6, 999_999, "999999"),
    (8, 7, "00000007"),
    (8, 10**8 - 1, "9" * 8),
]


@pytest.mark.parametrize(("digits", "drawn", "code"), WIDTHS)
def test_codes_keep_their_width(digits: int, drawn: int, code: str) -> None:
    bounds: list[int] = []

    def randbelow(n: int) -> int:
        bounds.append(n)
        return drawn

    assert new_code(digits, randbelow) == code
    assert bounds == [10**digits]  # one draw over the whole range: every code equally likely


def service(secret: str) -> EmailCodeService:
    rule = Rule("x", "1/minute")
    policy = EmailCodePolicy(timedelta(minutes=10), 6, 5, rule, rule, rule)
    none: Any = None
    return EmailCodeService(
        none, none, none, mailer=none, limiter=none, accounts=none, members=none, domains=none, sessions=none,
        secret_key=secret, policy=policy,
    )  # fmt: skip


def test_the_stored_hash_is_keyed_by_the_secret_and_bound_to_the_address() -> None:
    a, b = service("secret-a"), service("secret-b")
    h = a.code_hash("ann@example.com", "123456")
    assert len(h) == 64 and "123456" not in h
    assert h == a.code_hash("ann@example.com", "123456")
    assert h != b.code_hash("ann@example.com", "123456")  # a leaked table is useless without the key
    assert h != a.code_hash("bob@example.com", "123456")
    assert h != a.code_hash("ann@example.com", "123457")
