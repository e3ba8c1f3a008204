"""The sandbox's account on disk: one SQLite file per running sandbox, under the server's state folder.

SQLite rather than a rewritten JSON file: each save writes only the rows that changed (a task, a file, a
few account values), uploaded bytes are stored once as blobs instead of being re-encoded on every save,
and a process killed mid-write leaves the last committed state, never a half-written file.

Two processes on one state folder never share a file: each holds an exclusive lock on its own slot
(`sandbox.sqlite3`, then `sandbox-2.sqlite3`, ...) for its lifetime, so the sandbox that starts alone
takes the first one back after a restart. The in-process sandbox of `runapi-mcp --sandbox` uses the
name `sandbox` (beside its task journal, `sandbox-journal.sqlite3`); the standalone `runapi-mcp sandbox`
server uses `sandbox-server`, so the two never mix accounts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

MAX_SLOTS = 16
IN_PROCESS = "sandbox"
STANDALONE = "sandbox-server"
JOURNAL_NAME = "sandbox-journal.sqlite3"
"""The `--sandbox` server's task journal: it names tasks of the in-process sandbox's account."""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, created_at REAL NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (id TEXT PRIMARY KEY, body TEXT NOT NULL, blob TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (digest TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS output_digests (digest TEXT PRIMARY KEY, task_id TEXT NOT NULL);
"""


class StoreBusy(Exception):
    """Every slot in the state folder is held by another running sandbox."""


class StoreUnreadable(Exception):
    """The saved file is not a sandbox account this code can read (damaged, or not SQLite)."""

    def __init__(self, path: Path, cause: BaseException) -> None:
        super().__init__(
            f"The saved sandbox state {path} cannot be read ({type(cause).__name__}: {cause}). Move it away, or "
            "run `runapi-mcp sandbox --reset` to start the sandbox afresh."
        )


@dataclass
class Rows:
    """One save: the rows that changed since the last one. Bytes are hashed in the writer's thread."""

    meta: dict[str, Any] = field(default_factory=dict[str, Any])
    tasks: dict[str, tuple[float, dict[str, Any], list[bytes]]] = field(
        default_factory=dict[str, tuple[float, dict[str, Any], list[bytes]]]
    )
    """id -> (created_at, body with `{"blob": i}` where bytes go, the bytes)."""
    files: dict[str, tuple[dict[str, Any], bytes]] = field(default_factory=dict[str, tuple[dict[str, Any], bytes]])
    output_digests: dict[str, str] = field(default_factory=dict[str, str])

    def __bool__(self) -> bool:
        return bool(self.meta or self.tasks or self.files or self.output_digests)


@dataclass
class Snapshot:
    """Everything a sandbox saved, with blob references resolved back to bytes."""

    meta: dict[str, Any]
    tasks: list[dict[str, Any]]
    """In creation order."""
    files: list[tuple[dict[str, Any], bytes]]
    output_digests: dict[str, str]


def _lock(handle: IO[bytes]) -> bool:
    """An exclusive, non-blocking lock on an open file, held until the file is closed (or the process dies)."""
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def slot_name(name: str, slot: int) -> str:
    return f"{name}.sqlite3" if slot == 1 else f"{name}-{slot}.sqlite3"


def _sqlite_files(path: Path) -> tuple[Path, ...]:
    return (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))


