"""Imports every model module so ``Base.metadata`` is complete (Alembic, tests)."""

from __future__ import annotations

import importlib

MODEL_MODULES = (
    "app.orgs.models",
    "app.credentials.models",
    "app.audit.models",
    "app.audit.bus.models",
    "app.rbac.models",
    "app.audit.bus.consumers.models",
    "app.domains.models",
    "app.scim.models",
)


def load_all() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)
