"""The journal under SIGKILL and under two writing processes: every acknowledged write survives, none is lost."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from runapi_mcp.core.journal import TaskParams, sqlite_journal
from tests.reliability.helpers import child_env

# Writes rows through the journal's own API, one step at a time; after each step commits it appends a line
# to the ack file (the kernel keeps that file's contents when the process is killed).
WRITER = r"""
import sys
from pathlib import Path

import anyio

from runapi_mcp.core.journal import ImageRecord, TaskParams, sqlite_journal

path, prefix, acks, count = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])


async def main() -> None:
    journal = sqlite_journal(path)
    with open(acks, "a", buffering=1) as ack:
        ack.write("ready\n")
        for i in range(count):
            key = f"{prefix}-{i}"
            await journal.record_intent(
                idempotency_key=key, action="text_to_image", params=TaskParams(prompt=key), output_dir="/out"
            )
            ack.write(f"intent {key}\n")
            await journal.attach_task_id(key, f"task-{key}")
            ack.write(f"attached {key}\n")
            await journal.update(
                f"task-{key}", status="completed", images=(ImageRecord(index=0, path=f"/out/{key}.png"),), cost_cents=6
            )
            ack.write(f"completed {key}\n")


anyio.run(main)
"""

ROUNDS = 8
KILL_WAIT_SECONDS = 30.0


def start_writer(tmp_path: Path, journal: Path, prefix: str, count: int) -> tuple[subprocess.Popen[bytes], Path]:
    acks = tmp_path / f"{prefix}.acks"
    acks.touch()
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(journal), prefix, str(acks), str(count)],
        env=child_env(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return process, acks


def acknowledged(acks: Path) -> dict[str, str]:
    """key -> the last step acknowledged for it."""
    steps: dict[str, str] = {}
    for line in acks.read_text().splitlines():
        step, _, key = line.partition(" ")
        if key:
            steps[key] = step
    return steps


def rows(journal: Path) -> dict[str, tuple[str | None, str, str, str]]:
    if not journal.is_file():
        return {}  # killed before its first open made the folder or the file: nothing was acknowledged yet
    with sqlite3.connect(journal) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'tasks'").fetchone() is None:
            return {}  # killed before the first open made the schema
        found = conn.execute("SELECT idempotency_key, task_id, status, params, images FROM tasks").fetchall()
    return {key: (task_id, status, params, images) for key, task_id, status, params, images in found}


def check_acknowledged_writes(journal: Path, steps: dict[str, str]) -> None:
    table = rows(journal)
    for key, step in steps.items():
        assert key in table, f"acknowledged intent {key} is missing"
        task_id, status, params, images = table[key]
        assert key in params  # the row is whole, not torn
        if step in ("attached", "completed"):
            assert task_id == f"task-{key}", f"acknowledged task id of {key} is missing"
        if step == "completed":
            assert status == "completed" and key in images, f"acknowledged completion of {key} is missing"


def test_journal_keeps_every_acknowledged_write_when_the_writer_is_killed_at_any_point(tmp_path: Path) -> None:
    journal = tmp_path / "state" / "journal.sqlite3"
    rng = random.Random(5)
    all_steps: dict[str, str] = {}
    for round_ in range(ROUNDS):
        process, acks = start_writer(tmp_path, journal, f"r{round_}", 100_000)
        deadline = time.monotonic() + KILL_WAIT_SECONDS
        while "ready" not in acks.read_text():
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline, "the writer never started"
            time.sleep(0.005)
        # Round 0 dies at once (the first open creates the schema); the others at random points mid-write.
        time.sleep(0 if round_ == 0 else rng.uniform(0.05, 0.5))
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=10)  # reaps it and closes its stderr pipe
        steps = acknowledged(acks)
        check_acknowledged_writes(journal, steps)
        all_steps.update(steps)
    assert sum(1 for step in all_steps.values() if step == "completed") > 50  # the kills landed mid-stream
    check_acknowledged_writes(journal, all_steps)


def test_two_processes_writing_one_journal_at_once_lose_no_rows(tmp_path: Path) -> None:
    journal = tmp_path / "state" / "journal.sqlite3"
    count = 150
    writers = [start_writer(tmp_path, journal, prefix, count) for prefix in ("left", "right")]
    for process, _ in writers:
        _, err = process.communicate(timeout=90)
        assert process.returncode == 0, err.decode()
    steps = {**acknowledged(writers[0][1]), **acknowledged(writers[1][1])}
    assert len(steps) == 2 * count and set(steps.values()) == {"completed"}
    check_acknowledged_writes(journal, steps)
    assert len(rows(journal)) == 2 * count


def test_journal_reopened_after_a_kill_accepts_new_writes(tmp_path: Path) -> None:
    import anyio

    journal_path = tmp_path / "state" / "journal.sqlite3"
    process, acks = start_writer(tmp_path, journal_path, "before", 100_000)
    deadline = time.monotonic() + KILL_WAIT_SECONDS
    while "completed" not in acks.read_text():
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=10)

    async def write_after() -> None:
        journal = sqlite_journal(journal_path)
        await journal.record_intent(
            idempotency_key="after", action="text_to_image", params=TaskParams(), output_dir=None
        )
        await journal.attach_task_id("after", "task-after")
        assert (await journal.get("task-after")) is not None
        await journal.close()

    anyio.run(write_after)
    assert "after" in rows(journal_path)


def test_many_processes_opening_a_new_journal_at_the_same_instant_all_succeed(tmp_path: Path) -> None:
    # Each thread stands for a process: its own Journal, its own connections, all released by one barrier.
    import threading

    import anyio

    failures: list[str] = []
    for trial in range(60):
        path = tmp_path / f"fresh-{trial}" / "journal.sqlite3"
        barrier = threading.Barrier(4)

        def open_and_write(n: int, path: Path = path, barrier: threading.Barrier = barrier) -> None:
            journal = sqlite_journal(path)
            barrier.wait()

            async def write() -> None:
                try:
                    await journal.record_intent(
                        idempotency_key=f"k{n}", action="text_to_image", params=TaskParams(), output_dir=None
                    )
                finally:
                    await journal.close()

            try:
                anyio.run(write)
            except Exception as exc:
                failures.append(repr(exc))

        threads = [threading.Thread(target=open_and_write, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(rows(path)) == 4 or failures
    assert failures == []
