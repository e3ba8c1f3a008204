"""A scripted model on loopback that speaks the two wire protocols the hosts use.

Claude Code talks to it as the Anthropic Messages API (`POST /v1/messages`, SSE), Codex as the OpenAI
Responses API (`POST /v1/responses`, SSE). The script is a list of calls to our tools; the fake makes the
host run them one by one, loading each tool through the host's tool search first when the host defers it,
and records exactly what the host hands back to the model for each call. Arguments may depend on what
earlier calls returned (a task id, for example), so a step's arguments can be a function of the replies.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SERVER = "runapi"
MAX_SEARCHES = 40
Arguments = dict[str, Any] | Callable[[list["Reply"]], dict[str, Any]]


@dataclass
class Step:
    tool: str  # our tool's own name, e.g. "generate_image"
    arguments: Arguments


@dataclass
class Reply:
    """What the model was handed for one tool call, normalised across the two protocols."""

    tool: str
    texts: list[str] = field(default_factory=list[str])
    images: list[tuple[str, bytes]] = field(default_factory=list[tuple[str, bytes]])  # (media type, bytes)
    is_error: bool | None = None  # None: the protocol carries no error flag (Codex)
    raw: Any = None

    @property
    def text(self) -> str:
        return "\n".join(self.texts)


class Script:
    """The calls to make, in order, and what came back for each; shared by both protocol handlers."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps
        self.replies: list[Reply] = []
        self.searched: set[str] = set()
        self.requests: list[dict[str, Any]] = []
        self.searches: dict[str, int] = {}
        self.pending: dict[str, tuple[str, str]] = {}  # call id -> ("search" | "call", tool)
        self.lock = threading.Lock()
        self._ids = itertools.count(1)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):04d}"

    def search_again(self, tool: str) -> None:
        """A repeated search means the host had not connected our server yet: give it a moment, within bounds."""
        self.searches[tool] = tries = self.searches.get(tool, 0) + 1
        if tries > MAX_SEARCHES:
            raise RuntimeError(f"the host never listed {tool} after {MAX_SEARCHES} searches")
        if tries > 1:
            time.sleep(0.5)

    def next_step(self) -> Step | None:
        return self.steps[len(self.replies)] if len(self.replies) < len(self.steps) else None

    def arguments(self, step: Step) -> dict[str, Any]:
        return step.arguments(self.replies) if callable(step.arguments) else step.arguments

    @property
    def done(self) -> bool:
        return len(self.replies) >= len(self.steps)


# --- Anthropic Messages API (Claude Code) ---------------------------------------------------------------


def _anthropic_reply(block: dict[str, Any], tool: str) -> Reply:
    content = block.get("content")
    reply = Reply(tool=tool, is_error=bool(block.get("is_error")), raw=block)
    items: list[Any] = [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
    for item in items:
        if item.get("type") == "text":
            reply.texts.append(item["text"])
        elif item.get("type") == "image":
            source = item.get("source", {})
            reply.images.append((source.get("media_type", ""), base64.b64decode(source.get("data", ""))))
    return reply


def anthropic_turn(script: Script, body: dict[str, Any]) -> dict[str, Any]:
    """The assistant's next message (a content block dict plus stop reason) for one Messages request."""
    tools = {t.get("name") for t in body.get("tools", [])}
    if "ToolSearch" not in tools and not any(str(t).startswith("mcp__") for t in tools):
        return {"type": "text", "text": "ok"}  # a side request (titles, summaries): not the agent loop
    with script.lock:
        for message in body.get("messages", []):
            content = message.get("content")
            if message.get("role") != "user" or not isinstance(content, list):
                continue
            for block in content:  # pyright: ignore[reportUnknownVariableType]
                if not isinstance(block, dict) or block.get("type") != "tool_result":
                    continue
                kind_tool = script.pending.pop(str(block.get("tool_use_id")), None)  # pyright: ignore
                if kind_tool is None:
                    continue
                kind, tool = kind_tool
                if kind == "call":
                    script.replies.append(_anthropic_reply(block, tool))  # pyright: ignore[reportUnknownArgumentType]
                elif f"mcp__{SERVER}__{tool}" in json.dumps(block):
                    script.searched.add(tool)  # else the server was not connected yet: search again
        step = script.next_step()
        if step is None:
            return {"type": "text", "text": "All done."}
        full = f"mcp__{SERVER}__{step.tool}"
        call_id = script.new_id("toolu")
        if full not in tools and "ToolSearch" in tools and step.tool not in script.searched:
            script.search_again(step.tool)
            script.pending[call_id] = ("search", step.tool)
            return {"type": "tool_use", "id": call_id, "name": "ToolSearch", "input": {"query": f"select:{full}"}}
        script.pending[call_id] = ("call", step.tool)
        return {"type": "tool_use", "id": call_id, "name": full, "input": script.arguments(step)}


def anthropic_sse(block: dict[str, Any], model: str) -> Iterator[tuple[str, dict[str, Any]]]:
    usage = {"input_tokens": 10, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    yield (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": usage,
            },
        },
    )
    if block["type"] == "text":
        yield (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        )
        yield (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": block["text"]}},
        )
        stop = "end_turn"
    else:
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        yield "content_block_start", {"type": "content_block_start", "index": 0, "content_block": start}
        yield (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])},
            },
        )
        stop = "tool_use"
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}
    yield (
        "message_delta",
        {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 5}},
    )
    yield "message_stop", {"type": "message_stop"}


