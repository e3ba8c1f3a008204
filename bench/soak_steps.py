"""The fault soak's second part: faults at every step after a create, one kind at a time.

For each kind, a few logical generate_image requests run through a real MCP session (our server over
streamable HTTP, against the sandbox on loopback) while the sandbox injects that fault, scripted through
its fault queue so each request meets it: a result image that passes the content check but does not
decode (a truncated JPEG, a PNG with valid CRCs and broken pixel data), a 2xx create whose body is not
the contract's (HTML, another JSON shape, no `id`; the task IS created and charged), a completed task
with no images, status reads held near the wait budget, `Retry-After: 0.001` on status answers, and
unknown or empty status words; and on this side, a sidecar that cannot be written and a journal that cannot
record the finished task (as on a full disk). The agent does what each result says; given no next step, it tries once
more the plain way (no key), as a user would, which is where an unknown outcome gets paid twice.

Per kind it prints calls, tasks created, double charges, lost tasks (made by RunAPI, missing from the
journal), calls that returned neither images nor a task id/key with a next step, unfinished requests and
status reads. It reports what happens, failures included: nothing here is excused or retried away.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Generator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import patch

import anyio
import httpx2

from bench.soak import SoakConfig, SoakReport, _follow, _journal_rows, _mcp_session, _Request, soak_settings
from runapi_mcp.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from runapi_mcp.server import build_server
from runapi_mcp.server.http import running_http

CREATES = "/api/v1/gpt_image_2/*"
STATUS_READS = "/api/v1/gpt_image_2/*/*"
WAIT_SECONDS = 3.0
"""The server's wait budget in this part: short, so faults that hold a call up cost little time."""
SLOW_READ_SECONDS = WAIT_SECONDS - 0.5
"""Near the budget, where a read in flight decides whether the call overruns it."""
MAX_STEPS = 4
OVERRUN_GRACE = 1.0
"""Seconds past the wait budget a call may take (the create, the download and saving the result)."""


@dataclass(frozen=True)
class StepFault:
    name: str
    per_request: tuple[str, ...] = ()
    """Create faults queued once per request (each request runs alone, so it meets exactly these)."""
    on_reads: str | None = None
    """A fault put on every status read while this kind runs (its requests then run side by side)."""
    local: str | None = None
    """A fault on the server's side of a step: `sidecar` (its write fails) or `journal` (recording the finished
    task fails), both as a full disk fails them."""
    can_finish: bool = True
    """False where the fault holds for good (every read answers it, or the task has no images at all): the
    request cannot end completed, and the check is that every call said so with the task id and a next step."""


STEP_FAULTS: tuple[StepFault, ...] = (
    StepFault("bad-image (png)", per_request=("bad-image;format=png",)),
    StepFault("bad-image (jpeg)", per_request=("bad-image;format=jpeg",)),
    StepFault("bad-body (html)", per_request=("bad-body;shape=html",)),
    StepFault("bad-body (json)", per_request=("bad-body;shape=json",)),
    StepFault("bad-body (no-id)", per_request=("bad-body;shape=no-id",)),
    StepFault("no-images", per_request=("no-images",), can_finish=False),
    StepFault("slow-read", on_reads=f"slow-read;seconds={SLOW_READ_SECONDS:g}"),
    StepFault("tiny-retry-after", per_request=("slow;seconds=2",), on_reads="tiny-retry-after;seconds=0.001"),
    StepFault("unknown-status", on_reads="unknown-status;word=in_queue", can_finish=False),
    StepFault("empty-status", on_reads="empty-status", can_finish=False),
    StepFault("sidecar-write", local="sidecar"),
    StepFault("journal-write", local="journal"),
)


