"""Write a new Alembic revision from what the models add to head: ``make migration NAME=domain_claims``.

Revision ids are numbers (``0003``), the next after head; the file is ``0003_domain_claims.py``.
Alembic compares the models with a scratch SQLite database upgraded to head; read what it wrote, give new
NOT NULL columns a server default or a backfill (databases in use hold rows), and write the data fixture of
the revision that head was until now (README, "Migrations").
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from app import migrate

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "migrations"


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not re.fullmatch(r"[a-z][a-z0-9_]{2,40}", argv[1]):
        print("usage: new_migration.py NAME (lower_snake_case, e.g. domain_claims)", file=sys.stderr)
        return 2
    name = argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'head.db'}"
        cfg = migrate.alembic_config(url)
        head = ScriptDirectory.from_config(cfg).get_current_head()
        rev_id = f"{int(str(head).split('_', 1)[0]) + 1:04d}"
        migrate.upgrade(url)
        script = command.revision(cfg, message=name.replace("_", " "), autogenerate=True, rev_id=rev_id)
    assert script is not None and not isinstance(script, list)
    path = Path(script.path)
    text = path.read_text().replace("astext_type=Text()", "astext_type=sa.Text()")
    path.write_text(re.sub(r"Create Date: .*\n", "", text))
    print(f"wrote {path}")
    fixture = FIXTURES / f"{head}.sql"
    if not fixture.is_file():
        print(f"now write {fixture.relative_to(REPO)}: rows for every table of {head}'s schema")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
