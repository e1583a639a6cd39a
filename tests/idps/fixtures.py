"""Pytest fixtures over the IdP harnesses (registered by ``tests/conftest.py``'s ``pytest_plugins``).

Each ``*_factory`` fixture is a function that starts one more IdP with the given arguments (those of the
``start_*`` context manager it wraps) and returns its handle; every IdP it started is stopped at the end of
the test. A missing installation skips locally and fails under ``CI=true``; the tests using these fixtures
carry the ``idp`` marker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests.idps.oidc_provider import OidcProvider, start_oidc_provider
from tests.idps.saml_idp import SamlIdp, start_saml_idp
from tests.idps.simplesamlphp import SimpleSamlPhp, start_simplesamlphp


@pytest.fixture
def saml_idp_factory() -> Iterator[Callable[..., SamlIdp]]:
    """``saml_idp_factory(sp, user=None, **options) -> SamlIdp`` (npm saml-idp)."""
    with ExitStack() as stack:

        def start(*args: Any, **kwargs: Any) -> SamlIdp:
            return stack.enter_context(start_saml_idp(*args, **kwargs))

        yield start


@pytest.fixture
def simplesamlphp_factory() -> Iterator[Callable[..., SimpleSamlPhp]]:
    """``simplesamlphp_factory(sp, user=None, **options) -> SimpleSamlPhp`` (Debian simplesamlphp, php -S)."""
    with ExitStack() as stack:

        def start(*args: Any, **kwargs: Any) -> SimpleSamlPhp:
            return stack.enter_context(start_simplesamlphp(*args, **kwargs))

        yield start


@pytest.fixture
def oidc_provider_factory() -> Iterator[Callable[..., OidcProvider]]:
    """``oidc_provider_factory(clients, user=None, **options) -> OidcProvider`` (npm oidc-provider)."""
    with ExitStack() as stack:

        def start(*args: Any, **kwargs: Any) -> OidcProvider:
            return stack.enter_context(start_oidc_provider(*args, **kwargs))

        yield start
