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
        f"3. {proposal}{metric}, {size} task"
        for proposal in ("", "(proposal: poll every 3 s) ")
        for size in ("short", "medium", "long")
        for metric in ("status reads per task", "delay done → result")
    ),
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
        "Work the bare server does not do before its first answer: importing our modules (figure in the note), "
        "building the six tools' schemas (about 20-40 ms of pydantic schema generation in the SDK), and, in the "
        "lifespan, creating the httpx2 client, whose TLS context (the certifi bundle) costs 20-50 ms here even "
        "though no request is made yet. What would meet it: create the HTTP client on first use (or start it in a "
        "worker thread without awaiting it in the lifespan), and import Pillow inside the functions that use it "
        "(core.previews, core.storage, core.imaging, core.inputs), since they already run in worker threads."
    ),
    "3. delay": (
        "The default schedule (2 s, x1.5, at most 5 s) reads every 5 s once a task has run about 10 s, so a "
        "finished task waits 2.5 s for the next read on average, plus our download and preview. What would meet "
        "it: a fixed interval T between about 2.9 s (request target, 2/T <= 0.7) and 3.7 s (delay target, T/2 + "
        "download <= 2 s); the proposal rows show T = 3 s (RUNAPI_MCP_POLL_INITIAL_SECONDS=3, "
        "RUNAPI_MCP_POLL_MAX_SECONDS=3) measured in the same run."
    ),
    "5. preview": (
        "Decoding the PNG is most of it: Pillow inflates and unfilters every pixel of a 4k PNG (about 110-190 ms "
        "on this machine; PNG has no reduced-size decode like JPEG's draft mode), and make_preview then copies "
        "the whole decoded image once more in ImageOps.exif_transpose even when there is no EXIF orientation "
        "(10-40 ms). What would meet it: skip exif_transpose unless the image has an Orientation tag other than "
        "1 (or use in_place=True), and decode with a faster PNG decoder (libspng via pyspng, or libvips: a new "
        "dependency, not measured here); on a faster machine the decode alone fits. The preview runs in a worker "
        "thread, so this is time to result, not an event-loop stall."
    ),
    "3. status reads": (
        "More status reads than 0.7 times the 2 s poller's: the schedule reads too often for this duration. "
        "A longer interval (at least 2.9 s) meets it; see the delay note for the upper bound."
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
    return f"{verdict} (proposal)" if row.proposal and row.ok is not None else verdict


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
    product = [row for row in rows if not row.proposal and row.ok is not None]
    failed = [row for row in product if not row.ok]
    md += ["", "## Targets"]
    md.append("")
    if not failed:
        md.append(f"All {len(product)} targets are met.")
    else:
        md.append(f"{len(product) - len(failed)} of {len(product)} targets are met. Not met:")
        md.append("")
        for row in failed:
            md.append(f"- **{row.metric}**: {row.ours} against {row.target}.")
            if row.note:
                md.append(f"  Measured: {row.note}.")
            explanation = next((text for prefix, text in EXPLANATIONS.items() if row.metric.startswith(prefix)), "")
            if explanation:
                md.append(f"  {explanation}")
    proposals = [row for row in rows if row.proposal and row.ok is not None]
    if proposals:
        met = sum(1 for row in proposals if row.ok)
        md += ["", f"Proposal rows (not the product as it is): {met} of {len(proposals)} targets met."]
    md += ["", "## How each figure is taken", ""]
    md.extend(f"- {note}" for note in notes)
    extra = [row for row in rows if row.note and row.ok is not False]
    if extra:
        md += ["", "Details:", ""]
        md.extend(f"- {row.metric}: {row.note}" for row in extra)
    return "\n".join(md) + "\n"
