"""What the model receives from our tools inside the real Claude Code and Codex, with default settings.

One scripted session per host drives the whole loop through the host's tool search: generate (wait),
edit from a `task:` reference, generate with wait=false, get_task, a refused input, list_tasks; a second
session against a sandbox that fails every task gives the failed task. Each test asserts what the host
handed the model for one of those calls: the preview image, the task id, the saved path, the URL, the
cost, the next step, and for errors the words that say it failed.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from runapi_mcp.server.app import INSTRUCTIONS
from tests.hostbench.fake_model import Reply, Script, Step
from tests.hostbench.hosts import Session, cli, codex_server_toml, run_claude, run_codex, server_command

pytestmark = [
    pytest.mark.npm,
    pytest.mark.timeout(400),
    pytest.mark.skipif(sys.platform.startswith("win"), reason="the CLIs are driven through POSIX shells here"),
]

HOSTS = ["claude", "codex"]
TASK_ID = re.compile(r"Task ([0-9a-f-]{36}): (\w+)")
URL = re.compile(r"URL: (http://127\.0\.0\.1:\d+/files/\S+?\.png)")


def _task_id(reply: Reply) -> str:
    found = TASK_ID.search(reply.text)
    assert found, f"no task id in what the model received:\n{reply.text}"
    return found.group(1)


MAIN_STEPS = [
    Step("generate_image", {"prompt": "a red fox in the snow", "aspect_ratio": "16:9"}),
    Step("edit_image", lambda replies: {"prompt": "make it night", "images": [f"task:{_task_id(replies[0])}"]}),
    Step("generate_image", {"prompt": "a lighthouse", "wait": False}),
    Step("get_task", lambda replies: {"task_id": _task_id(replies[2]), "wait": True}),
    Step("edit_image", {"prompt": "add a hat", "images": ["/etc/passwd"]}),
    Step("list_tasks", {}),
]
GENERATE, EDIT, NO_WAIT, GET_TASK, REFUSED, LIST = range(len(MAIN_STEPS))


@dataclass
class Bench:
    host: str
    main: Session
    failing: Session

    def reply(self, index: int) -> Reply:
        replies = self.main.script.replies
        assert len(replies) > index, (
            f"{self.host} session stopped after {len(replies)} calls (exit {self.main.returncode}):\n"
            f"{self.main.stdout[-3000:]}\n{self.main.stderr[-3000:]}"
        )
        return replies[index]


def _run(host: str, script: Script, tmp: Path, server: dict[str, object] | None = None) -> Session:
    if host == "claude":
        return run_claude(script, tmp, server=server)
    return run_codex(script, tmp, server_toml=codex_server_toml(server) if server else None)


@pytest.fixture(scope="module", params=HOSTS)
def bench(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    host: str = request.param
    cli(host)  # skip (outside CI) or fail (in CI) first when the CLI is missing
    main = _run(host, Script(list(MAIN_STEPS)), tmp_path_factory.mktemp(f"{host}-main"))
    with failing_sandbox() as url:
        server = server_command({"RUNAPI_BASE_URL": url, "RUNAPI_API_KEY": "sk-sandbox"})
        server["args"] = ["-m", "runapi_mcp"]
        failing = _run(
            host,
            Script([Step("generate_image", {"prompt": "a kite"})]),
            tmp_path_factory.mktemp(f"{host}-fail"),
            server,
        )
    yield Bench(host, main, failing)


@contextmanager
def failing_sandbox() -> Iterator[str]:
    """`runapi-mcp sandbox` on a free port, failing every task it is given."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runapi_mcp",
            "sandbox",
            "--port",
            "0",
            "--latency",
            "0.5",
            "--fault-rate",
            "fail-task=1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = None
        for _ in range(50):
            line = proc.stdout.readline()
            if found := re.search(r"http://127\.0\.0\.1:\d+", line):
                url = found.group(0)
                break
        assert url, "the sandbox printed no URL"
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _preview(reply: Reply) -> tuple[int, int]:
    assert len(reply.images) == 1, f"the model got {len(reply.images)} images:\n{reply.text}"
    mime, data = reply.images[0]
    assert mime in ("image/jpeg", "image/png")
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def _assert_complete_image_text(bench: Bench, reply: Reply) -> str:
    text = reply.text
    task_id = _task_id(reply)
    assert f"Task {task_id}: completed" in text
    assert "SANDBOX" in text
    saved = re.search(r"saved to (runapi-images/\S+\.png)", text)
    assert saved, text
    assert (bench.main.project / saved.group(1)).is_file()
    assert URL.search(text) and "expires 20" in text
    assert "Cost: $0.06" in text
    assert 'Next: to edit it, pass images=["task:<task id>"] to edit_image.' in text
    assert not text.lstrip().startswith("{"), "the JSON displaced our text"
    assert reply.is_error in (False, None)
    return task_id


def test_generate_with_wait_gives_the_model_the_preview_and_the_complete_text(bench: Bench) -> None:
    reply = bench.reply(GENERATE)
    width, height = _preview(reply)
    assert max(width, height) == 512 and abs(width / height - 16 / 9) < 0.05
    _assert_complete_image_text(bench, reply)


def test_edit_from_a_task_reference_gives_the_new_preview_and_text(bench: Bench) -> None:
    reply = bench.reply(EDIT)
    _preview(reply)
    task_id = _assert_complete_image_text(bench, reply)
    assert task_id != _task_id(bench.reply(GENERATE))


