"""The ``/v1`` blueprint. Each resource family adds its operations from its own views module;
app/api/routes.py imports every one of them."""

from __future__ import annotations

from flask import Blueprint

v1 = Blueprint("v1", __name__, url_prefix="/v1")
