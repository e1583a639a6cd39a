"""The ``/v1`` blueprint; each resource family adds its operations from its own views module."""

from __future__ import annotations

import importlib

from flask import Blueprint, Flask

v1 = Blueprint("v1", __name__, url_prefix="/v1")

VIEW_MODULES = (
    "app.orgs.views",
    "app.orgs.member_views",
    "app.orgs.invitation_views",
    "app.orgs.seat_views",
    "app.orgs.account_views",
    "app.credentials.views",
    "app.audit.http.views",
    "app.rbac.views",
    "app.rbac.role_views",
    "app.domains.views",
    "app.scim.mapping_views",
)

_loaded = False


def register_v1(app: Flask) -> None:
    global _loaded
    if not _loaded:  # operations attach to the blueprint once per process
        for name in VIEW_MODULES:
            importlib.import_module(name)
        _loaded = True
    app.register_blueprint(v1)
