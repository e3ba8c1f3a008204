"""Doctor's output: one line per check, printed as soon as the check finishes, secrets blanked out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, TextIO

Status = Literal["ok", "warn", "FAIL"]
HIDDEN = "<hidden>"
# Shorter strings could be ordinary words: blanking them would garble the report without protecting anything.
_MIN_SECRET_LENGTH = 6


@dataclass(frozen=True)
class Check:
    status: Status
    name: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<5} {self.name}: {self.detail}"


class Report:
    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._secrets: set[str] = set()
        self.checks: list[Check] = []

    def hide(self, secrets: Iterable[str | None]) -> None:
        """Never print these, whatever message they turn up in (an error, a server's stderr)."""
        self._secrets.update(s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH)

    def add(self, status: Status, name: str, detail: str) -> Check:
        check = Check(status, name, self._redact(" ".join(detail.split())))
        self.checks.append(check)
        print(check.line(), file=self._out, flush=True)
        return check

    def finish(self) -> int:
        """Print the tally; the exit status is 1 when any check failed."""
        failed = sum(c.status == "FAIL" for c in self.checks)
        warned = sum(c.status == "warn" for c in self.checks)
        passed = len(self.checks) - failed - warned
        print(
            f"\n{_count(failed, 'failure')}, {_count(warned, 'warning')}, {passed} passed.",
            file=self._out,
            flush=True,
        )
        return 1 if failed else 0

    def _redact(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, HIDDEN)
        return text


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
