"""Text for people: one line, a bounded length, sizes in words. Every layer uses these (no package imports)."""

from __future__ import annotations

import re

_WHITESPACE = re.compile(r"\s+")


def shorten(text: str, limit: int = 100) -> str:
    """`text` on one line, at most `limit` characters (an ellipsis marks a cut)."""
    line = _WHITESPACE.sub(" ", text).strip()
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def megabytes(n: int) -> str:
    """A byte count as people read it: "20.0 MB", or "512 bytes" below a tenth of a megabyte."""
    mb = n / (1024 * 1024)
    return f"{mb:.1f} MB" if mb >= 0.1 else f"{n} bytes"
