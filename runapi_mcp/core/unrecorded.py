"""After a create, the journal is a record, not a gate: a write it cannot take is logged and said, never fatal.

The task exists at RunAPI (and may be charged) whatever the journal does. A journal write that fails after the
create (a full disk, a lost database) must not turn that task into an error or a "rejected" one: the result
still carries its id, key and images, and says that the record is missing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

import anyio

from runapi_mcp.core.errors import JournalError

log = logging.getLogger(__name__)


async def recorded(write: Awaitable[object], task: str) -> str | None:
    """Await the journal `write` (shielded: a cancelled call still records); None when it was written, else the
    note the result carries about `task` (its id or key)."""
    with anyio.CancelScope(shield=True):
        try:
            await write
        except JournalError as exc:
            log.warning("the task journal could not record %s: %s", task, exc)
            return (
                f"the task journal could not record this task ({exc}), so list_tasks may not show it: "
                "keep its task id and idempotency key"
            )
    return None
