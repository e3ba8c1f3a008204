"""The hosted image store: one row per result image, in the journal's own database, shared by every replica.

A row is first a claim (which replica downloads the image: the one whose INSERT made the row), then the
image's facts, its preview, and its bytes when they fit under STORED_IMAGE_MAX_BYTES. The claim is an
atomic insert rather than a lock held across the download: a replica killed mid-download leaves a claim
that goes stale after `CLAIM_LEASE_SECONDS`, and the next replica to ask takes it over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio

from runapi_mcp.core.journal import Journal
from runapi_mcp.core.journal.engine import Statement

TABLE = "hosted_images"
# Bytes above this are not kept in the database: reads stream them from RunAPI's URL while it is valid.
STORED_IMAGE_MAX_BYTES = 16 * 1024 * 1024
_COLUMNS = "size_bytes, sha256, content_type, width, height, preview, preview_mime, data, stored_at, claimed_at"
# Replicas creating the table together take this advisory lock (PostgreSQL), like the journal's schema lock.
_TABLE_LOCK = 0x72756E617070  # "runapp"


def _ddl(blob: str, real: str) -> tuple[str, ...]:
    return (
        f"""CREATE TABLE IF NOT EXISTS {TABLE} (
            task_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            owner TEXT NOT NULL,
            claimed_at {real} NOT NULL,
            stored_at {real},
            size_bytes INTEGER,
            sha256 TEXT,
            content_type TEXT,
            width INTEGER,
            height INTEGER,
            preview {blob},
            preview_mime TEXT,
            data {blob},
            PRIMARY KEY (task_id, idx)
        )""",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_owner ON {TABLE} (owner, claimed_at)",
    )


@dataclass(frozen=True)
class StoredImage:
    size_bytes: int | None
    sha256: str | None
    content_type: str | None
    width: int | None
    height: int | None
    preview: bytes | None
    preview_mime: str | None
    data: bytes | None
    stored_at: float | None
    claimed_at: float

    @property
    def stored(self) -> bool:
        return self.stored_at is not None


class PreviewStore:
    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._postgres = journal.location.startswith("postgresql://")
        self._ready = False
        self._creating = anyio.Lock()

    async def claim(self, task_id: str, index: int, owner: str, *, now: float, stale_before: float) -> bool:
        """True when this replica is to download the image: it made the claim, or took over a stale one."""
        await self._table()
        (made,) = await self._run(
            Statement(
                f"INSERT INTO {TABLE} (task_id, idx, owner, claimed_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (task_id, idx) DO NOTHING",
                (task_id, index, owner, now),
            )
        )
        if made.rowcount == 1:
            return True
        (taken,) = await self._run(
            Statement(
                f"UPDATE {TABLE} SET claimed_at = ? WHERE task_id = ? AND idx = ? AND stored_at IS NULL "
                "AND claimed_at < ?",
                (now, task_id, index, stale_before),
            )
        )
        return taken.rowcount == 1

    async def release(self, task_id: str, index: int) -> None:
        """Give up a claim whose download failed, so the next replica that asks may try again."""
        await self._run(
            Statement(f"DELETE FROM {TABLE} WHERE task_id = ? AND idx = ? AND stored_at IS NULL", (task_id, index))
        )

    async def store(self, task_id: str, index: int, image: StoredImage) -> None:
        await self._run(
            Statement(
                f"UPDATE {TABLE} SET size_bytes = ?, sha256 = ?, content_type = ?, width = ?, height = ?, "
                "preview = ?, preview_mime = ?, data = ?, stored_at = ? WHERE task_id = ? AND idx = ?",
                (
                    image.size_bytes,
                    image.sha256,
                    image.content_type,
                    image.width,
                    image.height,
                    image.preview,
                    image.preview_mime,
                    image.data,
                    image.stored_at,
                    task_id,
                    index,
                ),
            )
        )

    async def get(self, task_id: str, index: int) -> StoredImage | None:
        await self._table()
        (found,) = await self._run(
            Statement(f"SELECT {_COLUMNS} FROM {TABLE} WHERE task_id = ? AND idx = ?", (task_id, index))
        )
        return _stored(found.rows[0]) if found.rows else None

    async def previews(self, task_id: str) -> dict[int, tuple[bytes, str]]:
        """The kept previews of a task's images, by index (one read for all of them)."""
        await self._table()
        (found,) = await self._run(
            Statement(
                f"SELECT idx, preview, preview_mime FROM {TABLE} WHERE task_id = ? AND preview IS NOT NULL",
                (task_id,),
            )
        )
        return {int(idx): (bytes(data), str(mime)) for idx, data, mime in found.rows}  # pyright: ignore[reportArgumentType]

    async def forget(self, task_ids: list[str]) -> None:
        if not task_ids:
            return
        await self._table()
        marks = ", ".join("?" for _ in task_ids)
        await self._run(Statement(f"DELETE FROM {TABLE} WHERE task_id IN ({marks})", tuple(task_ids)))

    async def _table(self) -> None:
        if self._ready:
            return
        async with self._creating:
            if self._ready:
                return
            ddl = _ddl("BYTEA", "DOUBLE PRECISION") if self._postgres else _ddl("BLOB", "REAL")
            lock = (Statement("SELECT pg_advisory_xact_lock(?)", (_TABLE_LOCK,)),) if self._postgres else ()
            await self._journal.engine.run([*lock, *(Statement(sql) for sql in ddl)], transaction=True)
            self._ready = True

    async def _run(self, *statements: Statement) -> list[Any]:
        return await self._journal.engine.run(statements)


def _stored(row: tuple[Any, ...]) -> StoredImage:
    size, sha, ctype, width, height, preview, mime, data, stored_at, claimed_at = row
    return StoredImage(
        size_bytes=size,
        sha256=sha,
        content_type=ctype,
        width=width,
        height=height,
        preview=None if preview is None else bytes(preview),
        preview_mime=mime,
        data=None if data is None else bytes(data),
        stored_at=stored_at,
        claimed_at=float(claimed_at),
    )