# --- OpenAI Responses API (Codex) ----------------------------------------------------------------------


def _openai_reply(item: dict[str, Any], tool: str) -> Reply:
    output = item.get("output")
    reply = Reply(tool=tool, is_error=None, raw=item)
    if isinstance(output, str):
        reply.texts.append(output)
        return reply
    for part in output or []:
        if part.get("type") in ("input_text", "output_text"):
            reply.texts.append(part.get("text", ""))
        elif part.get("type") == "input_image":
            url = str(part.get("image_url", ""))
            head, _, data = url.partition(",")
            reply.images.append((head.removeprefix("data:").split(";")[0], base64.b64decode(data)))
    return reply


def _found(search_output: dict[str, Any], tool: str) -> bool:
    for namespace in search_output.get("tools") or []:
        if namespace.get("name") == f"mcp__{SERVER}":
            return any(t.get("name") == tool for t in namespace.get("tools") or [])
    return False


def openai_turn(script: Script, body: dict[str, Any]) -> dict[str, Any]:
    """The next output item for one Responses request."""
    tools = body.get("tools", [])
    names = {t.get("name") or t.get("type") for t in tools}
    namespaces = {t.get("name") for t in tools if t.get("type") == "namespace"}
    with script.lock:
        for item in body.get("input", []):
            if item.get("type") not in ("function_call_output", "tool_search_output"):
                continue
            kind_tool = script.pending.pop(str(item.get("call_id")), None)
            if kind_tool is None:
                continue
            kind, tool = kind_tool
            if kind == "call":
                script.replies.append(_openai_reply(item, tool))
            elif _found(item, tool):
                script.searched.add(tool)  # else the server was not connected yet: search again
        step = script.next_step()
        if step is None:
            return {
                "type": "message",
                "role": "assistant",
                "id": script.new_id("msg"),
                "status": "completed",
                "content": [{"type": "output_text", "text": "All done.", "annotations": []}],
            }
        call_id = script.new_id("call")
        loaded = f"mcp__{SERVER}" in namespaces or f"mcp__{SERVER}__{step.tool}" in names
        if not loaded and "tool_search" in names and step.tool not in script.searched:
            script.search_again(step.tool)
            script.pending[call_id] = ("search", step.tool)
            return {
                "type": "tool_search_call",
                "call_id": call_id,
                "id": script.new_id("ts"),
                "status": "completed",
                "execution": "client",
                "arguments": {"query": f"{SERVER} {step.tool}", "limit": 8},
            }
        script.pending[call_id] = ("call", step.tool)
        item: dict[str, Any] = {
            "type": "function_call",
            "id": script.new_id("fc"),
            "call_id": call_id,
            "status": "completed",
            "arguments": json.dumps(script.arguments(step)),
        }
        if step.tool in script.searched:
            item |= {"name": step.tool, "namespace": f"mcp__{SERVER}"}
        else:
            item["name"] = f"mcp__{SERVER}__{step.tool}"
        return item


def openai_sse(item: dict[str, Any], model: str) -> Iterator[tuple[str, dict[str, Any]]]:
    response = {"id": "resp_fake", "object": "response", "model": model, "status": "in_progress", "output": []}
    yield "response.created", {"type": "response.created", "response": response}
    yield "response.output_item.added", {"type": "response.output_item.added", "output_index": 0, "item": item}
    yield "response.output_item.done", {"type": "response.output_item.done", "output_index": 0, "item": item}
    usage = {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 15,
    }
    done = response | {"status": "completed", "output": [item], "usage": usage}
    yield "response.completed", {"type": "response.completed", "response": done}


# --- the HTTP server -----------------------------------------------------------------------------------


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _json(self, status: int, data: Any) -> None:
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._json(200, {"data": [], "models": []})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
            path = self.path.split("?")[0]
            with script.lock:
                script.requests.append({"path": path, "body": body})
            if path.endswith("/count_tokens"):
                return self._json(200, {"input_tokens": 100})
            if path.endswith("/messages"):
                events = anthropic_sse(anthropic_turn(script, body), str(body.get("model")))
            elif path.endswith("/responses"):
                events = openai_sse(openai_turn(script, body), str(body.get("model")))
            else:
                return self._json(404, {"error": {"type": "not_found", "message": path}})
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("connection", "close")
            self.end_headers()
            for name, data in events:
                self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()
            self.close_connection = True

    return Handler


@contextmanager
def fake_model(script: Script) -> Iterator[str]:
    """Serve the script on 127.0.0.1 (a free port); yields the base URL, without a trailing /v1."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="fake-model", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
