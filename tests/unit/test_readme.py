"""The README documents every setting and the two quick-start commands (the issue's contract)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from app.cli import main
from app.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_configuration_table() -> None:
    text = README.read_text()
    table = text[text.index("## Configuration") :].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(TENANTRY_[A-Z0-9_]+)` \|", table, flags=re.MULTILINE))
    expected = {f"TENANTRY_{name.upper()}" for name in Settings.model_fields}
    assert expected - documented == set(), "settings missing from the README's Configuration table"
    assert documented - expected == set(), "README documents settings that app/config.py does not read"


def test_quick_start_is_make_run_then_make_test() -> None:
    text = README.read_text()
    quick = text[text.index("## Quick start") :].split("\n## ", 1)[0]
    first_block = quick.split("```sh\n", 1)[1].split("```", 1)[0]
    assert first_block.split("\n")[:2] == ["make run", "make test"]


def _command_paths(group: click.Group, prefix: str = "tenantry") -> list[str]:
    paths: list[str] = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            paths.extend(_command_paths(command, path))
        else:
            paths.append(path)
    return paths


def test_every_cli_command_is_in_the_cli_section() -> None:
    text = README.read_text()
    section = text[text.index("## CLI") :].split("\n## ", 1)[0]
    missing = [path for path in _command_paths(main) if f"`{path}" not in section]
    assert missing == [], "commands missing from the README's CLI section"