@contextmanager
def _local_fault(kind: str | None) -> Generator[None]:
    """While the block runs, the server's own step of that kind fails the way a full disk fails it."""
    if kind is None:
        yield
        return
    from runapi_mcp.core import saving
    from runapi_mcp.core.errors import JournalError
    from runapi_mcp.core.journal.tasks import Journal

    if kind == "sidecar":

        def no_space(*_: object, **__: object) -> None:
            raise OSError(28, "No space left on device")

        with patch.object(saving, "write_sidecar", no_space):
            yield
        return
    real_update = Journal.update

    async def update(self: Journal, task_id: str, **fields: Any) -> bool:
        if fields.get("status") == "completed":
            raise JournalError("database or disk is full")
        return await real_update(self, task_id, **fields)

    with patch.object(Journal, "update", update):
        yield


@dataclass
class KindReport:
    name: str
    requests: int = 0
    calls: int = 0
    tasks: int = 0
    double_charges: int = 0
    lost_tasks: int = 0
    no_next_step: int = 0
    unfinished: int = 0
    can_finish: bool = True
    status_reads: int = 0
    over_budget: int = 0
    """Calls that took longer than the wait budget plus OVERRUN_GRACE."""
    longest_call: float = 0.0
    seconds: float = 0.0
    timed_out: bool = False
    examples: list[str] = field(default_factory=list[str])

    def problems(self) -> list[str]:
        checks = {
            "double charges": self.double_charges,
            "lost tasks": self.lost_tasks,
            "calls with neither images nor a next step": self.no_next_step,
            "unfinished requests": self.unfinished if self.can_finish else 0,
            "calls past the wait budget": self.over_budget,
            "timed out": int(self.timed_out),
        }
        return [f"{self.name}: {name} {count}" for name, count in checks.items() if count]


@dataclass
class StepReport:
    kinds: list[KindReport] = field(default_factory=list[KindReport])
    seconds: float = 0.0

    def problems(self) -> list[str]:
        return [problem for kind in self.kinds for problem in kind.problems()]

    def summary(self) -> str:
        header = (
            f"{'fault kind':<18} {'reqs':>4} {'calls':>5} {'tasks':>5} {'double':>6} {'lost':>4} "
            f"{'no next':>7} {'unfinished':>10} {'reads':>6} {'over':>4} {'longest':>7} {'secs':>5}"
        )
        lines = [
            f"step faults: {len(self.kinds)} kinds in {self.seconds:.1f} s (wait budget {WAIT_SECONDS:g} s, "
            f"at most {MAX_STEPS} calls per request; given no next step the agent retries once without a key)",
            "columns: requests, tool calls, tasks RunAPI made, double charges, lost tasks, calls with neither "
            "images nor a next step, unfinished requests (* where the fault holds for good, so no request "
            "can finish: expected, each call gave the task id and a next step), status reads, calls past the "
            f"budget (+{OVERRUN_GRACE:g} s), longest call, seconds",
            header,
        ]
        for kind in self.kinds:
            unfinished = f"{kind.unfinished}{'' if kind.can_finish else '*'}"
            lines.append(
                f"{kind.name:<18} {kind.requests:>4} {kind.calls:>5} {kind.tasks:>5} {kind.double_charges:>6} "
                f"{kind.lost_tasks:>4} {kind.no_next_step:>7} {unfinished:>10} {kind.status_reads:>6} "
                f"{kind.over_budget:>4} {kind.longest_call:>6.1f}s {kind.seconds:>5.1f}"
                + ("  (timed out)" if kind.timed_out else "")
            )
        for kind in self.kinds:
            lines.extend(f"  {kind.name} e.g. {example}" for example in kind.examples[:1])
        problems = self.problems()
        lines.append("step result: " + ("OK" if not problems else "FAILED - " + "; ".join(problems)))
        return "\n".join(lines)


async def _queue(sandbox: RunningSandbox, items: list[dict[str, Any]]) -> None:
    async with httpx2.AsyncClient() as http:
        (await http.post(f"{sandbox.url}/_sandbox/faults", json={"faults": items})).raise_for_status()


async def _clear(sandbox: RunningSandbox) -> None:
    async with httpx2.AsyncClient() as http:
        (await http.delete(f"{sandbox.url}/_sandbox/faults")).raise_for_status()


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