class SandboxStore:
    """The open file of one sandbox. Blocking: call from a worker thread (one at a time)."""

    def __init__(self, path: Path, lock: IO[bytes]) -> None:
        self.path = path
        self._lock = lock
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL with NORMAL survives a killed process (the OS has every committed page); only power loss may
        # cost the last commits, which for play money is the right trade against an fsync per save.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @classmethod
    def open_in(cls, state_dir: Path, name: str = IN_PROCESS) -> SandboxStore:
        """The first free slot in `state_dir` (created if missing); StoreBusy when all are held."""
        state_dir.mkdir(parents=True, exist_ok=True)
        for slot in range(1, MAX_SLOTS + 1):
            path = state_dir / slot_name(name, slot)
            handle = open(path.with_name(path.name + ".lock"), "a+b")  # noqa: SIM115 - held for the store's life
            if _lock(handle):
                try:
                    return cls(path, handle)
                except sqlite3.DatabaseError as exc:
                    handle.close()
                    raise StoreUnreadable(path, exc) from None
                except BaseException:
                    handle.close()
                    raise
            handle.close()
        raise StoreBusy(
            f"{MAX_SLOTS} sandboxes are already running on the state folder {state_dir}; stop one, "
            "or give this server its own RUNAPI_MCP_STATE_DIR."
        )

    def load(self) -> Snapshot:
        try:
            return self._load()
        except (sqlite3.DatabaseError, ValueError, KeyError, TypeError) as exc:
            raise StoreUnreadable(self.path, exc) from None

    def _load(self) -> Snapshot:
        db = self._db
        meta = {name: json.loads(value) for name, value in db.execute("SELECT name, value FROM meta")}
        blobs: dict[str, bytes] = {}

        def blob(digest: str) -> bytes:
            if digest not in blobs:
                row = db.execute("SELECT data FROM blobs WHERE digest = ?", (digest,)).fetchone()
                blobs[digest] = bytes(row[0]) if row else b""
            return blobs[digest]

        tasks: list[dict[str, Any]] = []
        for (body,) in db.execute("SELECT body FROM tasks ORDER BY created_at, rowid"):
            task: dict[str, Any] = json.loads(body)
            for source in task.get("sources", []):
                if "blob" in source:
                    source["data"] = blob(source.pop("blob"))
            tasks.append(task)
        files = [(json.loads(body), blob(digest)) for body, digest in db.execute("SELECT body, blob FROM files")]
        digests = dict(db.execute("SELECT digest, task_id FROM output_digests").fetchall())
        return Snapshot(meta, tasks, files, digests)

    def write(self, rows: Rows) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for name, value in rows.meta.items():
                db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, json.dumps(value)))
            for task_id, (created_at, body, datas) in rows.tasks.items():
                digests = [self._put_blob(data) for data in datas]
                for source in body.get("sources", []):
                    if "blob" in source:
                        source["blob"] = digests[source["blob"]]
                db.execute(
                    "INSERT OR REPLACE INTO tasks (id, created_at, body) VALUES (?, ?, ?)",
                    (task_id, created_at, json.dumps(body)),
                )
            for file_id, (body, data) in rows.files.items():
                db.execute(
                    "INSERT OR REPLACE INTO files (id, body, blob) VALUES (?, ?, ?)",
                    (file_id, json.dumps(body), self._put_blob(data)),
                )
            db.executemany("INSERT OR REPLACE INTO output_digests VALUES (?, ?)", rows.output_digests.items())
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def drop_files(self, file_ids: list[str]) -> None:
        """Forget expired uploads and the bytes nothing else refers to."""
        if not file_ids:
            return
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        db.executemany("DELETE FROM files WHERE id = ?", [(file_id,) for file_id in file_ids])
        referenced = {digest for (digest,) in db.execute("SELECT blob FROM files")}
        for (body,) in db.execute("SELECT body FROM tasks").fetchall():
            referenced.update(s["blob"] for s in json.loads(body).get("sources", []) if "blob" in s)
        stale = [(d,) for (d,) in db.execute("SELECT digest FROM blobs").fetchall() if d not in referenced]
        db.executemany("DELETE FROM blobs WHERE digest = ?", stale)
        db.execute("COMMIT")

    def _put_blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self._db.execute("INSERT OR IGNORE INTO blobs (digest, data) VALUES (?, ?)", (digest, data))
        return digest

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        self._lock.close()


def reset(state_dir: Path, name: str) -> list[Path]:
    """Delete the saved accounts called `name` in `state_dir` (and, for the in-process sandbox, the task
    journal that names their tasks); the files deleted. StoreBusy while a sandbox holds one of them."""
    handles: list[IO[bytes]] = []
    try:
        for slot in range(1, MAX_SLOTS + 1):
            path = state_dir / slot_name(name, slot)
            if not path.exists():
                continue
            handle = open(path.with_name(path.name + ".lock"), "a+b")  # noqa: SIM115 - closed below
            handles.append(handle)
            if not _lock(handle):
                raise StoreBusy(f"A running sandbox is using {path}: stop it first, then reset.")
        doomed = [state_dir / slot_name(name, slot) for slot in range(1, MAX_SLOTS + 1)]
        if name == IN_PROCESS:
            doomed.append(state_dir / JOURNAL_NAME)
        removed: list[Path] = []
        for path in doomed:
            for leftover in _sqlite_files(path):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(leftover)
                    removed.append(leftover)
        return removed
    finally:
        for handle in handles:
            handle.close()
