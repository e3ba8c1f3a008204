"""Fault soak: many generate_image calls through a real MCP session while the sandbox injects faults.

`python -m bench.soak [--calls N] [--step-requests M]` (defaults 120 and 4) serves our MCP server over
streamable HTTP on loopback, against the sandbox on loopback, with the sandbox injecting 429s with
Retry-After (seconds and HTTP-date forms), 5xx, dropped connections, creates that commit but whose response
is lost, and failed tasks, each at a few percent. Each logical request is made the way an agent would: call
generate_image without an idempotency key, then do exactly what the result says (get_task with the id, or
generate_image again with the key it names). Afterwards the sandbox's tasks and ledger are checked against
the journal:

- every logical request made exactly one task (a second task for one request is a double charge);
- every task the sandbox made is in the journal (with the key that made it);
- every call returned images, or a task id with its next step (or, when RunAPI never answered a create,
  the idempotency key to call again with), or a failed task as an error that says it was not billed.

Then, unless `--step-requests 0`, the faults at every step after a create run one kind at a time
(bench/soak_steps.py), with a table per kind. The counts are printed; the exit status is 1 when any check
of either part fails. tests/reliability runs a short soak
in CI through `run_soak`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from runapi_mcp.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from runapi_mcp.sandbox.faults import Fault
from runapi_mcp.server import build_server
from runapi_mcp.server.http import running_http
from runapi_mcp.settings import Settings

API_KEY = "sk-soak-5d1e0b7a93"
CREATES = "/api/v1/gpt_image_2/*"
# Steps one logical request may take (the first call and the follow-ups its results ask for).
MAX_STEPS = 8
# The server's wait budget per call: long enough for a task under poll faults, short enough for a slow one.
WAIT_SECONDS = 5
_KEY_IN_TEXT = re.compile(r"idempotency_key '([^']+)'")
_FAILED_TASK = re.compile(r"Task (\S+) failed")


@dataclass(frozen=True)
class SoakConfig:
    calls: int = 120
    concurrency: int = 8
    seed: int = 20_260_526
    timeout: float = 300.0
    """Seconds the whole soak may take; it fails past that."""
    latency: float = 0.2
    rate_limit_rate: float = 0.04
    server_error_rate: float = 0.04
    drop_rate: float = 0.03
    lost_response_rate: float = 0.05
    fail_task_rate: float = 0.05
    retry_after: float = 0.2
    max_retries: int = 1
    """The server's retries per request: low, so that some creates exhaust them and the agent's own retry
    with the idempotency key (the path where a double charge could happen) is exercised too."""
    scripted: bool = True
    """Start with the SCRIPTS requests (one at a time), so that every fault kind and recovery path occurs."""


@dataclass
class SoakReport:
    requests: int = 0
    calls: int = 0
    generate_calls: int = 0
    get_task_calls: int = 0
    seconds: float = 0.0
    # what each call returned
    images: int = 0
    task_and_next: int = 0
    key_and_next: int = 0
    failed_not_billed: int = 0
    failed_without_not_billed: int = 0
    other: int = 0
    other_examples: list[str] = field(default_factory=list[str])
    call_seconds: list[float] = field(default_factory=list[float])
    # how each logical request ended
    completed: int = 0
    failed: int = 0
    unfinished: int = 0
    # what the sandbox and the journal say
    faults: Counter[str] = field(default_factory=Counter[str])
    tasks: int = 0
    charged_tasks: int = 0
    refunded_tasks: int = 0
    replays: int = 0
    double_charges: int = 0
    requests_without_task: int = 0
    lost_tasks: int = 0
    journal_key_mismatches: int = 0
    failed_but_charged: int = 0
    missing_files: int = 0

    def problems(self) -> list[str]:
        checks = {
            "double charges": self.double_charges,
            "lost tasks (made by RunAPI, missing from the journal)": self.lost_tasks,
            "requests that made no task": self.requests_without_task,
            "unfinished requests": self.unfinished,
            "calls that returned neither images nor a next step": self.other,
            "failed tasks whose error did not say 'not billed'": self.failed_without_not_billed,
            "failed tasks that were charged": self.failed_but_charged,
            "journal rows with another task's key": self.journal_key_mismatches,
            "completed images missing on disk": self.missing_files,
        }
        return [f"{name}: {count}" for name, count in checks.items() if count]

    def summary(self) -> str:
        faults = ", ".join(f"{kind} x{n}" for kind, n in sorted(self.faults.items())) or "none"
        lines = [
            f"soak: {self.requests} logical requests, {self.calls} tool calls ({self.generate_calls} generate_image, "
            f"{self.get_task_calls} get_task) in {self.seconds:.1f} s",
            f"faults injected: {faults}",
            f"calls returned: images {self.images}, task id + next step {self.task_and_next}, "
            f"idempotency key + next step {self.key_and_next}, failed (not billed) {self.failed_not_billed}, "
            f"other {self.other}",
            f"requests ended: completed {self.completed}, failed {self.failed}, unfinished {self.unfinished}",
            f"sandbox: {self.tasks} tasks, {self.charged_tasks} charged, {self.refunded_tasks} refunded, "
            f"{self.replays} idempotent replays",
            f"double charges: {self.double_charges}",
            f"lost tasks: {self.lost_tasks}",
            f"requests without a task: {self.requests_without_task}",
        ]
        lines.extend(f"  e.g. {example}" for example in self.other_examples[:3])
        problems = self.problems()
        lines.append("result: " + ("OK" if not problems else "FAILED - " + "; ".join(problems)))
        return "\n".join(lines)


@dataclass
class _Outcome:
    kind: str  # images | task_and_next | key_and_next | failed | other
    task_id: str | None = None
    key: str | None = None
    text: str = ""


def classify(result: Any) -> _Outcome:
    """What a generate_image or get_task result tells an agent to do next."""
    text = "\n".join(getattr(c, "text", "") for c in result.content)
    if result.is_error:
        if failed := _FAILED_TASK.search(text):
            return _Outcome("failed", task_id=failed.group(1), text=text)
        if key := _KEY_IN_TEXT.search(text):
            return _Outcome("key_and_next", key=key.group(1), text=text)
        return _Outcome("other", text=text)
    structured = result.structured_content or {}
    tasks = structured.get("tasks") or []
    if len(tasks) != 1:
        return _Outcome("other", text=text)
    task = tasks[0]
    status, task_id, next_action = task.get("status"), task.get("task_id"), task.get("next_action")
    if status == "completed" and task.get("images") and all(i.get("path") for i in task["images"]):
        return _Outcome("images", task_id=task_id, text=text)
    if task_id and next_action == "get_task":
        return _Outcome("task_and_next", task_id=task_id, text=text)
    if not task_id and next_action == "generate_image":
        return _Outcome("key_and_next", key=task.get("idempotency_key"), text=text)
    return _Outcome("other", task_id=task_id, text=text)


@dataclass
class _Request:
    prompt: str
    final: str = "unfinished"  # completed | failed | unfinished
    task_id: str | None = None
    paths: list[str] = field(default_factory=list[str])


def soak_settings(
    workdir: Path, base_url: str, config: SoakConfig, *, wait_seconds: float = WAIT_SECONDS, preview: str = "off"
) -> Settings:
    project = workdir / "project"
    project.mkdir(parents=True, exist_ok=True)
    env = {
        "HOME": str(workdir / "home"),
        "RUNAPI_BASE_URL": base_url,
        "RUNAPI_API_KEY": API_KEY,
        "RUNAPI_MCP_STATE_DIR": str(workdir / "state"),
        "RUNAPI_MCP_WAIT_SECONDS": str(wait_seconds),
        "RUNAPI_MCP_LOG_LEVEL": "WARNING",
        "RUNAPI_MCP_POLL_INITIAL_SECONDS": "0.02",
        "RUNAPI_MCP_POLL_MAX_SECONDS": "0.2",
        "RUNAPI_MCP_MAX_RETRIES": str(config.max_retries),
        "RUNAPI_MCP_TIMEOUT": "10",
        "RUNAPI_MCP_PREVIEW": preview,
    }
    return Settings.load(env=env, working_dir=project).model_copy(update={"transport": "http"})


def _count_faults(sandbox: RunningSandbox, counts: Counter[str]) -> None:
    """Count what the dice inject (the sandbox itself keeps no tally)."""
    dice = sandbox.state.dice
    roll = dice.request_fault

    def counting(*, is_create: bool) -> Fault | None:
        fault = roll(is_create=is_create)
        if fault is not None:
            kind = "5xx" if fault.kind == "status" and (fault.status or 0) >= 500 else fault.kind
            if fault.status == 429:
                kind = "429 (Retry-After date)" if fault.retry_after_is_date else "429 (Retry-After seconds)"
            counts[kind] += 1
        return fault

    dice.request_fault = counting  # type: ignore[method-assign]


# Sequences of create faults for the first requests, made one at a time so that each request meets its
# whole sequence: every kind occurs, and every recovery path is taken, even in a short run.
SCRIPTS: tuple[tuple[str, ...], ...] = (
    ("lost-response", "lost-response"),  # RunAPI made the task twice unheard: the agent retries with the key
    ("lost-response",),  # the server's own retry gets the task replayed
    ("429;retry_after={retry_after}", "429;retry_after_date=1"),  # both Retry-After forms, then the agent's retry
    ("503", "drop"),
    ("fail-task",),
    ("slow;seconds={slow}",),  # outlasts the wait: the result names the task and says to call get_task
)


def _kind(spec: str) -> str:
    if spec.startswith("429;retry_after_date"):
        return "429 (Retry-After date)"
    if spec.startswith("429"):
        return "429 (Retry-After seconds)"
    if spec[:1] == "5":
        return "5xx"
    return spec.split(";", 1)[0] + (" (scripted)" if spec.startswith(("fail-task", "slow")) else "")


async def _queue(sandbox: RunningSandbox, specs: Sequence[str]) -> None:
    async with httpx2.AsyncClient() as http:
        response = await http.post(
            f"{sandbox.url}/_sandbox/faults",
            json={"faults": [{"fault": spec, "method": "POST", "path": CREATES, "count": 1} for spec in specs]},
        )
        response.raise_for_status()


@asynccontextmanager
async def _mcp_session(url: str) -> AsyncIterator[Client]:
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=120)))
        transport = streamable_http_client(f"{url}/mcp", http_client=http)
        yield await stack.enter_async_context(Client(transport, read_timeout_seconds=90))


async def _follow(
    client: Client, request: _Request, report: SoakReport, *, max_steps: int = MAX_STEPS, retry_plain: bool = False
) -> None:
    """Make one logical request the way an agent would, doing what each result says next.

    With `retry_plain`, a result that gives no next step is answered the way a user would: one more plain
    generate_image call with the same prompt (no key), which is where an unknown outcome gets paid twice.
    """
    key: str | None = None
    task_id: str | None = None
    retried = False
    for _ in range(max_steps):
        if task_id is not None:
            report.get_task_calls += 1
            started = time.monotonic()
            result = await client.call_tool("get_task", {"task_id": task_id, "wait": True})
        else:
            report.generate_calls += 1
            args: dict[str, Any] = {"prompt": request.prompt}
            if key is not None:
                args["idempotency_key"] = key
            started = time.monotonic()
            result = await client.call_tool("generate_image", args)
        report.call_seconds.append(time.monotonic() - started)
        report.calls += 1
        outcome = classify(result)
        if outcome.kind == "images":
            report.images += 1
            request.final, request.task_id = "completed", outcome.task_id
            task = (result.structured_content or {})["tasks"][0]
            request.paths = [image["path"] for image in task["images"]]
            return
        if outcome.kind == "failed":
            if "not billed" in outcome.text:
                report.failed_not_billed += 1
            else:
                report.failed_without_not_billed += 1
            request.final, request.task_id = "failed", outcome.task_id
            return
        if outcome.kind == "task_and_next":
            report.task_and_next += 1
            task_id = outcome.task_id
        elif outcome.kind == "key_and_next" and outcome.key:
            report.key_and_next += 1
            key = outcome.key
        else:
            report.other += 1
            report.other_examples.append(outcome.text[:300])
            if not retry_plain or retried:
                return
            retried, key, task_id = True, None, None


def _journal_rows(path: Path) -> list[tuple[str, str | None, str]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT idempotency_key, task_id, status FROM tasks").fetchall()


def _reconcile(
    report: SoakReport, requests: list[_Request], sandbox: RunningSandbox, journal: list[tuple[str, str | None, str]]
) -> None:
    ledger = sandbox.ledger()
    tasks = list(sandbox.state.tasks.values())
    report.tasks = len(tasks)
    report.replays = int(ledger["totals"]["replays"])
    per_task = {row["id"]: row for row in ledger["tasks"]}
    report.charged_tasks = sum(1 for row in ledger["tasks"] if row["charged_cents"] > 0)
    report.refunded_tasks = sum(1 for row in ledger["tasks"] if row["refunded_cents"] > 0)
    by_prompt = Counter(task.request.prompt for task in tasks)
    report.double_charges = sum(max(0, by_prompt[r.prompt] - 1) for r in requests) + sum(
        max(0, int(row["charges"]) - 1) for row in ledger["tasks"]
    )
    report.requests_without_task = sum(1 for r in requests if by_prompt[r.prompt] == 0)
    keys_by_task = {task_id: key for key, task_id, _ in journal if task_id}
    for task in tasks:
        if task.id not in keys_by_task:
            report.lost_tasks += 1
        elif keys_by_task[task.id] != task.idempotency_key:
            report.journal_key_mismatches += 1
        if task.failure is not None and per_task[task.id]["charged_cents"] > 0:
            report.failed_but_charged += 1
    report.completed = sum(1 for r in requests if r.final == "completed")
    report.failed = sum(1 for r in requests if r.final == "failed")
    report.unfinished = sum(1 for r in requests if r.final == "unfinished")
    report.missing_files = sum(1 for r in requests for p in r.paths if not Path(p).is_file())


async def run_soak(config: SoakConfig, workdir: Path) -> SoakReport:
    """Run the soak in the current event loop (asyncio), with all files under `workdir`."""
    report = SoakReport(requests=config.calls)
    sandbox_config = SandboxConfig(
        latency=config.latency,
        balance_cents=10_000_000,
        rate_limit_rate=config.rate_limit_rate,
        server_error_rate=config.server_error_rate,
        drop_rate=config.drop_rate,
        lost_response_rate=config.lost_response_rate,
        fail_task_rate=config.fail_task_rate,
        retry_after=config.retry_after,
        seed=config.seed,
    )
    run_id = f"{config.seed}-{int(time.time())}"
    requests = [_Request(f"soak {run_id} request {i}: a lighthouse in the fog") for i in range(config.calls)]
    started = time.monotonic()
    async with running_sandbox(sandbox_config) as sandbox:
        _count_faults(sandbox, report.faults)
        settings = soak_settings(workdir, sandbox.url, config)
        scripts = SCRIPTS[: config.calls] if config.scripted else ()
        with anyio.fail_after(config.timeout):
            async with running_http(build_server(settings), settings) as url, _mcp_session(url) as client:
                for script, request in zip(scripts, requests, strict=False):
                    specs = [s.format(retry_after=config.retry_after, slow=WAIT_SECONDS + 1) for s in script]
                    await _queue(sandbox, specs)
                    report.faults.update(_kind(spec) for spec in specs)
                    await _follow(client, request, report)
                limit = anyio.Semaphore(config.concurrency)

                async def one(request: _Request) -> None:
                    async with limit:
                        await _follow(client, request, report)

                async with anyio.create_task_group() as group:
                    for request in requests[len(scripts) :]:
                        group.start_soon(one, request)
        report.seconds = time.monotonic() - started
        journal = await anyio.to_thread.run_sync(_journal_rows, settings.state_dir / "journal.sqlite3")
        report.faults["fail-task (dice)"] += (
            sum(1 for t in sandbox.state.tasks.values() if t.failure is not None)
            - report.faults["fail-task (scripted)"]
        )
        _reconcile(report, requests, sandbox, journal)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=SoakConfig.calls, help="logical generate_image requests")
    parser.add_argument("--concurrency", type=int, default=SoakConfig.concurrency)
    parser.add_argument("--seed", type=int, default=SoakConfig.seed)
    parser.add_argument("--timeout", type=float, default=SoakConfig.timeout, help="seconds for the whole soak")
    parser.add_argument(
        "--step-requests", type=int, default=4, help="requests per step fault kind (0 skips the step faults)"
    )
    parser.add_argument("--json", action="store_true", help="print the counts as JSON after the summary")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.concurrency < 1 or args.step_requests < 0:
        parser.error("--calls and --concurrency must be at least 1, --step-requests at least 0")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    # One line per read of an unknown status would bury the tables; the step table counts those reads.
    logging.getLogger("runapi_mcp.runapi.polling").setLevel(logging.ERROR)
    # Imported here: bench.soak_steps builds on this module.
    from bench.soak_steps import run_step_soak

    config = SoakConfig(calls=args.calls, concurrency=args.concurrency, seed=args.seed, timeout=args.timeout)
    with tempfile.TemporaryDirectory(prefix="runapi-soak-") as tmp:
        report = asyncio.run(run_soak(config, Path(tmp) / "classic"))
        print(report.summary(), flush=True)
        steps = None
        if args.step_requests:
            steps = asyncio.run(
                run_step_soak(Path(tmp) / "steps", requests_per_kind=args.step_requests, seed=args.seed)
            )
            print()
            print(steps.summary())
    if args.json:
        data: dict[str, Any] = {k: v for k, v in vars(report).items() if k not in ("other_examples", "call_seconds")}
        if steps is not None:
            data["step_faults"] = [{k: v for k, v in vars(kind).items() if k != "examples"} for kind in steps.kinds]
        print(json.dumps(data, indent=2, default=dict))
    return 1 if report.problems() or (steps is not None and steps.problems()) else 0


if __name__ == "__main__":
    sys.exit(main())
