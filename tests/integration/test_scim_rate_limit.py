"""Each SCIM token spends its own budget (TENANTRY_SCIM_RATE); past it, 429 with Retry-After (SCIM Error)."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from app.config import Settings
from app.container import Container
from tests.integration.scim_client import SCIM_JSON, Scim, make_scim_token


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"scim_rate": "3/minute"})


def test_a_token_past_its_budget_gets_429(
    client: FlaskClient, container: Container, org: dict[str, Any]
) -> None:
    container.rate_limiter.reset()
    first, second = (Scim(client, make_scim_token(container, org["id"])) for _ in range(2))
    assert [first.get("/Users").status_code for _ in range(3)] == [200, 200, 200]
    limited = first.get("/Users")
    assert limited.status_code == 429 and limited.mimetype == SCIM_JSON
    assert limited.json["status"] == "429" and int(limited.headers["Retry-After"]) >= 1
    assert second.get("/Users").status_code == 200  # another token, another budget
