"""The checks on this machine's own set-up: the key, RunAPI, the output folder and the task journal."""

from __future__ import annotations

import contextlib
import re
import tempfile
import time
from functools import partial
from pathlib import Path

import anyio.to_thread

from runapi_mcp.core.errors import CoreError
from runapi_mcp.core.folders import DEFAULT_FOLDER_NAME, OUTPUT_DIR_SETTING, resolve_output_dir
from runapi_mcp.core.journal import open_journal
from runapi_mcp.doctor.report import Report
from runapi_mcp.runapi.client import RunAPIClient
from runapi_mcp.runapi.errors import (
    AuthenticationError,
    ConnectionFailedError,
    RunAPIError,
    ServerError,
)
from runapi_mcp.settings import DEFAULT_BASE_URL, Settings
from runapi_mcp.urls import display_url

KEY_VAR = "RUNAPI_API_KEY"
# What a host leaves behind when it passes a variable reference through instead of expanding it:
# ${VAR}, ${VAR:-default}, ${env:VAR}, ${input:id}, $VAR, %VAR%.
_PLACEHOLDER = re.compile(r"\$\{[^{}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|%[A-Za-z_][A-Za-z0-9_]*%")


def is_placeholder(value: str) -> bool:
    return _PLACEHOLDER.fullmatch(value.strip()) is not None


def check_key(report: Report, settings: Settings, *, sandbox: bool) -> bool:
    """Where the key comes from, never the key. True when there is a key worth sending."""
    name = "api key"
    if sandbox:
        report.add("ok", name, "none needed: checking against the in-process sandbox")
        return True
    key = settings.api_key.get_secret_value().strip() if settings.api_key is not None else ""
    source = settings.api_key_source or "an unknown source"
    if not key:
        report.add(
            "FAIL",
            name,
            "no key found. Sign in with `runapi-mcp login` (it saves the key for you), set "
            f'{KEY_VAR}, or save {{"api_key": "..."}} in {settings.config_file}. '
            "`runapi-mcp doctor --sandbox` checks everything else without one.",
        )
        return False
    if is_placeholder(key):
        # Only a bare reference is shown: it names a variable, it is not a key.
        report.add(
            "FAIL",
            name,
            f"{source} holds the unexpanded reference `{key}`: the host passed the text through instead of its "
            f"value. Use the syntax this host expands (`runapi-mcp init <host>` writes it), or set {KEY_VAR} "
            "in the environment the host starts with.",
        )
        return False
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        report.add(
            "FAIL", name, f"the key from {source} contains spaces or characters that cannot be sent; copy it again."
        )
        return False
    report.add("ok", name, f"from {source}")
    return True


async def check_base_url(report: Report, client: RunAPIClient, settings: Settings, *, sandbox: bool) -> bool:
    """GET the public price schedules: proves the URL is RunAPI (or the sandbox) and says how fast it is."""
    name = "base url"
    shown = shown_url(client.base_url)
    started = time.monotonic()
    try:
        await client.price_schedules()
    except ConnectionFailedError as exc:
        report.add("FAIL", name, f"{exc.message} {_where_base_url_is_set(settings)}")
        return False
    except ServerError as exc:
        report.add("FAIL", name, f"{shown} is failing ({exc.status}: {exc.message}). Try again shortly.")
        return False
    except RunAPIError as exc:
        report.add(
            "FAIL",
            name,
            f"{shown} answered, but not as RunAPI does ({exc.message}). {_where_base_url_is_set(settings)}",
        )
        return False
    ms = (time.monotonic() - started) * 1000
    what = "the in-process sandbox" if sandbox else "price schedules"
    report.add("ok", name, f"{shown} answers ({what}, {ms:.0f} ms)")
    return True


async def check_balance(report: Report, client: RunAPIClient, *, have_key: bool, reachable: bool) -> None:
    name = "balance"
    if not have_key:
        report.add("warn", name, "skipped: no usable API key")
        return
    if not reachable:
        report.add("warn", name, "skipped: RunAPI did not answer")
        return
    try:
        balance = await client.balance()
    except AuthenticationError as exc:
        report.add(
            "FAIL",
            name,
            f"RunAPI refused the key (401: {exc.message.rstrip('.')}). Check it in your RunAPI account and set "
            f"{KEY_VAR} again.",
        )
        return
    except RunAPIError as exc:
        report.add("FAIL", name, f"could not read the balance: {exc.message}")
        return
    if balance.balance_cents is None:
        report.add("ok", name, "key accepted (RunAPI reported no balance figure)")
        return
    figure = f"{_dollars(balance.balance_cents)} left"
    if balance.spent_cents_today is not None:
        figure += f", {_dollars(balance.spent_cents_today)} spent today"
    if balance.balance_cents <= 0:
        report.add("warn", name, f"key accepted, but {figure}: top up before generating images.")
        return
    report.add("ok", name, f"key accepted; {figure}")


