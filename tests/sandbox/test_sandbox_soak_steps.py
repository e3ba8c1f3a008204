"""The step-fault soak counts what the sandbox's ledger and the server's journal show, whatever they show."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.soak_steps import STEP_FAULTS, run_step_soak

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


async def test_step_soak_reports_each_kind_from_the_ledger_and_the_journal(tmp_path: Path) -> None:
    kinds = ["bad-body (no-id)", "unknown-status"]
    report = await run_step_soak(tmp_path, requests_per_kind=2, kinds=kinds, kind_timeout=30)
    assert [kind.name for kind in report.kinds] == kinds
    bad_body, unknown = report.kinds
    # A bad-body create always makes and charges a task, so each request made at least one; a second task
    # for the same request is counted as a double charge, not hidden.
    assert bad_body.requests == 2 and bad_body.tasks >= 2
    assert bad_body.double_charges == bad_body.tasks - 2
    assert unknown.tasks == 2 and unknown.status_reads > 0
    assert unknown.calls >= 2 and not unknown.timed_out
    # Every count that is not zero is named in the verdict.
    for kind in report.kinds:
        named = " ".join(kind.problems())
        assert ("double charges" in named) == (kind.double_charges > 0)
        assert ("lost tasks" in named) == (kind.lost_tasks > 0)
        # A fault that holds for good (an unknown status word) leaves requests unfinished by design.
        assert ("unfinished" in named) == (kind.unfinished > 0 and kind.can_finish)
    assert ("FAILED" in report.summary()) == bool(report.problems())


def test_every_step_fault_is_one_the_sandbox_knows() -> None:
    from runapi_mcp.sandbox.faults import parse_fault

    for fault in STEP_FAULTS:
        for spec in (*fault.per_request, *([fault.on_reads] if fault.on_reads else [])):
            parse_fault(spec)
