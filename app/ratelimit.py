"""The shared rate limiter: one instance per process, backed by memory or by Redis for every worker.

Built on the ``limits`` package. With ``TENANTRY_RATE_LIMIT_URL`` unset the counters live in this process
(development, a single worker); with ``redis://…`` every worker and instance shares them, which is what
production needs: an attacker spreading attempts over workers must not multiply the budget.

Callers name a *rule* (``invitation_accept_ip``, ``scim_token``, ``domain_verify``, …) with its rate in the
``limits`` notation (``"10/minute"``) and the key it applies to (an IP address, a token prefix, a domain id).
``hit`` consumes one unit and raises ``RateLimited`` with ``retry_after`` (whole seconds, at least 1) once the
budget is spent; each front door maps that error to its own 429 with a ``Retry-After`` header.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.errors import RateLimited

log = logging.getLogger("tenantry.ratelimit")


class InlineExpiryMemoryStorage(MemoryStorage):
    """``limits``' memory storage without its expiry thread: it starts a ``threading.Timer`` every 10 ms of
    traffic (a thread per request at SCIM import rates, a millisecond each under load). Expired windows
    are swept inline instead, at most once a second; a window's own check never depends on the sweep."""

    def __init__(self) -> None:
        super().__init__()
        self.timer.cancel()
        self._next_sweep = 0.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # overrides the private hook, by its mangled name
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + 1.0
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Rule:
    """A named budget, e.g. ``Rule("invitation_accept_ip", "20/minute")``."""

    name: str
    rate: str

    @property
    def item(self) -> RateLimitItem:
        return _parsed(self.rate)


@functools.lru_cache(maxsize=256)
def _parsed(rate: str) -> RateLimitItem:
    """``limits``' parse of a rate, kept: the rates are the settings' few, and every request hit one."""
    return parse(rate)


class RateLimiter:
    """Moving-window limits over a ``limits`` storage. Thread-safe (the storages are)."""

    def __init__(self, url: str = "", *, key_prefix: str = "tenantry") -> None:
        self.url = url or "memory://"
        options: dict[str, str] = {}
        if self.url.startswith(("redis://", "rediss://", "redis+")):
            options["key_prefix"] = key_prefix
        storage = (
            InlineExpiryMemoryStorage()
            if self.url == "memory://"
            else storage_from_string(self.url, **options)
        )
        if not isinstance(storage, Storage):  # an async storage (``async+redis://``) cannot serve WSGI
            raise ValueError(f"TENANTRY_RATE_LIMIT_URL {self.url!r} names an async storage; use redis://")
        self.storage: Storage = storage
        self.strategy = MovingWindowRateLimiter(self.storage)
        self.shared = not self.url.startswith("memory://")

    def hit(self, rule: Rule, key: str, *, detail: str | None = None) -> None:
        """Consume one unit of ``rule`` for ``key``; 429 ``RateLimited`` once the budget is spent."""
        item = rule.item
        if self.strategy.hit(item, rule.name, key):
            return
        retry_after = self.retry_after(rule, key)
        raise RateLimited(
            detail or f"Too many attempts. Retry in {retry_after} s.",
            retry_after=retry_after,
            limit=rule.rate,
        )

    def test(self, rule: Rule, key: str) -> bool:
        """Whether one more hit would pass, without consuming it."""
        return bool(self.strategy.test(rule.item, rule.name, key))

    def retry_after(self, rule: Rule, key: str) -> int:
        stats = self.strategy.get_window_stats(rule.item, rule.name, key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    def reset(self) -> None:
        """Forget every counter (tests, and ``tenantry`` admin commands)."""
        self.storage.reset()


def limiter_from_url(url: str, *, key_prefix: str = "tenantry") -> RateLimiter:
    limiter = RateLimiter(url, key_prefix=key_prefix)
    log.info("rate limiter ready", extra={"backend": "shared" if limiter.shared else "in memory"})
    return limiter
