"""The shared rate limiter over a real Redis: every worker and instance spends one budget.

Two apps stand for two gunicorn workers (or two instances); each has its own process-local state but the
same ``TENANTRY_RATE_LIMIT_URL``. With the in-memory default each would have its own budget, which is why
production sets Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from app import create_app
from app.config import Settings
from app.container import Container
from app.ratelimit import RateLimiter, Rule
from tests.conftest import _truncate
from tests.mailbox import Mailbox

pytestmark = pytest.mark.redis


@pytest.fixture
def two_workers(settings: Settings, redis_url: str, redis_prefix: str) -> Iterator[list[FlaskClient]]:
    shared = settings.model_copy(
        update={
            "rate_limit_url": redis_url,
            "rate_limit_prefix": redis_prefix,
            "invitation_accept_rate_token": "4/minute",
        }
    )
    containers = [Container.build(shared, mailer=Mailbox()) for _ in range(2)]
    yield [create_app(shared, c).test_client() for c in containers]
    containers[0].rate_limiter.reset()
    _truncate(containers[0])
    for c in containers:
        c.engine.dispose()


def test_two_workers_share_one_budget(two_workers: list[FlaskClient]) -> None:
    statuses = [
        two_workers[n % 2].post("/v1/invitations/accept", json={"token": "tnt_inv_sharedguess"}).status_code
        for n in range(6)
    ]
    assert statuses == [404, 404, 404, 404, 429, 429]  # 4 in all, not 4 per worker


def test_in_memory_limiters_do_not_share(settings: Settings) -> None:
    a, b = RateLimiter(""), RateLimiter("")
    rule = Rule("t", "1/minute")
    a.hit(rule, "k")
    b.hit(rule, "k")  # a second process would have its own budget: the reason production sets Redis
    assert not a.test(rule, "k") and not b.test(rule, "k")


def test_redis_limits_keep_to_their_prefix(redis_url: str, redis_prefix: str) -> None:
    mine, other = (
        RateLimiter(redis_url, key_prefix=redis_prefix),
        RateLimiter(redis_url, key_prefix=redis_prefix + "x"),
    )
    rule = Rule("t", "1/minute")
    mine.hit(rule, "k")
    assert other.test(rule, "k")  # another deployment (or test) with its own prefix is unaffected
    mine.reset()
    other.reset()
