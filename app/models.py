"""Every table: each model module imported by name, so ``metadata`` is complete (Alembic, tests).
A new model module is imported here; tests/unit/test_registration.py fails when one is left out."""

from __future__ import annotations

from types import ModuleType

from sqlalchemy import MetaData

from app.audit import models as audit_models
from app.audit.bus import models as bus_models
from app.audit.bus.consumers import models as consumer_models
from app.credentials import models as credential_models
from app.db import Base
from app.domains import models as domain_models
from app.extracts import models as extract_models
from app.orgs import models as org_models
from app.rbac import models as rbac_models
from app.scim import models as scim_models
from app.sso import email_code_models
from app.sso import models as sso_models
from app.tokens import models as token_models

MODEL_MODULES: tuple[ModuleType, ...] = (
    org_models,
    credential_models,
    audit_models,
    bus_models,
    rbac_models,
    consumer_models,
    domain_models,
    extract_models,
    scim_models,
    email_code_models,
    token_models,
    sso_models,
)

metadata: MetaData = Base.metadata
