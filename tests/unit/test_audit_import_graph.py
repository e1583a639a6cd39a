"""The audit pipeline never reaches the HTTP layer: only its adapters (``app/audit/http/``,
``app/audit/cli/``) know Flask, click, ``app.web`` or ``app.api``.

Read from the source with ``ast`` rather than by importing: ``app/__init__.py`` (the app factory) imports
Flask, so ``sys.modules`` after an import says nothing about the audit modules themselves.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
ADAPTERS = ("app.audit.http", "app.audit.cli")
HTTP_LAYER = ("flask", "werkzeug", "click", "app.web", "app.api", *ADAPTERS)


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(APP.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in APP.rglob("*.py") if "migrations" not in p.parts}
PIPELINE = sorted(m for m in MODULES if m.startswith("app.audit") and not _within(m, ADAPTERS))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports_in(source: str, *, runtime_only: bool) -> Iterator[str]:
    """Every module a source imports, at any depth of its code (a lazy import inside a function counts);
    with ``runtime_only``, leaving out ``if TYPE_CHECKING:`` blocks."""

    def visit(node: ast.AST) -> Iterator[str]:
        if runtime_only and isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                yield from visit(child)
            return
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            # ``from app.audit import chain`` imports the module app.audit.chain
            yield from (f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES)
        for child in ast.iter_child_nodes(node):
            yield from visit(child)

    yield from visit(ast.parse(source))


def _imports(module: str, *, runtime_only: bool) -> Iterator[str]:
    return _imports_in(MODULES[module].read_text(), runtime_only=runtime_only)


def _with_parents(name: str) -> Iterator[str]:
    """A module and the packages Python runs on the way to it (not ``app`` itself: the app factory)."""
    parts = name.split(".")
    for i in range(2, len(parts) + 1):
        yield ".".join(parts[:i])


def _runtime_closure(start: str) -> dict[str, str]:
    """Every module reachable from ``start`` at run time, each with the module that imported it."""
    importer: dict[str, str] = {start: start}
    todo = [start]
    while todo:
        current = todo.pop()
        for imported in _imports(current, runtime_only=True):
            for name in [imported, *(_with_parents(imported) if imported.startswith("app.") else [])]:
                if name not in importer:
                    importer[name] = current
                    if name in MODULES:
                        todo.append(name)
    return importer


def test_the_pipeline_is_found() -> None:
    # Guards the walk itself: an empty or partial list would make the tests below pass vacuously.
    expected = {"app.audit.recorder", "app.audit.failures", "app.audit.refusals", "app.audit.bus.relay"}
    assert expected <= set(PIPELINE)
    assert "app.audit.bus.consumers.billing" in PIPELINE
    assert not any(_within(m, ADAPTERS) for m in PIPELINE)


@pytest.mark.parametrize("module", PIPELINE)
def test_no_audit_module_imports_the_http_layer(module: str) -> None:
    offending = sorted({i for i in _imports(module, runtime_only=False) if _within(i, HTTP_LAYER)})
    assert offending == [], f"{module} imports {offending}; only {ADAPTERS} may"


@pytest.mark.parametrize("module", PIPELINE)
def test_nothing_the_audit_pipeline_loads_reaches_the_http_layer(module: str) -> None:
    importer = _runtime_closure(module)
    offending = sorted(f"{importer[name]} -> {name}" for name in importer if _within(name, HTTP_LAYER))
    assert offending == [], f"importing {module} reaches the HTTP layer: {offending}"


def test_the_walk_sees_lazy_and_type_checking_imports() -> None:
    # The old app/audit/failures.py imported flask and app.web inside note_refusal(): that edge must count.
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from app.container import Container\n"
        "def note():\n    from flask import request\n    import app.web\n"
        "from app.audit import chain\n"
    )
    runtime = set(_imports_in(source, runtime_only=True))
    assert runtime == {"typing", "flask", "app.web", "app.audit", "app.audit.chain"}
    assert set(_imports_in(source, runtime_only=False)) == runtime | {"app.container"}