async def check_output_dir(report: Report, settings: Settings) -> None:
    """Resolve the folder exactly as the server does, then prove a file can be written there."""
    name = "output dir"
    # Folders that do not exist yet: doctor makes them to test them and removes them again if still empty.
    made = [
        p
        for candidate in (settings.output_dir, settings.working_dir / DEFAULT_FOLDER_NAME, settings.fallback_output_dir)
        if candidate is not None
        for p in _missing(_absolute(candidate.expanduser(), settings.working_dir))
    ]
    try:
        resolved = await anyio.to_thread.run_sync(
            partial(
                resolve_output_dir,
                None,
                settings_output_dir=settings.output_dir,
                working_dir=settings.working_dir,
                roots=settings.roots,
                fallback_dir=settings.fallback_output_dir,
            )
        )
    except CoreError as exc:
        await anyio.to_thread.run_sync(_remove_empty, made)
        report.add("FAIL", name, str(exc))
        return
    # Asked before the clean-up below, which removes whatever folders these attempts made.
    why = await anyio.to_thread.run_sync(_why_unusable, settings) if resolved.note is not None else None
    try:
        await anyio.to_thread.run_sync(_probe_write, resolved.path)
    except OSError as exc:
        report.add(
            "FAIL",
            name,
            f"{resolved.path} is not writable ({exc.strerror or exc}). Set {OUTPUT_DIR_SETTING} to a writable folder.",
        )
        return
    finally:
        await anyio.to_thread.run_sync(_remove_empty, made)
    if resolved.note is None:
        report.add("ok", name, f"{resolved.path} is writable")
    elif why is not None:
        # The server would still save somewhere, but not where the user asked: that is a broken setting.
        report.add(
            "FAIL",
            name,
            f"{OUTPUT_DIR_SETTING} ({settings.output_dir}) cannot be used: {why}. "
            f"The server would save images in {resolved.path} instead; point {OUTPUT_DIR_SETTING} at a writable "
            "folder.",
        )
    else:
        report.add(
            "warn",
            name,
            f"the server would save images in {resolved.path}, because {settings.working_dir} is the filesystem "
            f"root or not writable. Set {OUTPUT_DIR_SETTING} to choose a folder.",
        )


async def check_state_dir(report: Report, settings: Settings, *, sandbox: bool) -> None:
    """Open the task journal the server would use (creating it if needed)."""
    name = "state dir"
    journal_name = "sandbox-journal.sqlite3" if sandbox else "journal.sqlite3"
    url = None if sandbox or settings.database_url is None else settings.database_url.get_secret_value()
    try:
        journal = open_journal(sqlite_path=settings.state_dir / journal_name, database_url=url, busy_timeout=5.0)
        try:
            await journal.recent(limit=1)
        finally:
            await journal.close()
    except CoreError as exc:
        report.add("FAIL", name, str(exc))
        return
    report.add("ok", name, f"{settings.state_dir} is writable; the task journal {journal_name} opens")


def shown_url(url: str) -> str:
    """scheme://host[:port]/path: never userinfo or a query, which may carry credentials."""
    return display_url(url)


def _where_base_url_is_set(settings: Settings) -> str:
    if settings.base_url.rstrip("/") == DEFAULT_BASE_URL:
        return "Check the network connection."
    return f"Check RUNAPI_BASE_URL (or base_url in {settings.config_file}) and the network."


def _dollars(cents: float) -> str:
    return f"${cents / 100:,.2f}"


def _absolute(path: Path, working_dir: Path) -> Path:
    return path if path.is_absolute() else working_dir / path


def _missing(path: Path) -> list[Path]:
    """`path` and its ancestors that do not exist, deepest first."""
    found: list[Path] = []
    for p in (path, *path.parents):
        if p.exists() or p.is_symlink():
            break
        found.append(p)
    return found


def _why_unusable(settings: Settings) -> str | None:
    """Why resolve_output_dir passed over the configured folder, found by trying it again; None: none is set."""
    if settings.output_dir is None:
        return None
    try:
        _absolute(settings.output_dir.expanduser(), settings.working_dir).mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        return "it or a parent exists and is not a folder"
    except OSError as exc:
        return str(exc.strerror or exc).lower()
    return "it is not writable"


def _probe_write(folder: Path) -> None:
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".runapi-doctor-", suffix=".tmp") as probe:
        probe.write(b"ok")
        probe.flush()


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only ever removes an empty folder
