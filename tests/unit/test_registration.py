"""Routes and tables are registered by explicit imports (app/api/routes.py, app/models.py): every views
module and every model module in the tree must be among them. Each check runs in a fresh interpreter, so
nothing an earlier test imported can fill the gap."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _modules(suffix: str) -> list[str]:
    """Dotted names of the modules under app/ whose file name ends with ``suffix`` (``views``, ``models``)."""
    return sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in (ROOT / "app").rglob(f"*{suffix}.py")
        if "migrations" not in path.parts
    )


def _fresh(script: str) -> list[str]:
    """What ``script`` prints (a JSON list), run by a fresh interpreter at the repository root."""
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    found: list[str] = json.loads(result.stdout)
    return found


LATE = """
import importlib, json
{registered}
before = {snapshot}
for name in json.loads({names!r}):
    importlib.import_module(name)
print(json.dumps(sorted({snapshot} - before)))
"""


def test_every_views_module_is_registered_by_app_api_routes() -> None:
    views = _modules("views")
    assert "app.orgs.member_views" in views and "app.rbac.views" in views
    late = _fresh(
        LATE.format(
            registered="import app.api.routes\nfrom app.api.endpoint import REGISTRY",
            snapshot="{(op.method, op.path) for op in REGISTRY}",
            names=json.dumps(views),
        )
    )
    assert late == [], f"operations registered only when their views module is imported by name: {late}"


def test_every_model_module_is_imported_by_app_models() -> None:
    models = [name for name in _modules("models") if name != "app.models"]
    assert "app.orgs.models" in models and "app.audit.bus.consumers.models" in models
    late = _fresh(
        LATE.format(
            registered="from app.models import metadata",
            snapshot="set(metadata.tables)",
            names=json.dumps(models),
        )
    )
    assert late == [], f"tables missing from app.models' metadata: {late}"
