"""Making untrusted text safe to show: control characters become visible escapes.

A User-Agent (or any caller-chosen text) can carry ESC sequences that repaint a terminal, BEL, DEL, C1
controls that some terminals also obey, line separators that split a log line, and bidirectional overrides
that reorder what a reader sees. None belongs in a stored value, so each is written as a ``\\uNNNN`` escape:
the value stays readable, what the caller sent can still be told, and inside JSON text the escape is JSON's
own (a JSON column stays valid JSON).
"""

from __future__ import annotations

import re

# C0, DEL and C1 (Unicode category Cc), the line and paragraph separators, and the bidirectional marks,
# embeddings, overrides and isolates.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control character written as a visible escape (ESC becomes ``\\u001b``)."""
    return CONTROL.sub(_escape, text)
