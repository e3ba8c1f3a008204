"""`runapi-mcp init`: every target writes what its host reads, merges safely, and never leaks the key."""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import stat
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from pydantic import SecretStr

from runapi_mcp.install import (
    TARGETS,
    InitError,
    ServerLaunch,
    add_arguments,
    apply_init,
    cursor_deeplink,
    cursor_install_url,
    default_launch,
    parse_command,
    plan_init,
    render_new,
    run_init,
)
from runapi_mcp.settings import Settings
from tests.install.helpers import (
    CASES,
    EXPECTED_ENTRIES,
    EXPECTED_PATHS,
    KEY_VAR,
    broken_file,
    container,
    other_file,
    parse,
)

SECRET = "sk-test-0123456789-do-not-print"
NOW = datetime(2026, 1, 2, 3, 4, 5)


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    return project, home


def _plan(target: str, user: bool, project: Path, home: Path, **kw: Any):
    return plan_init(
        target,
        user=user,
        command=kw.pop("command", None),
        project_dir=project,
        home=home,
        forward_key=kw.pop("forward_key", True),
        platform=kw.pop("platform", "linux"),
        now=NOW,
        **kw,
    )


def _expected_path(target: str, user: bool, project: Path, home: Path) -> Path:
    return (home if user else project) / EXPECTED_PATHS[(target, user)]


def _entry(target: str, text: str) -> dict[str, Any]:
    return parse(target, text)[container(target)]["runapi"]


def _all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def _args(target: str, project: Path, **kw: Any) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = [target, "--project-dir", str(project)]
    argv += ["--user"] if kw.get("user") else []
    argv += ["--dry-run"] if kw.get("dry_run") else []
    argv += ["--write-key"] if kw.get("write_key") else []
    argv += ["--command", kw["command"]] if kw.get("command") else []
    return parser.parse_args(argv)


def _run(target: str, project: Path, home: Path, **kw: Any) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    settings = Settings.load(env={KEY_VAR: SECRET, "HOME": str(home)}) if kw.get("write_key") else None
    code = run_init(
        _args(target, project, **kw),
        settings=settings,
        home=home,
        out=out,
        err=err,
        platform="linux",
        which=lambda _name: None,
        here=default_launch,
    )
    return code, out.getvalue() + err.getvalue()


def test_every_host_in_the_spec_has_a_target() -> None:
    assert set(TARGETS) == {"claude", "claude-desktop", "codex", "cursor", "vscode", "windsurf", "roo"}


@pytest.mark.parametrize(("target", "user"), CASES)
def test_fresh_file_is_created_where_the_host_reads_it_with_exactly_the_keys_it_reads(
    target: str, user: bool, dirs: tuple[Path, Path]
) -> None:
    project, home = dirs
    plan = _plan(target, user, project, home)
    assert plan.path == _expected_path(target, user, project, home)
    assert plan.old_text is None and plan.backup_path is None

    apply_init(plan)

    data = parse(target, plan.path.read_text())
    assert data[container(target)] == {"runapi": EXPECTED_ENTRIES[target]}
    assert plan.path.read_text() == render_new(target)
    if target == "vscode":
        assert data["inputs"] == [
            {
                "type": "promptString",
                "id": "runapi-api-key",
                "description": data["inputs"][0]["description"],
                "password": True,
            }
        ]
        assert set(data) == {"inputs", "servers"}
    else:
        assert set(data) == {container(target)}
    assert stat.S_IMODE(plan.path.stat().st_mode) == 0o644


@pytest.mark.parametrize(("target", "user"), CASES)
def test_merge_keeps_the_other_server_and_unrelated_settings_and_backs_up_the_old_file(
    target: str, user: bool, dirs: tuple[Path, Path]
) -> None:
    project, home = dirs
    path = _expected_path(target, user, project, home)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = other_file(target)
    path.write_text(old)
    before = parse(target, old)

    plan = _plan(target, user, project, home)
    apply_init(plan)

    after = parse(target, path.read_text())
    assert after[container(target)]["other"] == before[container(target)]["other"]
    assert after[container(target)]["runapi"] == EXPECTED_ENTRIES[target]
    for key, value in before.items():
        if key != container(target):
            assert after[key] == value
    assert plan.backup_path == path.with_name(f"{path.name}.bak-20260102-030405")
    assert plan.backup_path is not None and plan.backup_path.read_text() == old


