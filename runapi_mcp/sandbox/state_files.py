"""Where the sandbox's saved account lives, how the commands say so, and how to start afresh."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from runapi_mcp.sandbox import store
from runapi_mcp.sandbox.server import RunningSandbox
from runapi_mcp.sandbox.store import IN_PROCESS, STANDALONE, StoreBusy


def default_state_dir() -> Path:
    """The folder the MCP server keeps its state in: RUNAPI_MCP_STATE_DIR, else the platform's state folder."""
    configured = os.environ.get("RUNAPI_MCP_STATE_DIR", "").strip()
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_state_dir("runapi-mcp", appauthor=False))


def reset_all(state_dir: Path) -> int:
    removed: list[Path] = []
    try:
        for name in (STANDALONE, IN_PROCESS):
            removed += store.reset(state_dir, name)
    except (StoreBusy, OSError) as exc:
        print(f"runapi-mcp sandbox: {exc}", file=sys.stderr)
        return 1
    if removed:
        print(f"Reset the sandbox: deleted {', '.join(str(path) for path in removed)}.")
    else:
        print(f"Nothing to reset: no saved sandbox account in {state_dir}.")
    return 0


def state_line(sandbox: RunningSandbox) -> str:
    """Where the standalone sandbox's account lives, and what came back from it."""
    if sandbox.state_file is None:
        return (
            "Sandbox state: in memory only: tasks, URLs and the balance end when it stops "
            "(--persist keeps them across restarts)."
        )
    state = sandbox.state
    line = (
        f"Sandbox state: {sandbox.state_file} ({len(state.tasks)} task(s), balance {state.ledger.balance_cents} "
        "cents; tasks, keys, uploads, the balance and result URLs survive a restart; --balance applies only to a "
        "fresh account; `runapi-mcp sandbox --reset` starts afresh)."
    )
    if sandbox.lost_port is not None:
        line += f" Port {sandbox.lost_port}, saved last time, was taken: URLs given out on it no longer work."
    return line


def saved_account_line(state_dir: Path) -> str:
    """For `runapi-mcp demo`: where `runapi-mcp --sandbox` keeps the account the demo just used."""
    return (
        f"Sandbox state: {state_dir / store.slot_name(IN_PROCESS, 1)} (with its task journal "
        f"{store.JOURNAL_NAME}): tasks, result URLs and the balance are kept across runs; "
        "`runapi-mcp sandbox --reset` starts afresh."
    )