async def _run_kind(
    fault: StepFault, client: Any, sandbox: RunningSandbox, requests: list[_Request], limit: float
) -> tuple[KindReport, SoakReport]:
    kind = KindReport(fault.name, requests=len(requests), can_finish=fault.can_finish)
    calls = SoakReport(requests=len(requests))
    reads_before = sandbox.state.requests["status"]
    started = time.monotonic()
    with anyio.move_on_after(limit) as scope, _local_fault(fault.local):
        if fault.on_reads is not None:
            await _queue(sandbox, [{"fault": fault.on_reads, "method": "GET", "path": STATUS_READS, "count": 10_000}])

        async def one(request: _Request) -> None:
            if fault.per_request:
                items = [{"fault": spec, "method": "POST", "path": CREATES} for spec in fault.per_request]
                await _queue(sandbox, items)
            await _follow(client, request, calls, max_steps=MAX_STEPS, retry_plain=True)

        if fault.on_reads is not None and not fault.per_request:
            async with anyio.create_task_group() as group:
                for request in requests:
                    group.start_soon(one, request)
        else:
            for request in requests:
                await one(request)
    await _clear(sandbox)
    kind.timed_out = scope.cancelled_caught
    kind.seconds = time.monotonic() - started
    kind.status_reads = sandbox.state.requests["status"] - reads_before
    kind.calls = calls.calls
    kind.no_next_step = calls.other
    kind.over_budget = sum(1 for seconds in calls.call_seconds if seconds > WAIT_SECONDS + OVERRUN_GRACE)
    kind.longest_call = max(calls.call_seconds, default=0.0)
    kind.examples = [_one_line(text) for text in calls.other_examples]
    return kind, calls


def _reconcile(kind: KindReport, requests: list[_Request], sandbox: RunningSandbox, journal_task_ids: set[str]) -> None:
    prompts = {request.prompt for request in requests}
    tasks = [task for task in sandbox.state.tasks.values() if task.request.prompt in prompts]
    per_prompt = Counter(task.request.prompt for task in tasks)
    settlements = Counter(e.task_id for e in sandbox.state.ledger.entries if e.kind == "settlement")
    kind.tasks = len(tasks)
    kind.double_charges = sum(max(0, n - 1) for n in per_prompt.values()) + sum(
        max(0, settlements[task.id] - 1) for task in tasks
    )
    kind.lost_tasks = sum(1 for task in tasks if task.id not in journal_task_ids)
    kind.unfinished = sum(1 for request in requests if request.final == "unfinished")


async def run_step_soak(
    workdir: Path,
    *,
    requests_per_kind: int = 4,
    kind_timeout: float = 30.0,
    seed: int = 20_260_526,
    kinds: Sequence[str] | None = None,
) -> StepReport:
    """Run each step fault kind (all, or those named) in turn, in the current (asyncio) event loop, all
    files under `workdir`."""
    chosen = [fault for fault in STEP_FAULTS if kinds is None or fault.name in kinds]
    report = StepReport()
    config = SoakConfig(seed=seed)
    sandbox_config = SandboxConfig(latency=0.2, balance_cents=10_000_000, seed=seed)
    run_id = f"{seed}-{int(time.time())}"
    started = time.monotonic()
    batches: list[tuple[KindReport, list[_Request]]] = []
    async with running_sandbox(sandbox_config) as sandbox:
        settings = soak_settings(workdir, sandbox.url, config, wait_seconds=WAIT_SECONDS, preview="auto")
        async with running_http(build_server(settings), settings) as url, _mcp_session(url) as client:
            for fault in chosen:
                requests = [
                    _Request(f"step soak {run_id} {fault.name} request {i}: a lighthouse in the fog")
                    for i in range(requests_per_kind)
                ]
                kind, _ = await _run_kind(fault, client, sandbox, requests, kind_timeout)
                batches.append((kind, requests))
        journal = await anyio.to_thread.run_sync(_journal_rows, settings.state_dir / "journal.sqlite3")
        journal_task_ids = {task_id for _, task_id, _ in journal if task_id}
        for kind, requests in batches:
            _reconcile(kind, requests, sandbox, journal_task_ids)
            report.kinds.append(kind)
    report.seconds = time.monotonic() - started
    return report
