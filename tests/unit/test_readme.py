"""The README documents every setting and the two quick-start commands (the issue's contract)."""

from __future__ import annotations

import re
from pathlib import Path

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
