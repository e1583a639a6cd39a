"""Regenerate the initial migration from the models.

Tenantry has no deployed database yet, so the schema lives in one initial revision; once a release ships,
new changes get new revisions instead (``alembic revision --autogenerate``) and this script retires.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from alembic import command

from app.migrate import MIGRATIONS, alembic_config


def main() -> None:
    for old in (MIGRATIONS / "versions").glob("0001_*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = alembic_config(f"sqlite:///{Path(tmp) / 'empty.db'}")
        command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")
    path = next((MIGRATIONS / "versions").glob("0001_*.py"))
    text = path.read_text().replace("astext_type=Text()", "astext_type=sa.Text()")
    text = re.sub(r"Create Date: .*\n", "", text)
    path.write_text(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
