"""3. Time to result and polling cost: our generate_image(wait=true) against fixed 2 s and 5 s pollers.

Every contender creates the same kind of task on one sandbox, all at once, so they share the machine's
load. A task's duration comes from its Idempotency-Key (`-s<seconds>-`, turned into the sandbox's
`slow` fault by bench.sandbox_proc). For each nominal duration D there are several tasks whose
durations are spread evenly over D - 2.5 s .. D + 2.5 s: real tasks finish at any phase of a poll
cycle, and one fixed duration would land every poller on the same lucky or unlucky phase.

- delay: when the caller holds the result (our tool call returned; a poller read `completed`) minus
  the moment the sandbox finished the task (its done_at; same machine, same wall clock).
- requests: status reads per task, counted by the sandbox.
The 2 s poller is RunAPI's official Python SDK's loop (read at once after the create, then every 2 s);
the 5 s poller is RunAPI's own MCP server's loop (read at once, then every 5 s). Ours also downloads
the image, writes it and makes a preview before it returns; the pollers stop at the status.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2

from bench.common import (
    API_KEY,
    REPO,
    Row,
    RunConfig,
    Section,
    child_process,
    default_schedule,
    describe_schedule,
    median,
    server_env,
    stdio_params,
    stdio_session,
)
from runapi_mcp.runapi.polling import PollSchedule
from runapi_mcp.settings import Settings

PROMPT = "a lighthouse on a cliff at dusk, oil painting"
SPREAD = 5.0
# One other schedule runs beside the default, for comparison: the first of these that is not the default.
# A fixed interval T costs about 2/T of the 2 s poller's reads and gives a median delay of about T/2 (plus
# our download and preview): both targets hold for T in about 2.9..3.7 s.
ALTERNATIVES: tuple[tuple[float, float], ...] = ((3.0, 3.0), (2.0, 5.0))
MAX_REQUEST_RATIO = 0.7
MAX_MEDIAN_DELAY = 2.0


@dataclass
class Plan:
    durations: tuple[float, ...]
    samples: int

    def task_seconds(self, nominal: float) -> list[float]:
        if self.samples == 1:
            return [nominal]
        return [round(nominal - SPREAD / 2 + SPREAD * (i + 0.5) / self.samples, 3) for i in range(self.samples)]


@dataclass
class Outcome:
    key: str
    nominal: float
    seconds: float
    finished_at: float | None = None  # wall clock when the caller held the result
    error: str | None = None


@dataclass
class Tally:
    delays: list[float] = field(default_factory=list[float])
    requests: list[int] = field(default_factory=list[int])
    errors: list[str] = field(default_factory=list[str])

    @property
    def mean_requests(self) -> float:
        return sum(self.requests) / len(self.requests) if self.requests else float("nan")


def plan_for(cfg: RunConfig) -> Plan:
    return Plan((1.0, 2.0, 3.0), 1) if cfg.quick else Plan((10.0, 30.0, 60.0), 8)


def _key(contender: str, seconds: float, index: int) -> str:
    return f"bench-{contender}-s{seconds:g}-{index}-{time.time_ns()}"


async def _fixed_poller(http: httpx2.AsyncClient, interval: float, outcome: Outcome) -> None:
    """Create, read at once, then every `interval` seconds after each answer, until completed (bounded)."""
    body = {"model": "gpt-image-2", "prompt": PROMPT}
    created = await http.post("/api/v1/gpt_image_2/text_to_image", json=body, headers={"Idempotency-Key": outcome.key})
    created.raise_for_status()
    task_id = created.json()["id"]
    deadline = time.monotonic() + outcome.seconds + 60
    while time.monotonic() < deadline:
        status = (await http.get(f"/api/v1/gpt_image_2/text_to_image/{task_id}")).json()["status"]
        if status in ("completed", "failed"):
            outcome.finished_at = time.time()
            if status == "failed":
                outcome.error = "task failed"
            return
        await anyio.sleep(interval)
    outcome.error = "poller gave up"


async def _ours(client: Any, outcome: Outcome) -> None:
    async def progress(progress: float, total: float | None, message: str | None) -> None:
        pass

    result = await client.call_tool(
        "generate_image", {"prompt": PROMPT, "idempotency_key": outcome.key}, progress_callback=progress
    )
    outcome.finished_at = time.time()
    structured = result.structured_content or {}
    statuses = [t.get("status") for t in structured.get("tasks", [])]
    if result.is_error or statuses != ["completed"]:
        outcome.error = f"tool returned {statuses or 'an error'}"


async def run(cfg: RunConfig) -> Section:
    plan = plan_for(cfg)
    section = Section()
    logs = cfg.folder("polling")
    wait = str(max(plan.durations) + SPREAD + 60)
    contenders: dict[str, list[Outcome]] = {
        name: [
            Outcome(_key(name, s, i), nominal, s)
            for nominal in plan.durations
            for i, s in enumerate(plan.task_seconds(nominal))
        ]
        for name in ("ours", "alternative", "poll2", "poll5")
    }
    initial, maximum = _alternative()
    alternative = describe_schedule(initial, PollSchedule().factor, maximum)
    alternative_env = {"RUNAPI_MCP_POLL_INITIAL_SECONDS": f"{initial:g}", "RUNAPI_MCP_POLL_MAX_SECONDS": f"{maximum:g}"}
    async with child_process(["-m", "bench.sandbox_proc"], env=None, cwd=REPO, log=logs / "sandbox.log") as sandbox:
        ours_env = server_env(cfg, "polling-ours", sandbox.url, RUNAPI_MCP_WAIT_SECONDS=wait)
        alt_env = server_env(cfg, "polling-alt", sandbox.url, RUNAPI_MCP_WAIT_SECONDS=wait, **alternative_env)
        ours_params = stdio_params(cfg, "polling-ours", ["-m", "runapi_mcp"], ours_env)
        alt_params = stdio_params(cfg, "polling-alt", ["-m", "runapi_mcp"], alt_env)
        limits = httpx2.Limits(max_connections=200, max_keepalive_connections=200)
        headers = {"Authorization": f"Bearer {API_KEY}"}
        with (logs / "servers.log").open("a", encoding="utf-8") as log:
            async with (
                httpx2.AsyncClient(base_url=sandbox.url, headers=headers, limits=limits, timeout=30) as http,
                stdio_session(ours_params, log) as ours,
                stdio_session(alt_params, log) as alt,
            ):
                # Bounded: a call that never returns fails the run instead of hanging it.
                with anyio.fail_after(max(plan.durations) + SPREAD + 120):
                    await _all(contenders, ours, alt, http)
                tasks: dict[str, Any] = (await http.get("/_bench/tasks")).json()
    by_key = {info["key"]: info for info in tasks.values()}
    tallies: dict[tuple[str, float], Tally] = {}
    for name, outcomes in contenders.items():
        for nominal in plan.durations:
            tally = tallies.setdefault((name, nominal), Tally())
            for outcome in outcomes:
                if outcome.nominal == nominal:
                    _count(tally, outcome, by_key.get(outcome.key))
    for label, name in (("", "ours"), (f"(alternative: {alternative}) ", "alternative")):
        for size, nominal in zip(("short", "medium", "long"), plan.durations, strict=True):
            for row in _rows(label, name, size, nominal, tallies):
                row.alternative = name == "alternative"
                section.rows.append(row)
    section.notes.append(
        f"3. {plan.samples} task(s) per duration and contender, durations spread over ±{SPREAD / 2:g} s around "
        f"{', '.join(f'{d:g}' for d in plan.durations)} s, all {sum(map(len, contenders.values()))} tasks at once on "
        "one sandbox process. Ours: `python -m runapi_mcp` over stdio, RUNAPI_MCP_WAIT_SECONDS="
        f"{wait}, defaults otherwise ({default_schedule()}). Alternative: the same server with "
        + " ".join(f"{k}={v}" for k, v in alternative_env.items())
        + ". Delay = the caller holds the result "
        "minus the sandbox's done_at; requests = status reads counted by the sandbox. Ours downloads, saves and "
        "previews before returning; the fixed pollers stop at the status."
    )
    return section


def _alternative() -> tuple[float, float]:
    default = (Settings.model_fields["poll_initial_seconds"].default, Settings.model_fields["poll_max_seconds"].default)
    return next(pair for pair in ALTERNATIVES if pair != default)


async def _all(contenders: dict[str, list[Outcome]], ours: Any, alt: Any, http: httpx2.AsyncClient) -> None:
    async with anyio.create_task_group() as tg:
        for outcome in contenders["ours"]:
            tg.start_soon(_guard, _ours, ours, outcome)
        for outcome in contenders["alternative"]:
            tg.start_soon(_guard, _ours, alt, outcome)
        for outcome in contenders["poll2"]:
            tg.start_soon(_guard, _fixed_poller, http, 2.0, outcome)
        for outcome in contenders["poll5"]:
            tg.start_soon(_guard, _fixed_poller, http, 5.0, outcome)


async def _guard(fn: Any, target: Any, *args: Any) -> None:
    outcome: Outcome = args[-1]
    try:
        await fn(target, *args)
    except Exception as exc:  # one failed task is a figure to report, not a reason to lose the run
        outcome.error = f"{type(exc).__name__}: {exc}"


def _count(tally: Tally, outcome: Outcome, info: dict[str, Any] | None) -> None:
    if outcome.error or outcome.finished_at is None or info is None:
        tally.errors.append(outcome.error or "no task")
        return
    tally.delays.append(outcome.finished_at - info["done_at"])
    tally.requests.append(len(info["status_reads"]))


def _rows(label: str, name: str, size: str, nominal: float, tallies: dict[tuple[str, float], Tally]) -> list[Row]:
    ours = tallies[(name, nominal)]
    poll2 = tallies[("poll2", nominal)]
    poll5 = tallies[("poll5", nominal)]
    ratio = ours.mean_requests / poll2.mean_requests if poll2.requests else float("nan")
    delay = median(ours.delays)
    errors = ours.errors + poll2.errors + poll5.errors
    note = f"errors: {'; '.join(sorted(set(errors)))}" if errors else ""
    req_ok = not errors and ratio <= MAX_REQUEST_RATIO
    delay_ok = not errors and delay <= MAX_MEDIAN_DELAY
    return [
        Row(
            f"3. {label}status reads per task, {size} task ({nominal:g} s)",
            f"{ours.mean_requests:.1f}",
            f"2 s: {poll2.mean_requests:.1f} · 5 s: {poll5.mean_requests:.1f}",
            f"{ratio:.2f}x of 2 s (≤ {MAX_REQUEST_RATIO})",
            req_ok,
            note,
        ),
        Row(
            f"3. {label}delay done → result, {size} task ({nominal:g} s), median",
            f"{delay:.2f} s",
            f"2 s: {median(poll2.delays):.2f} s · 5 s: {median(poll5.delays):.2f} s",
            f"≤ {MAX_MEDIAN_DELAY:g} s",
            delay_ok,
            note,
        ),
    ]