def test_generate_without_wait_gives_the_task_id_and_the_get_task_step(bench: Bench) -> None:
    reply = bench.reply(NO_WAIT)
    assert reply.images == []
    found = TASK_ID.search(reply.text)
    assert found and found.group(2) in ("pending", "processing"), reply.text
    assert f"call get_task with task_id '{found.group(1)}' and wait=true" in reply.text
    assert not reply.text.lstrip().startswith("{") and "SANDBOX" in reply.text


def test_get_task_finishes_the_unwaited_task_with_preview_and_text(bench: Bench) -> None:
    reply = bench.reply(GET_TASK)
    _preview(reply)
    assert _assert_complete_image_text(bench, reply) == _task_id(bench.reply(NO_WAIT))


def test_a_failed_task_reads_as_failed_and_not_billed(bench: Bench) -> None:
    replies = bench.failing.script.replies
    assert replies, f"no reply in the failing session:\n{bench.failing.stdout[-2000:]}\n{bench.failing.stderr[-2000:]}"
    text = replies[0].text
    assert re.search(r"Task [0-9a-f-]{36} failed", text), text
    assert "not billed" in text
    assert replies[0].images == []
    if bench.host == "claude":
        assert replies[0].is_error is True


def test_a_refused_input_says_it_failed_and_why(bench: Bench) -> None:
    reply = bench.reply(REFUSED)
    text = reply.text
    assert "/etc/passwd" in text
    assert re.search(r"\b(refused|failed|cannot|not allowed|outside)\b", text, re.IGNORECASE), text
    assert reply.images == []
    if bench.host == "claude":
        assert reply.is_error is True


def test_list_tasks_shows_every_task_of_the_session(bench: Bench) -> None:
    text = bench.reply(LIST).text
    for index in (GENERATE, EDIT, NO_WAIT):
        assert _task_id(bench.reply(index)) in text
    assert "completed" in text and "text_to_image" in text and "edit_image" in text


@pytest.fixture(scope="module", params=HOSTS)
def forced_structured(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Script]:
    host: str = request.param
    cli(host)
    script = Script(
        [Step("generate_image", {"prompt": "a red fox"}), Step("generate_image", {"prompt": "a owl", "wait": False})]
    )
    server = server_command({"RUNAPI_MCP_STRUCTURED_OUTPUT": "true"})
    _run(host, script, tmp_path_factory.mktemp(f"{host}-structured"), server)
    return host, script


def _json_part(reply: Reply) -> dict[str, Any]:
    text = reply.text
    start = text.index('{"tasks"')
    return json.loads(text[start : text.rindex("}") + 1])


def test_forced_structured_output_displaces_our_text_yet_the_json_is_complete_on_its_own(
    forced_structured: tuple[str, Script],
) -> None:
    """Why `auto` sends no structuredContent to these hosts, and proof the override still gives a usable JSON."""
    host, script = forced_structured
    assert len(script.replies) == 2, script.replies
    done, pending = script.replies
    assert "Cost: $" not in done.text  # our text block is gone: the host handed over the JSON instead
    # Claude Code keeps the image beside the JSON; Codex passes the JSON alone.
    assert len(done.images) == (1 if host == "claude" else 0)
    data = _json_part(done)
    assert any("SANDBOX" in note for note in data["notes"])
    task = data["tasks"][0]
    assert task["status"] == "completed" and task["images"][0]["url"] and task["cost_usd"] == 0.06
    assert task["next_step"] == 'to edit it, pass images=["task:<task id>"] to edit_image'
    waiting = _json_part(pending)["tasks"][0]
    assert waiting["next_action"] == "get_task" and "wait=true" in waiting["next_step"]


def _generate_image_schema(bench: Bench) -> dict[str, Any]:
    """generate_image as the host presented it to the model after the tool search."""
    for request in bench.main.script.requests:
        body = request["body"]
        for tool in body.get("tools", []):  # Claude Code: loaded tools join the tool list
            if tool.get("name") == "mcp__runapi__generate_image":
                return tool["input_schema"]
        for item in body.get("input", []):  # Codex: the tool search output carries the namespace's tools
            if item.get("type") == "tool_search_output":
                for namespace in item.get("tools", []):
                    for tool in namespace.get("tools", []):
                        if tool.get("name") == "generate_image":
                            return tool["parameters"]
    raise AssertionError(f"{bench.host} never showed the model generate_image's schema")


def test_the_model_sees_the_bounds_in_words_even_where_the_host_strips_them_from_the_schema(bench: Bench) -> None:
    properties = _generate_image_schema(bench)["properties"]
    assert "1-4" in properties["count"]["description"]
    assert "Default true" in properties["wait"]["description"]
    if bench.host == "codex":  # what the descriptions make up for
        assert "maximum" not in properties["count"] and "default" not in properties["wait"]


def test_the_model_sees_the_essentials_in_the_first_line_of_the_instructions(bench: Bench) -> None:
    first_line = INSTRUCTIONS.splitlines()[0]
    for essential in ("paid per image", "get_task(task_id, wait=true)", 'images=["task:<task_id>"]', "count=1"):
        assert essential in first_line
    assert len(first_line) <= 247, "Codex cuts the line at 250 characters (247 and '...')"
    seen = [json.dumps(request["body"]) for request in bench.main.script.requests]
    if bench.host == "codex":  # Codex lists deferred namespaces with the first line only
        assert any(json.dumps(f"- mcp__runapi: {first_line}\n")[1:-1] in body for body in seen)
    else:
        assert any(json.dumps(INSTRUCTIONS)[1:-1] in body for body in seen)
