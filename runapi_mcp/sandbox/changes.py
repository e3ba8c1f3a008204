"""What changed in the sandbox since it was last saved. Records nothing unless a saver is attached, so an
in-memory sandbox (tests, benchmarks) pays nothing for it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Taken:
    tasks: set[str]
    files: set[str]
    output_digests: dict[str, str]


@dataclass
class Changes:
    recording: bool = False
    count: int = 0
    """Changes recorded so far: a save covers every change counted before it began."""
    saves: int = 0
    """Saves written (one SQLite commit each), for the benchmark's count of changes per commit."""
    on_change: Callable[[], None] = lambda: None
    _tasks: set[str] = field(default_factory=set[str])
    _files: set[str] = field(default_factory=set[str])
    _digests: dict[str, str] = field(default_factory=dict[str, str])

    def task(self, task_id: str) -> None:
        if self.recording:
            self._tasks.add(task_id)
            self._changed()

    def file(self, file_id: str) -> None:
        if self.recording:
            self._files.add(file_id)
            self._changed()

    def output_digest(self, digest: str, task_id: str) -> None:
        if self.recording:
            self._digests[digest] = task_id
            self._changed()

    def account(self) -> None:
        """The balance, the clock or a finished task: saved with every save anyway, so only a wake-up."""
        if self.recording:
            self._changed()

    def _changed(self) -> None:
        self.count += 1
        self.on_change()

    def take(self) -> Taken:
        taken = Taken(self._tasks, self._files, self._digests)
        self._tasks, self._files, self._digests = set(), set(), {}
        return taken

    def give_back(self, taken: Taken) -> None:
        """A save that failed: its changes are saved with the next one."""
        self._tasks |= taken.tasks
        self._files |= taken.files
        self._digests = {**taken.output_digests, **self._digests}
