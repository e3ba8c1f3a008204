"""The task state machine: every status a journal row can have, and which changes between them are allowed.

    submitting -> pending | unknown | rejected     the create was sent: answered with an id, no answer, or refused
    unknown    -> pending | rejected               the same key sent again: answered, or refused
    rejected   -> submitting                       the same key sent again after a refusal (RunAPI made nothing)
    pending    -> processing | completed | failed
    processing -> completed | failed
    completed, failed                              final

A row may also be written again with the state it already has (a poll that saw no change, a completed task
saved a second time). The journal applies a change only when `allowed` says so; any other change is left
out, with a warning in the log, and the row keeps its state (see `Journal.update`).
"""

from __future__ import annotations

from typing import Literal, get_args

TaskState = Literal["submitting", "unknown", "rejected", "pending", "processing", "completed", "failed"]
TASK_STATES: tuple[TaskState, ...] = get_args(TaskState)

# The create is about to be sent, or was sent without an answer yet.
INTENT_STATE: TaskState = "submitting"
# A task in one of these states may exist at RunAPI though the journal holds no id for it: sending the
# create again with the same idempotency key recovers it without a second charge.
MAY_EXIST_WITHOUT_ID: frozenset[TaskState] = frozenset({"submitting", "unknown"})
FINAL_STATES: frozenset[TaskState] = frozenset({"completed", "failed"})

_NEXT: dict[TaskState, frozenset[TaskState]] = {
    "submitting": frozenset({"pending", "unknown", "rejected"}),
    "unknown": frozenset({"pending", "rejected"}),
    "rejected": frozenset({"submitting"}),
    "pending": frozenset({"processing", "completed", "failed"}),
    "processing": frozenset({"completed", "failed"}),
    "completed": frozenset(),
    "failed": frozenset(),
}


def allowed(old: TaskState, new: TaskState) -> bool:
    """Whether a row in state `old` may move to `new` (staying in the same state always may)."""
    return old == new or new in _NEXT[old]


def sources_of(new: TaskState) -> tuple[TaskState, ...]:
    """Every state a row may be in for a change to `new` to be allowed: what the journal's UPDATEs filter on."""
    return tuple(old for old in TASK_STATES if allowed(old, new))


def is_state(value: str) -> bool:
    return value in TASK_STATES
