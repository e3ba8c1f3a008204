"""argparse glue for `runapi-mcp init <target>`."""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from runapi_mcp.install.errors import InitError
from runapi_mcp.install.launch import KEY_VAR, PACKAGE, ServerLaunch, launch_here
from runapi_mcp.install.targets import TARGETS, HostTarget
from runapi_mcp.settings import Settings, SettingsError

if TYPE_CHECKING:
    from pydantic import SecretStr

    from runapi_mcp.install.init import InitPlan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    targets = ", ".join(f"{t.name} ({t.title})" for t in TARGETS.values())
    parser.add_argument("target", choices=list(TARGETS), metavar="TARGET", help=f"the host to set up: {targets}")
    parser.add_argument(
        "--user", action="store_true", help="write the host's user-wide config instead of the project's"
    )
    parser.add_argument(
        "--command",
        # Not `command`: runapi_mcp.cli keeps the subcommand name there.
        dest="launch_command",
        metavar="CMD",
        help='how the host starts the server (default: "uvx runapi-mcp" when installed from a package index, '
        'else this interpreter with "-m runapi_mcp"), e.g. "python -m runapi_mcp" or an absolute path to runapi-mcp',
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be written and where, and write nothing"
    )
    parser.add_argument(
        "--write-key",
        action="store_true",
        help=f"write the RunAPI key itself into the file (readable by you only) instead of referring to {KEY_VAR}",
    )
    parser.add_argument(
        "--approve-tools",
        action="store_true",
        help="Codex: let every runapi tool run without an approval prompt, paid ones included "
        "(what `codex exec` needs to generate images)",
    )
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="the project folder for project-scoped files (default: the current directory)",
    )


def run_init(
    args: argparse.Namespace,
    *,
    settings: Settings | None = None,
    home: Path | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    platform: str = sys.platform,
    which: Callable[[str], str | None] = shutil.which,
    here: Callable[[], ServerLaunch] = launch_here,
) -> int:
    """Run `init` from parsed arguments; returns the exit status. Never prints the API key."""
    from runapi_mcp.install.init import apply_init, plan_init  # the file editors load only for init

    stdout = out or sys.stdout
    stderr = err or sys.stderr
    try:
        host = TARGETS[args.target]
        key = _key_to_write(args, settings)
        launch, launch_note = _launch_for(host, args.launch_command, which, here)
        plan = plan_init(
            host.name,
            user=bool(args.user),
            command=launch,
            project_dir=Path(args.project_dir).expanduser().resolve(),
            home=home or Path.home(),
            forward_key=True,
            write_key=key,
            approve_tools=bool(getattr(args, "approve_tools", False)),
            platform=platform,
        )
        if args.dry_run:
            _print_dry_run(plan, host, launch, launch_note, stdout)
            return 0
        apply_init(plan)
        _print_done(plan, host, launch, launch_note, stdout)
        return 0
    except (InitError, SettingsError) as exc:
        print(f"runapi-mcp init: {exc}", file=stderr)
        return 1


def _key_to_write(args: argparse.Namespace, settings: Settings | None) -> SecretStr | None:
    if not args.write_key:
        return None
    settings = settings or Settings.load()
    if settings.api_key is None or not settings.api_key.get_secret_value().strip():
        raise InitError(f"--write-key needs a key: set {KEY_VAR} or save it in {settings.config_file}, then run again.")
    return settings.api_key


def _launch_for(
    host: HostTarget, command: str | None, which: Callable[[str], str | None], here: Callable[[], ServerLaunch]
) -> tuple[ServerLaunch | str, str | None]:
    if command is not None:
        return command, None
    launch = here()
    if Path(launch.command).is_absolute():
        return launch, (
            f"runapi-mcp is not installed from a package index here, so the host runs this copy with "
            f'{Path(launch.command).name}; pass --command "uvx {PACKAGE}" for the published package instead.'
        )
    if not host.needs_full_path:
        return launch, None
    found = which(launch.command)
    if found is None:
        return launch, (
            f"{host.title} starts servers with a bare PATH and `{launch.command}` was not found here: install uv "
            f'(https://docs.astral.sh/uv/) and run this again, or pass --command "/full/path/to/{PACKAGE}".'
        )
    note = f"{host.title} starts servers with a bare PATH, so the full path to {launch.command} is written."
    return ServerLaunch(command=found, args=list(launch.args)), note


def _describe(plan: InitPlan, host: HostTarget) -> str:
    return f"{plan.path} ({host.title}, {plan.scope} config)"


def _launch_text(launch: ServerLaunch | str) -> str:
    return launch.display() if isinstance(launch, ServerLaunch) else launch


def _print_dry_run(
    plan: InitPlan, host: HostTarget, launch: ServerLaunch | str, launch_note: str | None, out: TextIO
) -> None:
    if not plan.changed:
        print(f"{_describe(plan, host)} already has this runapi entry; init would change nothing.", file=out)
        return
    verb = "replace" if plan.old_text is not None else "create"
    print(f"Dry run: would {verb} {_describe(plan, host)} with:", file=out)
    print(file=out)
    out.write(plan.display_text)
    print(file=out)
    if plan.backup_path is not None:
        print(f"The current file would be saved as {plan.backup_path}.", file=out)
    _print_notes(plan, launch, launch_note, out)
    print("Nothing was written (--dry-run).", file=out)


def _print_done(
    plan: InitPlan, host: HostTarget, launch: ServerLaunch | str, launch_note: str | None, out: TextIO
) -> None:
    if not plan.changed:
        print(f"{_describe(plan, host)} already has this runapi entry; nothing to do.", file=out)
    else:
        print(f"Wrote the runapi server into {_describe(plan, host)}.", file=out)
        if plan.backup_path is not None:
            print(f"The previous file is saved as {plan.backup_path}.", file=out)
    _print_notes(plan, launch, launch_note, out)


def _print_notes(plan: InitPlan, launch: ServerLaunch | str, launch_note: str | None, out: TextIO) -> None:
    print(f"- The host starts it with: {_launch_text(launch)}", file=out)
    if launch_note:
        print(f"- {launch_note}", file=out)
    for note in plan.notes:
        print(f"- {note}", file=out)


# runapi_mcp.cli calls `hosts.cli.run(args)`.
run = run_init
