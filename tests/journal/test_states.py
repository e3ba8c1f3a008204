"""The task state machine: the documented changes are allowed, every other one is not."""

from __future__ import annotations

import itertools

from runapi_mcp.core.journal.states import (
    FINAL_STATES,
    MAY_EXIST_WITHOUT_ID,
    TASK_STATES,
    TaskState,
    allowed,
    sources_of,
)

DOCUMENTED: set[tuple[TaskState, TaskState]] = {
    ("submitting", "pending"),
    ("submitting", "unknown"),
    ("submitting", "rejected"),
    ("unknown", "pending"),
    ("unknown", "rejected"),
    ("rejected", "submitting"),
    ("pending", "processing"),
    ("pending", "completed"),
    ("pending", "failed"),
    ("processing", "completed"),
    ("processing", "failed"),
}


def test_exactly_the_documented_changes_and_staying_put_are_allowed() -> None:
    for old, new in itertools.product(TASK_STATES, TASK_STATES):
        assert allowed(old, new) == (old == new or (old, new) in DOCUMENTED), (old, new)


def test_final_states_go_nowhere() -> None:
    assert set(FINAL_STATES) == {"completed", "failed"}
    for final in FINAL_STATES:
        assert [new for new in TASK_STATES if allowed(final, new)] == [final]


def test_the_states_that_may_hide_a_task_at_runapi_are_the_unanswered_intents() -> None:
    assert set(MAY_EXIST_WITHOUT_ID) == {"submitting", "unknown"}


def test_sources_of_a_state_are_the_states_allowed_to_reach_it() -> None:
    assert set(sources_of("completed")) == {"pending", "processing", "completed"}
    assert set(sources_of("pending")) == {"submitting", "unknown", "pending"}
