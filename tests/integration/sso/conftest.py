"""SSO tests: Tenantry's base URL is the test client's (http://localhost), metadata URLs on loopback may be
fetched (the IdPs run on 127.0.0.1), and the org holds example.com verified (the test user's domain)."""

from __future__ import annotations

from typing import Any

import pytest

from app.config import Settings
from app.container import Container
from tests.integration.sso.helpers import verified_domain

BASE_URL = "http://localhost"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"base_url": BASE_URL, "allow_private_metadata_urls": True})


@pytest.fixture
def example_domain(container: Container, org: dict[str, Any]) -> str:
    verified_domain(container, org["id"], "example.com")
    return "example.com"
