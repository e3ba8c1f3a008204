"""A host starts the server for every session and waits for its first answer (tools/list): the serve path
leaves what only some calls need (the generation flow, sign-in, spending, callbacks, Pillow, the other
commands) unimported until a call needs it. Checked on the real stdio entry point, in a child process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.environments import project_dir, server_process_env

# What the serve path imports only at the first call that needs it (or never, for the other commands).
NOT_BEFORE_THE_FIRST_CALL = (
    "PIL",
    "jsonschema",
    "runapi_mcp.core.callbacks",
    "runapi_mcp.core.create",
    "runapi_mcp.core.download",
    "runapi_mcp.core.follow",
    "runapi_mcp.core.hosted",
    "runapi_mcp.core.images",
    "runapi_mcp.core.previews_store",
    "runapi_mcp.core.pricing",
    "runapi_mcp.core.references",
    "runapi_mcp.core.retention",
    "runapi_mcp.core.saving",
    "runapi_mcp.core.sources",
    "runapi_mcp.core.spending",
    "runapi_mcp.core.urlsafety",
    "runapi_mcp.demo",
    "runapi_mcp.doctor",
    "runapi_mcp.gallery",
    "runapi_mcp.install",
    "runapi_mcp.login.callback",
    "runapi_mcp.login.commands",
    "runapi_mcp.login.flow",
    "runapi_mcp.login.pkce",
    "runapi_mcp.runapi.polling",
    "runapi_mcp.sandbox",
    "runapi_mcp.server.http",
)

# The real entry point (`runapi-mcp` is `runapi_mcp.cli:main`), writing the names of the modules it imported
# when it exits. It exits when its stdin closes, right after answering tools/list.
_SERVE_AND_RECORD = """
import atexit, json, sys
atexit.register(lambda: open(sys.argv[1], "w").write(json.dumps(sorted(sys.modules))))
from runapi_mcp.cli import main
raise SystemExit(main([]))
"""


def _message(payload: dict[str, object]) -> bytes:
    return (json.dumps({"jsonrpc": "2.0", **payload}) + "\n").encode()


def _modules_after_tools_list(tmp_path: Path) -> tuple[list[str], bytes]:
    record = tmp_path / "modules.json"
    # Nothing reaches RunAPI before a call: a closed loopback port is enough.
    env = server_process_env(tmp_path, "http://127.0.0.1:9", RUNAPI_MCP_LOG_LEVEL="WARNING")
    log = tmp_path / "server.log"
    with (
        log.open("wb") as stderr,
        subprocess.Popen(
            [sys.executable, "-c", _SERVE_AND_RECORD, str(record)],
            env=env,
            cwd=project_dir(tmp_path),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
        ) as process,
    ):
        assert process.stdin is not None and process.stdout is not None
        try:
            hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
            process.stdin.write(_message({"id": 1, "method": "initialize", "params": hello}))
            process.stdin.flush()
            process.stdout.readline()
            process.stdin.write(_message({"method": "notifications/initialized"}))
            process.stdin.write(_message({"id": 2, "method": "tools/list"}))
            process.stdin.flush()
            answer = process.stdout.readline()
            process.stdin.close()
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, log.read_text(errors="replace")[-2000:]
    return json.loads(record.read_text(encoding="utf-8")), answer


def test_serving_stdio_up_to_the_first_tools_list_imports_nothing_only_a_call_needs(tmp_path: Path) -> None:
    modules, answer = _modules_after_tools_list(tmp_path)
    tools = {tool["name"] for tool in json.loads(answer)["result"]["tools"]}
    assert {"generate_image", "edit_image", "get_task"} <= tools  # it really served
    loaded = sorted(
        name
        for name in modules
        if any(name == lazy or name.startswith(lazy + ".") for lazy in NOT_BEFORE_THE_FIRST_CALL)
    )
    assert loaded == [], f"imported before the first call: {loaded}"
