"""Which folders a call may touch, whether a path stays inside them, and the folder results are saved in.

One rule for reading local images (references) and choosing the output folder.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import anyio

from runapi_mcp.core.errors import InputError
from runapi_mcp.core.files import root_of
from runapi_mcp.text import shorten

ROOTS_SETTING = "RUNAPI_MCP_ALLOWED_ROOTS"
OUTPUT_DIR_SETTING = "RUNAPI_MCP_OUTPUT_DIR"
DEFAULT_FOLDER_NAME = "runapi-images"


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
        f"{what} '{shorten(str(raw))}' is outside the allowed folders ({describe_roots(roots)}). "
        f"Use a path inside them or add a folder with {ROOTS_SETTING}."
    )


def _resolve(path: Path) -> Path:
    try:
        return Path(os.path.realpath(path))
    except (OSError, ValueError) as exc:  # symlink loops on some platforms, NUL bytes
        raise InputError(f"Cannot use the path '{shorten(str(path))}': {exc}. Use a plain existing path.") from None


@dataclass(frozen=True)
class OutputFolder:
    path: Path
    # Set when files go somewhere other than asked or expected: say so in the result.
    note: str | None = None
    # The allowed folder `path` was checked to be under: saving opens `path` from it with no symlink at any
    # step, so a folder swapped for a symlink after the check cannot lead the files outside. None: `path`
    # itself is the anchor (a configured folder, or one from the task history).
    anchor: Path | None = field(default=None, compare=False)


def resolve_output_dir(
    requested: str | None,
    *,
    settings_output_dir: Path | None,
    working_dir: Path,
    roots: Sequence[Path],
    fallback_dir: Path,
) -> OutputFolder:
    """The folder to save into, created if needed.

    `requested` (a tool's `output_dir`, relative to `working_dir`) must resolve inside `roots`, or
    InputError. Without it: `settings_output_dir`, else `<working_dir>/runapi-images`; when that cannot
    be used (the working directory is `/` or read-only) files go to `fallback_dir`, with a note saying so.
    Blocking (mkdir): call it in a worker thread, or use `resolve_output_dir_async`.
    """
    if requested is not None and requested.strip():
        created = _requested_dir(requested.strip(), working_dir, roots)
        return OutputFolder(created, anchor=root_of(created, usable_roots(roots, working_dir)))
    if settings_output_dir is not None:
        configured = settings_output_dir.expanduser()
        if not configured.is_absolute():
            configured = working_dir / configured
        try:
            return OutputFolder(_ensure_dir(configured, OUTPUT_DIR_SETTING))
        except InputError as exc:
            return _fallback(fallback_dir, f"{OUTPUT_DIR_SETTING} could not be used: {exc}")
    if is_filesystem_root(working_dir.resolve()):
        return _fallback(fallback_dir, f"the server's working directory is the filesystem root ({working_dir})")
    if not _writable(working_dir):
        return _fallback(fallback_dir, f"the server's working directory ({working_dir}) is not writable")
    try:
        created = _ensure_dir(working_dir / DEFAULT_FOLDER_NAME, "The default output folder")
        return OutputFolder(created, anchor=root_of(created, (_resolve(working_dir),)))
    except InputError as exc:
        return _fallback(fallback_dir, str(exc))


async def resolve_output_dir_async(
    requested: str | None,
    *,
    settings_output_dir: Path | None,
    working_dir: Path,
    roots: Sequence[Path],
    fallback_dir: Path,
) -> OutputFolder:
    return await anyio.to_thread.run_sync(
        partial(
            resolve_output_dir,
            requested,
            settings_output_dir=settings_output_dir,
            working_dir=working_dir,
            roots=roots,
            fallback_dir=fallback_dir,
        )
    )


def _requested_dir(requested: str, working_dir: Path, roots: Sequence[Path]) -> Path:
    allowed = usable_roots(roots, working_dir)
    path = resolve_user_path(requested, working_dir)
    if not inside(path, allowed):
        error = outside_roots_error("output_dir", requested, allowed)
        if is_filesystem_root(working_dir.resolve()) and not Path(requested).expanduser().is_absolute():
            error = InputError(
                f"{error} The server runs in {working_dir}, so a relative output_dir has no project to point into."
            )
        raise error
    created = _ensure_dir(path, "output_dir")
    # A symlink swapped in while the folders were being made must not lead outside after all.
    if not inside(created, allowed):
        raise outside_roots_error("output_dir", requested, allowed)
    return created


def _fallback(fallback_dir: Path, why: str) -> OutputFolder:
    try:
        path = _ensure_dir(fallback_dir.expanduser(), "The per-user image folder")
    except InputError as exc:
        raise InputError(
            f"{exc} Set {OUTPUT_DIR_SETTING} to a writable folder, or pass output_dir, to save images."
        ) from None
    why = why.rstrip(".")
    return OutputFolder(
        path,
        f"Images were saved in {path} because {why}. Pass output_dir or set {OUTPUT_DIR_SETTING} to choose a folder.",
    )


def _ensure_dir(path: Path, what: str) -> Path:
    """Create `path` and its parents; every failure becomes one InputError sentence, never a bare OSError."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError(f"{what} '{path}' cannot be created: it or a parent exists and is not a folder.") from None
    except PermissionError:
        raise InputError(f"{what} '{path}' cannot be created: permission denied.") from None
    except OSError as exc:
        raise InputError(f"{what} '{path}' cannot be created: {exc.strerror or exc}.") from None
    if not _writable(path):
        raise InputError(f"{what} '{path}' is not writable.")
    return Path(os.path.realpath(path))


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)