def test_codex_merge_keeps_comments_and_the_other_tables_verbatim(dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    path = home / ".codex" / "config.toml"
    path.parent.mkdir()
    old = other_file("codex")
    path.write_text(old)

    apply_init(_plan("codex", True, project, home))

    # Our table lands after the other server's, and not one byte of the rest moves.
    assert path.read_text() == old.replace("[profiles.fast]", render_new("codex") + "\n[profiles.fast]")


@pytest.mark.parametrize(("target", "user"), CASES)
def test_an_existing_runapi_entry_is_replaced_whole_not_merged(
    target: str, user: bool, dirs: tuple[Path, Path]
) -> None:
    project, home = dirs
    path = _expected_path(target, user, project, home)
    path.parent.mkdir(parents=True, exist_ok=True)
    if target == "codex":
        path.write_text('[mcp_servers.runapi]\ncommand = "old"\nstale = true\n\n[mcp_servers.runapi.env]\nX = "1"\n')
    else:
        path.write_text(json.dumps({container(target): {"runapi": {"command": "old", "stale": True}}}))

    apply_init(_plan(target, user, project, home))

    assert _entry(target, path.read_text()) == EXPECTED_ENTRIES[target]


@pytest.mark.parametrize(("target", "user"), CASES)
def test_unparsable_file_is_refused_named_with_its_line_and_left_untouched(
    target: str, user: bool, dirs: tuple[Path, Path]
) -> None:
    project, home = dirs
    path = _expected_path(target, user, project, home)
    path.parent.mkdir(parents=True, exist_ok=True)
    broken, where = broken_file(target)
    path.write_text(broken)
    files_before = _all_files(project.parent)

    with pytest.raises(InitError) as caught:
        _plan(target, user, project, home)

    message = str(caught.value)
    assert str(path) in message
    assert where in message
    assert "untouched" in message
    assert path.read_text() == broken
    assert _all_files(project.parent) == files_before


@pytest.mark.parametrize(("target", "user"), CASES)
def test_dry_run_prints_the_file_and_where_it_goes_and_writes_nothing(
    target: str, user: bool, dirs: tuple[Path, Path]
) -> None:
    project, home = dirs
    files_before = _all_files(project.parent)

    code, output = _run(target, project, home, user=user, dry_run=True)

    assert code == 0
    assert _all_files(project.parent) == files_before
    assert not _expected_path(target, user, project, home).exists()
    assert str(_expected_path(target, user, project, home)) in output
    assert render_new(target) in output
    assert "Nothing was written" in output


@pytest.mark.parametrize(("target", "user"), CASES)
def test_write_key_puts_the_key_only_in_the_env_entry_with_mode_0600_and_never_prints_it(
    target: str, user: bool, dirs: tuple[Path, Path]
) -> None:
    project, home = dirs

    code, output = _run(target, project, home, user=user, write_key=True)

    assert code == 0
    assert SECRET not in output
    path = _expected_path(target, user, project, home)
    text = path.read_text()
    assert text.count(SECRET) == 1
    entry = _entry(target, text)
    assert entry["env"] == {KEY_VAR: SECRET}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    if target == "vscode":
        assert "inputs" not in parse(target, text)  # no prompt for a key that is already there
    if target == "codex":
        assert KEY_VAR not in entry["env_vars"]


@pytest.mark.parametrize(("target", "user"), CASES)
def test_dry_run_with_write_key_hides_the_key_and_writes_nothing(
    target: str, user: bool, dirs: tuple[Path, Path]
) -> None:
    project, home = dirs

    code, output = _run(target, project, home, user=user, write_key=True, dry_run=True)

    assert code == 0
    assert SECRET not in output
    assert "<hidden: your RUNAPI_API_KEY>" in output
    assert _all_files(project.parent) == set()


def test_write_key_without_a_key_is_refused_with_where_to_put_one(dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    out, err = io.StringIO(), io.StringIO()
    settings = Settings.load(env={"HOME": str(home)})

    code = run_init(_args("cursor", project, write_key=True), settings=settings, home=home, out=out, err=err)

    assert code == 1
    assert KEY_VAR in err.getvalue() and str(settings.config_file) in err.getvalue()
    assert _all_files(project.parent) == set()


def test_write_key_into_a_project_file_warns_to_keep_it_out_of_version_control(dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    code, output = _run("cursor", project, home, write_key=True)
    assert code == 0
    assert "add .cursor/mcp.json to .gitignore" in output


def test_running_init_twice_changes_nothing_and_makes_no_backup(dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    apply_init(_plan("cursor", False, project, home))
    files = _all_files(project.parent)

    plan = _plan("cursor", False, project, home)

    assert not plan.changed and plan.backup_path is None
    apply_init(plan)
    assert _all_files(project.parent) == files


def test_apply_refuses_when_the_file_changed_after_planning(dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    path = project / ".cursor" / "mcp.json"
    path.parent.mkdir()
    path.write_text("{}")
    plan = _plan("cursor", False, project, home)
    path.write_text('{"mcpServers": {"added": {"command": "x"}}}')

    with pytest.raises(InitError, match="changed while init was preparing"):
        apply_init(plan)
    assert path.read_text() == '{"mcpServers": {"added": {"command": "x"}}}'


def test_a_symlinked_config_is_updated_through_the_link(dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    real = home / "dotfiles" / "mcp.json"
    real.parent.mkdir()
    real.write_text("{}")
    link = home / ".cursor" / "mcp.json"
    link.parent.mkdir()
    link.symlink_to(real)

    apply_init(_plan("cursor", True, project, home))

    assert link.is_symlink()
    assert _entry("cursor", real.read_text()) == EXPECTED_ENTRIES["cursor"]


def test_merge_keeps_the_file_indentation(dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    path = project / ".cursor" / "mcp.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"mcpServers": {"other": {"command": "x"}}}, indent=4))

    apply_init(_plan("cursor", False, project, home))

    assert '\n    "mcpServers": {' in path.read_text()


def test_servers_that_are_not_an_object_are_refused(dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    path = project / ".mcp.json"
    path.write_text('{"mcpServers": []}')
    with pytest.raises(InitError, match='"mcpServers" is a list'):
        _plan("claude", False, project, home)


def test_codex_inline_servers_table_is_refused_rather_than_rewritten(dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    path = home / ".codex" / "config.toml"
    path.parent.mkdir()
    path.write_text('mcp_servers = { other = { command = "x" } }\n')
    with pytest.raises(InitError, match="add this table to it by hand") as caught:
        _plan("codex", True, project, home)
    assert render_new("codex") in str(caught.value)
    assert path.read_text() == 'mcp_servers = { other = { command = "x" } }\n'


def test_vscode_keeps_other_inputs_and_does_not_duplicate_ours(dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    path = project / ".vscode" / "mcp.json"
    path.parent.mkdir()
    other_input = {"type": "promptString", "id": "github-token", "password": True, "description": "GitHub"}
    path.write_text(json.dumps({"servers": {}, "inputs": [other_input]}))

    apply_init(_plan("vscode", False, project, home))
    apply_init(_plan("vscode", False, project, home, command="python -m runapi_mcp"))

    inputs = json.loads(path.read_text())["inputs"]
    assert inputs[0] == other_input
    assert [i["id"] for i in inputs] == ["github-token", "runapi-api-key"]


@pytest.mark.parametrize(
    ("platform", "relative"),
    [
        ("linux", ".config/Claude/claude_desktop_config.json"),
        ("darwin", "Library/Application Support/Claude/claude_desktop_config.json"),
        ("win32", "AppData/Roaming/Claude/claude_desktop_config.json"),
    ],
)
def test_claude_desktop_config_path_follows_the_platform(platform: str, relative: str, dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    assert _plan("claude-desktop", False, project, home, platform=platform).path == home / relative


def test_claude_desktop_gets_the_full_path_to_uvx_because_it_starts_servers_with_a_bare_path(
    dirs: tuple[Path, Path],
) -> None:
    project, home = dirs
    out = io.StringIO()
    code = run_init(
        _args("claude-desktop", project),
        home=home,
        out=out,
        err=out,
        platform="linux",
        which=lambda name: f"/opt/tools/bin/{name}",
        here=default_launch,
    )
    assert code == 0
    entry = _entry("claude-desktop", (home / EXPECTED_PATHS[("claude-desktop", True)]).read_text())
    assert entry == {"command": "/opt/tools/bin/uvx", "args": ["runapi-mcp"]}
    assert "set RUNAPI_API_KEY in the environment Claude Desktop starts with" in out.getvalue()


@pytest.mark.parametrize(("target", "user"), [("roo", True), ("windsurf", False), ("claude-desktop", False)])
def test_scope_choice_for_hosts_with_one_scope(target: str, user: bool, dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    if target == "roo":
        with pytest.raises(InitError, match="Roo Code has no user-wide config"):
            _plan(target, user, project, home)
    else:  # user-only hosts need no --user
        assert _plan(target, user, project, home).path.is_relative_to(home)


def test_command_option_is_split_like_a_shell_and_written_as_command_and_args(dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    code, _ = _run("cursor", project, home, command="'/opt/my tools/python' -m runapi_mcp --sandbox")
    assert code == 0
    entry = _entry("cursor", (project / ".cursor" / "mcp.json").read_text())
    assert entry["command"] == "/opt/my tools/python"
    assert entry["args"] == ["-m", "runapi_mcp", "--sandbox"]


def test_parse_command_keeps_windows_backslashes() -> None:
    launch = parse_command(r'"C:\Program Files\Python\python.exe" -m runapi_mcp', platform="win32")
    assert launch == ServerLaunch(r"C:\Program Files\Python\python.exe", ["-m", "runapi_mcp"])


@pytest.mark.parametrize("bad", ["", "   ", "'unclosed"])
def test_an_unusable_command_is_refused_clearly(bad: str, dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    with pytest.raises(InitError, match="--command"):
        _plan("cursor", False, project, home, command=bad)
    assert _all_files(project.parent) == set()


def test_unknown_target_is_refused_with_the_list(dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    with pytest.raises(InitError, match="claude, claude-desktop, codex"):
        _plan("emacs", False, project, home)


def test_plan_repr_never_shows_the_file_text(dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    plan = _plan("cursor", False, project, home, write_key=SecretStr(SECRET))
    assert SECRET in plan.new_text
    assert SECRET not in repr(plan)
    assert SECRET not in plan.display_text


def test_cursor_deeplink_carries_the_cursor_entry() -> None:
    for link in (cursor_deeplink(), cursor_install_url()):
        query = parse_qs(urlsplit(link).query)
        assert query["name"] == ["runapi"]
        config = json.loads(base64.b64decode(unquote(query["config"][0])))
        assert config == EXPECTED_ENTRIES["cursor"]
    assert cursor_deeplink().startswith("cursor://anysphere.cursor-deeplink/mcp/install?")
    assert cursor_install_url().startswith("https://cursor.com/en/install-mcp?")


@pytest.mark.skipif(sys.platform.startswith("win"), reason="POSIX file modes")
def test_an_existing_file_keeps_its_mode_when_no_key_is_written(dirs: tuple[Path, Path]) -> None:
    project, home = dirs
    path = home / ".cursor" / "mcp.json"
    path.parent.mkdir()
    path.write_text("{}")
    os.chmod(path, 0o640)
    apply_init(_plan("cursor", True, project, home))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_the_runapi_mcp_command_line_reaches_init_with_its_own_command_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from runapi_mcp.cli import main

    code = main(["init", "cursor", "--project-dir", str(tmp_path), "--dry-run", "--command", "python -m runapi_mcp"])

    out = capsys.readouterr().out
    assert code == 0
    assert '"command": "python"' in out and '"-m",' in out
    assert str(tmp_path / ".cursor" / "mcp.json") in out
    assert list(tmp_path.iterdir()) == []


def test_a_project_folder_that_does_not_exist_is_refused_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-project"
    with pytest.raises(InitError, match="is not a folder"):
        plan_init("cursor", user=False, command=None, project_dir=missing, home=tmp_path, forward_key=True)
    assert not missing.exists()
