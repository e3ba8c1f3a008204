"""Which process saves a task's image: a claim per (task, image index) in the journal, with a lease.

Servers sharing one journal (stdio servers on one project's SQLite file, HTTP replicas on one PostgreSQL
database) may follow one task at once. The first to claim an image saves it; the others wait for the record
it leaves and report the same file. The claim is a row taken atomically (an INSERT that only one can make),
never a lock held across the download: the holder renews its lease while it works, and a holder that died
leaves a lease that runs out, after which the next process to ask takes the claim over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from runapi_mcp.core.journal.engine import Engine, Statement
from runapi_mcp.core.journal.rows import ImageRecord

TABLE = "image_saves"
# A claim matters only while followers may overlap; after this the task's own row has the images.
KEEP_SAVED_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Claim:
    state: Literal["mine", "held", "saved"]
    record: ImageRecord | None = None  # what the holder saved (state "saved")
    lease_until: float | None = None  # when another holder's lease runs out (state "held")
    stored: str | None = None  # the record as the journal holds it, to name it in `reopen`


class SaveClaims:
    def __init__(self, engine: Engine, *, clock: Callable[[], float]) -> None:
        self._engine = engine
        self._clock = clock

    async def claim(self, task_id: str, index: int, holder: str, lease: float) -> Claim:
        """Take the claim when it is free or its lease ran out; otherwise say who has it, or what they saved."""
        now = self._clock()
        until = now + lease
        made, taken, found = await self._engine.run(
            [
                Statement(
                    f"INSERT INTO {TABLE} (task_id, idx, holder, lease_until, record) VALUES (?, ?, ?, ?, NULL) "
                    "ON CONFLICT (task_id, idx) DO NOTHING",
                    (task_id, index, holder, until),
                ),
                Statement(
                    f"UPDATE {TABLE} SET holder = ?, lease_until = ? WHERE task_id = ? AND idx = ? "
                    "AND record IS NULL AND lease_until < ? AND holder <> ?",
                    (holder, until, task_id, index, now, holder),
                ),
                Statement(
                    f"SELECT holder, lease_until, record FROM {TABLE} WHERE task_id = ? AND idx = ?", (task_id, index)
                ),
            ],
            transaction=True,
        )
        if made.rowcount == 1 or taken.rowcount == 1:
            return Claim("mine")
        if not found.rows:  # released between the statements cannot happen inside the transaction
            return Claim("held", lease_until=now)
        who, lease_until, record = found.rows[0]
        if record is not None:
            return Claim("saved", record=ImageRecord.model_validate_json(str(record)), stored=str(record))
        if who == holder:
            return Claim("mine")  # this holder's own claim, from a save that did not finish
        return Claim("held", lease_until=float(str(lease_until)))

    async def renew(self, task_id: str, index: int, holder: str, lease: float) -> bool:
        """Extend the lease while saving; False when the claim is no longer this holder's."""
        (result,) = await self._engine.run(
            [
                Statement(
                    f"UPDATE {TABLE} SET lease_until = ? WHERE task_id = ? AND idx = ? AND holder = ? "
                    "AND record IS NULL",
                    (self._clock() + lease, task_id, index, holder),
                )
            ]
        )
        return result.rowcount == 1

    async def saved(self, task_id: str, index: int, holder: str, record: ImageRecord) -> bool:
        """Leave the saved record for the processes waiting on this image (and drop day-old saved claims)."""
        result, _ = await self._engine.run(
            [
                Statement(
                    f"UPDATE {TABLE} SET record = ? WHERE task_id = ? AND idx = ? AND holder = ?",
                    (record.model_dump_json(), task_id, index, holder),
                ),
                Statement(
                    f"DELETE FROM {TABLE} WHERE record IS NOT NULL AND lease_until < ?",
                    (self._clock() - KEEP_SAVED_SECONDS,),
                ),
            ]
        )
        return result.rowcount == 1

    async def release(self, task_id: str, index: int, holder: str) -> None:
        """Give up a claim whose save failed, so the next process to ask tries again at once."""
        await self._engine.run(
            [
                Statement(
                    f"DELETE FROM {TABLE} WHERE task_id = ? AND idx = ? AND holder = ? AND record IS NULL",
                    (task_id, index, holder),
                )
            ]
        )

    async def reopen(self, task_id: str, index: int, holder: str, lease: float, gone: str) -> bool:
        """Take over an image whose saved file is gone (deleted since): True when this holder is to save it again."""
        (result,) = await self._engine.run(
            [
                Statement(
                    f"UPDATE {TABLE} SET holder = ?, lease_until = ?, record = NULL "
                    "WHERE task_id = ? AND idx = ? AND record = ?",
                    (holder, self._clock() + lease, task_id, index, gone),
                )
            ]
        )
        return result.rowcount == 1

    async def forget(self, task_ids: list[str]) -> None:
        if task_ids:
            marks = ", ".join("?" for _ in task_ids)
            await self._engine.run([Statement(f"DELETE FROM {TABLE} WHERE task_id IN ({marks})", tuple(task_ids))])
