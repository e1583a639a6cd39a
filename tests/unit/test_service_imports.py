"""Services stay below the HTTP layer: outside their HTTP adapters, the org, credential, authorization and
domain packages import neither Flask, ``app.web`` nor ``app.api`` (pagination lives in ``app/pagination.py``
for that reason)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
PACKAGES = ("orgs", "credentials", "rbac", "domains")
HTTP = ("flask", "werkzeug", "app.web", "app.api")
ADAPTERS = ("views", "schemas", "fastpath")  # the HTTP side: views, request bodies, the WSGI check route


def _below_http() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (APP / package).glob("*.py")
        if not path.stem.endswith(ADAPTERS)
    )


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", _below_http(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_service_modules_do_not_import_the_http_layer(path: Path) -> None:
    http = sorted(n for n in _imports(path) if any(n == h or n.startswith(h + ".") for h in HTTP))
    assert http == [], f"{path.relative_to(APP.parent)} imports {http}"


def test_the_scan_sees_the_services() -> None:
    names = {f"{p.parent.name}/{p.name}" for p in _below_http()}
    assert {"orgs/members.py", "orgs/invitations.py", "credentials/service.py", "rbac/service.py"} <= names
