"""Helpers the doctor tests import: running doctor and reading its lines (settings come from tests/support)."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

from runapi_mcp.doctor import doctor, run_doctor
from runapi_mcp.install import apply_init, plan_init
from runapi_mcp.settings import Settings
from tests.support.environments import home_dir, project_dir

# Distinctive enough that finding it anywhere in the output can only mean it leaked.
TEST_KEY = "sk-doctor-7c41e9b2d05af8e3"
SANDBOX_COMMAND = f'"{sys.executable}" -m runapi_mcp --sandbox'


def run_sync(tmp_path: Path, settings: Settings | None, **kwargs: Any) -> tuple[int, str]:
    out = io.StringIO()
    kwargs.setdefault("platform", "linux")  # where write_host_config puts user-scope files
    code = run_doctor(settings=settings, home=home_dir(tmp_path), out=out, **kwargs)
    return code, out.getvalue()


async def run_async(tmp_path: Path, settings: Settings | None, **kwargs: Any) -> tuple[int, str]:
    out = io.StringIO()
    kwargs.setdefault("platform", "linux")
    code = await doctor(settings=settings, home=home_dir(tmp_path), out=out, **kwargs)
    return code, out.getvalue()


def lines(text: str, name: str) -> list[str]:
    """The report lines of the checks called `name` (`api key`, `host Claude Code (project)`...)."""
    return [line for line in text.splitlines() if line[6:].startswith(f"{name}:")]


def one(text: str, name: str) -> str:
    found = lines(text, name)
    assert len(found) == 1, f"expected one {name!r} line in:\n{text}"
    return found[0]


def statuses(text: str) -> list[str]:
    return [line[:5].strip() for line in text.splitlines() if line[:5].strip() in ("ok", "warn", "FAIL")]


def write_host_config(target: str, tmp_path: Path, command: str, *, user: bool = False, **kwargs: Any) -> Path:
    """What `runapi-mcp init <target> --command <command>` writes, into the temporary project or home."""
    plan = plan_init(
        target,
        user=user,
        command=command,
        project_dir=project_dir(tmp_path),
        home=home_dir(tmp_path),
        forward_key=True,
        platform="linux",
        **kwargs,
    )
    apply_init(plan)
    return plan.path
