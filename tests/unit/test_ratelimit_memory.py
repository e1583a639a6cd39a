"""The in-memory limiter storage: limits hold, windows slide and expire, and no thread is started per hit
(``limits``' own memory storage starts a ``threading.Timer`` every 10 ms of traffic)."""

from __future__ import annotations

import threading
import time

from app.ratelimit import InlineExpiryMemoryStorage, RateLimiter, Rule


def test_the_budget_holds_then_the_window_slides_without_threads() -> None:
    limiter = RateLimiter("memory://")
    assert isinstance(limiter.storage, InlineExpiryMemoryStorage)
    rule = Rule("t", "3/second")
    before = threading.active_count()
    for _ in range(3):
        assert limiter.test(rule, "k")
        limiter.hit(rule, "k")
    assert not limiter.test(rule, "k") and limiter.test(rule, "other")
    assert threading.active_count() == before
    time.sleep(1.05)
    assert limiter.test(rule, "k")  # the window slid on its own, no sweep needed


def test_expired_windows_are_swept_inline_at_most_once_a_second() -> None:
    storage = InlineExpiryMemoryStorage()
    limiter = RateLimiter("memory://")
    limiter.storage = storage
    limiter.strategy = type(limiter.strategy)(storage)
    rule = Rule("t", "1/second")
    limiter.hit(rule, "gone")
    time.sleep(1.05)
    storage._next_sweep = 0.0  # the next hit sweeps
    limiter.hit(rule, "fresh")
    gone = [entries for key, entries in storage.events.items() if "gone" in key]
    fresh = [entries for key, entries in storage.events.items() if "fresh" in key]
    assert gone == [[]] and len(fresh[0]) == 1  # the expired window's entries were dropped by the sweep
