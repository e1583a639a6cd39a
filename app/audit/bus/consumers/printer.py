"""``tenantry consume print``: each CloudEvent as one JSON line on stdout, for logging pipelines."""

from __future__ import annotations

import json
from typing import Any, TextIO


class PrintConsumer:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def filter_subjects(self, prefix: str) -> list[str]:
        return [f"{prefix}.>"]

    def handle(self, event: dict[str, Any], subject: str = "") -> None:
        self.out.write(json.dumps(event, separators=(",", ":"), sort_keys=True) + "\n")
        self.out.flush()
