"""What the journal keeps for timing a wait: callback tokens (hashed) and how long finished tasks took.

Schema version 3's two tables (migrations.py); the same statements on both engines.
"""

from __future__ import annotations

from dataclasses import dataclass

from runapi_mcp.core.journal.engine import Statement
from runapi_mcp.core.journal.tasks import Journal
from runapi_mcp.runapi.models import Action

# Durations kept per kind for the forecast: recent ones, since RunAPI's speed drifts.
RECENT_DURATIONS = 200
# Rows of task_durations kept in all: older ones are pruned as new ones come in.
MAX_DURATION_ROWS = 5000


@dataclass(frozen=True)
class TokenTask:
    token_hash: str
    owner: str
    task_id: str | None  # None while the create has not answered yet


async def claim_token(
    journal: Journal,
    token: str,
    selector: str,
    digest: str,
    *,
    owner: str,
    idempotency_key: str,
    expires_at: float,
) -> str | None:
    """Keep a create's callback token and return the token its URL must carry: this one, or the first
    attempt's while that create's outcome is unknown (a resend must carry the same body, or RunAPI refuses
    it). None when the create has been answered already and its token is kept only as its hash."""
    insert = Statement(
        "INSERT INTO callback_tokens (selector, token_hash, owner, idempotency_key, expires_at, woken_at, "
        "retry_token) VALUES (?, ?, ?, ?, ?, NULL, ?) ON CONFLICT DO NOTHING",
        (selector, digest, owner, idempotency_key, expires_at, token),
    )
    select = Statement(
        "SELECT retry_token FROM callback_tokens WHERE owner = ? AND idempotency_key = ?", (owner, idempotency_key)
    )
    results = await journal.engine.run([insert, select], transaction=True)
    rows = results[-1].rows
    return str(rows[0][0]) if rows and rows[0][0] is not None else None


async def forget_raw_token(journal: Journal, *, owner: str, idempotency_key: str) -> None:
    """The create was answered: from now on only the token's hash is kept."""
    await journal.engine.run(
        [
            Statement(
                "UPDATE callback_tokens SET retry_token = NULL WHERE owner = ? AND idempotency_key = ?",
                (owner, idempotency_key),
            )
        ]
    )


async def token_by_selector(journal: Journal, selector: str, *, now: float) -> TokenTask | None:
    """The live token a selector names, with its task; None for an unknown or expired one. The caller
    compares the token itself against `token_hash`."""
    (result,) = await journal.engine.run(
        [
            Statement(
                "SELECT c.token_hash, c.owner, t.task_id FROM callback_tokens c LEFT JOIN tasks t "
                "ON t.owner = c.owner AND t.idempotency_key = c.idempotency_key "
                "WHERE c.selector = ? AND c.expires_at > ?",
                (selector, now),
            )
        ]
    )
    if not result.rows:
        return None
    digest, owner, task_id = result.rows[0]
    return TokenTask(str(digest), str(owner), None if task_id is None else str(task_id))


async def mark_woken(journal: Journal, selector: str, *, now: float) -> None:
    await journal.engine.run([Statement("UPDATE callback_tokens SET woken_at = ? WHERE selector = ?", (now, selector))])


async def take_woken(journal: Journal, *, owner: str, idempotency_key: str) -> bool:
    """Whether a callback came for this create since the last look (and clear the mark)."""
    (result,) = await journal.engine.run(
        [
            Statement(
                "UPDATE callback_tokens SET woken_at = NULL WHERE owner = ? AND idempotency_key = ? "
                "AND woken_at IS NOT NULL",
                (owner, idempotency_key),
            )
        ]
    )
    return result.rowcount > 0


async def record_duration(journal: Journal, action: Action, resolution: str, seconds: float, *, now: float) -> None:
    await journal.engine.run(
        [
            Statement(
                "INSERT INTO task_durations (action, resolution, seconds, finished_at) VALUES (?, ?, ?, ?)",
                (action, resolution, seconds, now),
            ),
            Statement(
                "DELETE FROM task_durations WHERE seq <= (SELECT MAX(seq) FROM task_durations) - ?",
                (MAX_DURATION_ROWS,),
            ),
        ],
        transaction=True,
    )


async def recent_durations(journal: Journal, action: Action, resolution: str) -> list[float]:
    (result,) = await journal.engine.run(
        [
            Statement(
                "SELECT seconds FROM task_durations WHERE action = ? AND resolution = ? "
                "ORDER BY finished_at DESC LIMIT ?",
                (action, resolution, RECENT_DURATIONS),
            )
        ]
    )
    return [float(str(row[0])) for row in result.rows]
