"""`python -m bench` (full run, a few minutes, writes bench/RESULTS.md) or `python -m bench --quick` (smoke run).

Exit status 0 when every measurement ran and printed its rows, whether or not the targets are met (the
table says which); 1 when a measurement could not run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import anyio

from bench import call_overhead, callbacks, cold_start, concurrency, polling, previews, result_tokens
from bench.common import REPO, Row, RunConfig, Section
from bench.report import format_table, missing_rows, results_markdown

SECTIONS: tuple[tuple[str, str, Callable[[RunConfig], Awaitable[Section]]], ...] = (
    ("1", "cold start", cold_start.run),
    ("2", "per-call overhead", call_overhead.run),
    ("3", "time to result and polling cost", polling.run),
    ("4", "concurrency", concurrency.run),
    ("5", "previews", previews.run),
    ("6", "tokens per result", result_tokens.run),
    ("7", "callbacks and polling that learns", callbacks.run),
)
RESULTS = REPO / "bench" / "RESULTS.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run with tiny sizes; writes no results file")
    parser.add_argument("--only", help="comma-separated section numbers, e.g. 1,3 (no results file)")
    parser.add_argument("--output", type=Path, help=f"where to write the results (default {RESULTS} on a full run)")
    parser.add_argument("--keep", action="store_true", help="keep the run's temporary folder (logs, state)")
    args = parser.parse_args(argv)
    only = {part.strip() for part in args.only.split(",")} if args.only else None
    output: Path | None = args.output
    if output is None and not args.quick and only is None:
        output = RESULTS
    command = "python -m bench" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    workdir = Path(tempfile.mkdtemp(prefix="runapi-mcp-bench-"))
    try:
        code, markdown = anyio.run(_run, RunConfig(quick=args.quick, workdir=workdir), only, command)
        if code == 0 and output is not None:
            output.write_text(markdown, encoding="utf-8")
            print(f"wrote {output}")
        return code
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


async def _run(cfg: RunConfig, only: set[str] | None, command: str) -> tuple[int, str]:
    started = datetime.now(UTC)
    clock = time.perf_counter()
    rows: list[Row] = []
    notes: list[str] = []
    crashed: list[str] = []
    for number, title, run in SECTIONS:
        if only is not None and number not in only:
            continue
        print(f"running {number}. {title} ...", file=sys.stderr, flush=True)
        section_start = time.perf_counter()
        try:
            section = await run(cfg)
        except Exception:
            traceback.print_exc()
            crashed.append(f"{number}. {title}")
            continue
        print(f"  done in {time.perf_counter() - section_start:.1f} s", file=sys.stderr, flush=True)
        rows.extend(section.rows)
        notes.extend(section.notes)
    seconds = time.perf_counter() - clock
    print()
    print(format_table(rows))
    print()
    missing = missing_rows(rows) if only is None else []
    product = [row for row in rows if not row.alternative and row.ok is not None]
    failed = [row.metric for row in product if not row.ok]
    print(f"{len(rows)} rows in {seconds:.0f} s; targets met: {len(product) - len(failed)} of {len(product)}.")
    for metric in failed:
        print(f"  not met: {metric}")
    if crashed or missing:
        print(f"measurements that did not run: {', '.join(crashed) or 'none'}; rows missing: {', '.join(missing)}")
        return 1, ""
    return 0, results_markdown(rows, notes, command, started, seconds)


if __name__ == "__main__":
    raise SystemExit(main())
