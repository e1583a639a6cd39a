"""Email code limits over a real Redis: two workers spend one budget per address, so spreading requests over
workers (or instances) gives an attacker no more codes to guess."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from app import create_app
from app.config import Settings
from app.container import Container
from tests.conftest import _truncate
from tests.mailbox import Mailbox

pytestmark = pytest.mark.redis
JSON = {"Accept": "application/json"}


@pytest.fixture
def two_workers(settings: Settings, redis_url: str, redis_prefix: str) -> Iterator[list[FlaskClient]]:
    shared = settings.model_copy(update={"rate_limit_url": redis_url, "rate_limit_prefix": redis_prefix})
    containers = [Container.build(shared, mailer=Mailbox()) for _ in range(2)]
    yield [create_app(shared, c).test_client() for c in containers]
    containers[0].rate_limiter.reset()
    _truncate(containers[0])
    for c in containers:
        c.engine.dispose()


def test_the_per_address_budget_is_shared_by_every_worker(two_workers: list[FlaskClient]) -> None:
    answers = [
        two_workers[i % 2]
        .post("/sso/email/start", json={"email": "ann@example.com"}, headers=JSON)
        .status_code
        for i in range(6)
    ]
    assert answers == [202] * 5 + [429]
    refused = two_workers[0].post("/sso/email/start", json={"email": "ann@example.com"}, headers=JSON)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
