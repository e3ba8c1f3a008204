"""The table on the terminal, and bench/RESULTS.md."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from bench.common import Row

# Every run prints a row starting with each of these (the smoke test checks them all).
EXPECTED_ROWS: tuple[str, ...] = (
    "1. cold start",
    "2. get_task on a finished task, stdio",
    "2. get_task on a finished task, streamable HTTP",
    *(
        f"3. {metric}, {size} task"
        for size in ("short", "medium", "long")
        for metric in ("status reads per task", "delay done → result")
    ),
    "3. (alternative: ",
    "4. concurrent generate_image calls, wall time",
    "4. HTTP server peak RSS",
    "4. worst event-loop stall",
    "5. preview of a 4k 16:9 image",
    "5. preview of a 4k 1:1 image",
    "6. tokens per generate_image result, count 1",
    "6. tokens per generate_image result, count 4",
)

HEADERS = ("metric", "ours", "baseline", "ratio / target", "result")

# Why a target is missed and what would meet it, by row prefix: shown in RESULTS.md for failed rows only.
EXPLANATIONS: dict[str, str] = {
    "1. cold start": (
        "Work the bare server does not do before its first answer: the lifespan creates the httpx2 client, "
        "whose TLS context loads the certifi bundle (20-50 ms here) before any request needs it; importing "
        "builds pydantic model classes (runapi_mcp.settings and runapi_mcp.runapi.models are the largest in the "
        "import figures); and the SDK generates the six tools' schemas (about 17 ms). What would meet it: "
        "create the HTTP client (or only its TLS context) on first use, or in a worker thread started without "
        "awaiting it; model_config defer_build=True on the request and response models, which tools/list does "
        "not need. On this shared 2-vCPU machine the ratio also moves by about 0.05 from run to run."
    ),
    "3. delay": (
        "With a poll interval T near the end of a task, a finished task waits about T/2 for the next read (plus "
        "our download and preview), so a schedule that backs off to 5 s waits about 2.5 s. What would meet it: "
        "an interval between about 2.9 s (the request target: 2/T <= 0.7) and 3.7 s (the delay target: T/2 + "
        "download <= 2 s), e.g. RUNAPI_MCP_POLL_INITIAL_SECONDS=3 RUNAPI_MCP_POLL_MAX_SECONDS=3; a status "
        "Retry-After from RunAPI overrides either."
    ),
    "3. status reads": (
        "More status reads than 0.7 times the 2 s poller's: the interval is too short for this duration. "
        "An interval of at least about 2.9 s meets it; see the delay note for the upper bound."
    ),
    "4. concurrent": (
        "Once the sandbox reports the 64 tasks done, the server downloads, checks, saves and previews 64 images "
        "and writes the journal, while the sandbox serves the downloads and the client reads 64 results: on this "
        "machine the three processes share 2 vCPUs, so that phase is CPU-bound and the ratio moves between "
        "about 1.4x and 1.6x from run to run, with whatever else the machine is running. What would meet it "
        "with a margin: less CPU per call in the server (the journal opens a fresh SQLite connection for every "
        "operation: 64 creates spend about 0.15 s in it; one long-lived connection on a dedicated thread), and a "
        "machine with more cores than busy processes."
    ),
    "4. HTTP server peak RSS": (
        "Peak RSS follows how many decoded images are held at once: previews run in anyio's worker threads, "
        "capped in open_state at max(4, 2 x cores) (with anyio's default of 40 the same burst peaked at "
        "300-390 MB here). What would meet it: a smaller cap for Pillow work alone, with its own "
        "anyio.CapacityLimiter of about os.cpu_count()."
    ),
    "4. worst event-loop stall": (
        "No blocking call on the loop: sampling the loop thread's stack during stalls (BENCH_DIAGNOSE=1) finds "
        "it in trivial steps (a socket send, a queue notify) waiting for the GIL that the worker threads "
        "(previews, SQLite, files) pass around. Fewer CPU-bound threads give shorter stalls: 130-200 ms with "
        "40 worker threads, about 60-70 ms with 4. What would meet it: keep Pillow to about os.cpu_count() "
        "threads (its own limiter) and run the journal on one thread; a busy machine lengthens every stall."
    ),
    "5. preview": (
        "Decoding the PNG is most of it: Pillow inflates and unfilters every pixel (about 110 ms for 3840x2160 "
        "and 190-220 ms for 3840x3840 on this machine when it is quiet), and PNG has no reduced-size decode like "
        "JPEG's draft mode; make_preview already skips the EXIF copy and reduces before resampling. 3840x2160 "
        "meets the target on a quiet run (about 135 ms) and misses it when the machine is busy. What would meet "
        "it for 3840x3840: a faster PNG decoder (libspng via pyspng, or libvips: a new dependency, not measured "
        "here) or a faster machine. The preview runs in a worker thread: time to result, not a loop stall."
    ),
}


def format_table(rows: Sequence[Row]) -> str:
    cells = [HEADERS, *(_cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADERS))]
    lines = ["  ".join(value.ljust(width) for value, width in zip(line, widths, strict=True)) for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def _cells(row: Row) -> tuple[str, str, str, str, str]:
    return (row.metric, row.ours, row.baseline or "-", row.target, _verdict(row))


def _verdict(row: Row) -> str:
    verdict = {True: "pass", False: "FAIL", None: "-"}[row.ok]
    return f"{verdict} (alternative)" if row.alternative and row.ok is not None else verdict


def missing_rows(rows: Sequence[Row]) -> list[str]:
    return [prefix for prefix in EXPECTED_ROWS if not any(row.metric.startswith(prefix) for row in rows)]


def machine() -> dict[str, str]:
    try:
        uname = subprocess.run(["uname", "-a"], capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        uname = " ".join(platform.uname())
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "uname -a": uname,
        "nproc": str(os.cpu_count()),
        "CPU": cpu,
        "Python": sys.version.split()[0],
        "mcp": version("mcp"),
        "runapi-mcp": version("runapi-mcp"),
    }


def results_markdown(rows: Sequence[Row], notes: Sequence[str], command: str, started: datetime, seconds: float) -> str:
    md = ["# Benchmarks", ""]
    md.append(
        f"Run on {started.astimezone(UTC):%Y-%m-%d %H:%M} UTC with `{command}` from the repository root "
        f"({seconds / 60:.1f} min). Everything runs on this machine over loopback, against the sandbox."
    )
    md.append("")
    md.extend(f"- {name}: `{value}`" for name, value in machine().items())
    md += ["", "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    md.extend("| " + " | ".join(cell.replace("|", "\\|") for cell in _cells(row)) + " |" for row in rows)
    product = [row for row in rows if not row.alternative and row.ok is not None]
    failed = [row for row in product if not row.ok]
    md += ["", "## Targets"]
    md.append("")
    if not failed:
        md.append(f"All {len(product)} targets are met.")
    else:
        md.append(
            f"{len(product) - len(failed)} of {len(product)} targets are met. Not met, with why and what would meet it:"
        )
        # Rows that fail for one reason (three durations, two image sizes) share one explanation.
        groups: dict[str, list[Row]] = {}
        for row in failed:
            prefix = next((p for p in EXPLANATIONS if row.metric.startswith(p)), row.metric)
            groups.setdefault(prefix, []).append(row)
        for prefix, group in groups.items():
            md.append("")
            for row in group:
                baseline = f"; baseline {row.baseline}" if row.baseline else ""
                note = f"; {row.note}" if row.note else ""
                md.append(f"- **{row.metric}**: {row.ours}{baseline}; target {row.target}{note}.")
            if prefix in EXPLANATIONS:
                md.append("")
                md.append(EXPLANATIONS[prefix])
    alternatives = [row for row in rows if row.alternative and row.ok is not None]
    if alternatives:
        met = sum(1 for row in alternatives if row.ok)
        md += [
            "",
            f"Rows marked (alternative) measure a non-default setting for comparison and are not counted: "
            f"{met} of their {len(alternatives)} targets are met.",
        ]
    md += ["", "## How each figure is taken", ""]
    md.extend(f"- {note}" for note in notes)
    extra = [row for row in rows if row.note and row.ok is not False]
    if extra:
        md += ["", "Details:", ""]
        md.extend(f"- {row.metric}: {row.note}" for row in extra)
    return "\n".join(md) + "\n"
