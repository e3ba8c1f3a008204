"""Which folders tool arguments may touch, and whether a path stays inside them.

Shared by inputs (reading local images) and storage (choosing the output folder) so both apply one rule.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from runapi_mcp.core.errors import InputError

ROOTS_SETTING = "RUNAPI_MCP_ALLOWED_ROOTS"


def is_filesystem_root(path: Path) -> bool:
    return path == Path(path.anchor)


def usable_roots(roots: Sequence[Path], working_dir: Path) -> tuple[Path, ...]:
    """The roots, resolved, minus a working directory that is the filesystem root.

    Some hosts (Claude Desktop) start servers in `/`: treating that as the workspace would open the whole
    disk. A root configured explicitly (listed again besides the working directory) still counts.
    """
    resolved = [_resolve(r) for r in roots]
    wd = _resolve(working_dir)
    if is_filesystem_root(wd) and wd in resolved:
        resolved.remove(wd)
    unique: list[Path] = []
    for root in resolved:
        if root not in unique:
            unique.append(root)
    return tuple(unique)


def inside(path: Path, roots: Sequence[Path]) -> bool:
    """True when `path` (already resolved) is one of `roots` (already resolved) or below one."""
    return any(path == root or path.is_relative_to(root) for root in roots)


def describe_roots(roots: Sequence[Path]) -> str:
    if not roots:
        return "none are set"
    return ", ".join(str(r) for r in roots)


def resolve_user_path(raw: str | Path, working_dir: Path) -> Path:
    """Expand `~`, anchor a relative path at the working directory and resolve symlinks and `..`."""
    try:
        path = Path(raw).expanduser()
    except RuntimeError:  # `~` when no home directory can be determined
        raise InputError(f"Cannot expand '{raw}': no home directory is known. Use an absolute path.") from None
    if not path.is_absolute():
        path = working_dir / path
    return _resolve(path)


def outside_roots_error(what: str, raw: str | Path, roots: Sequence[Path]) -> InputError:
    return InputError(
        f"{what} '{_short(str(raw))}' is outside the allowed folders ({describe_roots(roots)}). "
        f"Use a path inside them or add a folder with {ROOTS_SETTING}."
    )


def _resolve(path: Path) -> Path:
    try:
        return Path(os.path.realpath(path))
    except (OSError, ValueError) as exc:  # symlink loops on some platforms, NUL bytes
        raise InputError(f"Cannot use the path '{_short(str(path))}': {exc}. Use a plain existing path.") from None


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
