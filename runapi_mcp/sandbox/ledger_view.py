"""What `GET /_sandbox/ledger` answers: every task, charge, refund and idempotency key, and the faults injected."""

from __future__ import annotations

from typing import Any

from runapi_mcp.sandbox.clock import iso
from runapi_mcp.sandbox.state import SandboxState
from runapi_mcp.sandbox.tasks import Task


def ledger_json(state: SandboxState) -> dict[str, Any]:
    now = state.now()
    tasks = list(state.tasks.values())
    statuses = [task.status_at(now) for task in tasks]
    entries = state.ledger.entries
    settlements: dict[str, int] = {}
    for entry in entries:
        if entry.kind == "settlement":
            settlements[entry.task_id] = settlements.get(entry.task_id, 0) + 1
    return {
        "now": iso(now),
        "totals": {
            **state.ledger.totals(),
            "tasks": len(tasks),
            "completed": statuses.count("completed"),
            "failed": statuses.count("failed"),
            "in_progress": statuses.count("pending") + statuses.count("processing"),
            "replays": sum(task.replays for task in tasks),
        },
        "tasks": [
            {
                "id": task.id,
                "action": task.action,
                "status": status,
                "idempotency_key": task.idempotency_key,
                "price_cents": task.price_cents,
                "reserved_cents": task.price_cents,
                "charged_cents": state.ledger.charged_cents(task.id),
                "refunded_cents": task.price_cents if status == "failed" else 0,
                "charges": settlements.get(task.id, 0),
                "replays": task.replays,
                "created_at": iso(task.created_at),
                "faults": sorted(_task_faults(task)),
            }
            for task, status in zip(tasks, statuses, strict=True)
        ],
        "charges": [entry.as_json() for entry in entries],
        "idempotency_keys": {
            key: {
                "task_id": record.task_id,
                "requests": record.requests,
                "replays": record.replays,
                "conflicts": record.conflicts,
                "tasks_created": 1,
            }
            for key, record in state.keys.items()
        },
        "faults_injected": dict(sorted(state.injected.items())),
    }


def _task_faults(task: Task) -> set[str]:
    faults = set(task.callback_faults)
    if task.failure is not None:
        faults.add("failed")
    if task.bad_image is not None:
        faults.add(f"bad-image ({task.bad_image})")
    if task.no_images:
        faults.add("no-images")
    return faults
