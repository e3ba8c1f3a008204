"""One hosted session through a real balancer, recorded for the deployment tests to check piece by piece.

The story: a tenant creates through HAProxy with wait=false and continues with get_task until every
replica has answered; lists, reads the task and image resources and edits from `task:` through the
balancer. Then, straight to the replicas, a task made on one replica is looked up on the others before
anything else told them of it. Last, a replica is killed mid-wait and the call is retried through the
balancer with its idempotency key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
from mcp.shared.exceptions import MCPError
from mcp.types import BlobResourceContents, CallToolResult, TextResourceContents

from tests.deploy.rig import Replica, Sandbox, mcp_session

TENANT = "sk-deploy-tenant-a-7c41"
OTHER_TENANT = "sk-deploy-tenant-b-19e2"
KILLED_KEY = "deploy-killed-mid-wait-1"
PROMPT = "a lighthouse seen from three replicas"
ON_ONE_PROMPT = "made on one replica only"
EDIT_PROMPT = "the lighthouse at night"
KILLED_PROMPT = "a call whose replica dies"
POLL_SECONDS = 0.05
MAX_GET_TASK_CALLS = 12
WAIT_FOR_CALL_SECONDS = 20.0


@dataclass
class Answer:
    """One replica's answer to one request: the result, or the error the client raised."""

    replica: str
    result: Any = None
    error: str | None = None

    @property
    def tool(self) -> dict[str, Any]:
        assert isinstance(self.result, CallToolResult), self.error
        assert not self.result.is_error, _text(self.result)
        return self.result.structured_content or {}

    @property
    def task(self) -> dict[str, Any]:
        (task,) = self.tool["tasks"]
        return task

    @property
    def text(self) -> str:
        if isinstance(self.result, CallToolResult):
            return _text(self.result)
        if isinstance(self.result, TextResourceContents):
            return self.result.text
        return self.error or ""


@dataclass
class Record:
    replicas: list[str]
    created: Answer | None = None
    continued: list[Answer] = field(default_factory=list[Answer])
    listed: Answer | None = None
    task_resource: Answer | None = None
    image_reads: list[Answer] = field(default_factory=list[Answer])
    edited: Answer | None = None
    made_on_one: Answer | None = None
    elsewhere: dict[str, dict[str, Answer]] = field(default_factory=dict[str, dict[str, Answer]])
    """Per replica that did not make the task: its answer to list, task, image, edit, get_task (in that order)."""
    killed_replica: str | None = None
    killed_call: Answer | None = None
    killed_progress: list[str] = field(default_factory=list[str])
    retried: Answer | None = None
    recovered: dict[str, Answer] = field(default_factory=dict[str, Answer])
    ledger: dict[str, Any] = field(default_factory=dict[str, Any])
    downloads: dict[str, int] = field(default_factory=dict[str, int])

    def task_ids_seen(self) -> set[str]:
        """Every task id a client was told about, in any answer."""
        seen: set[str] = set()
        answers = [self.created, self.edited, self.made_on_one, self.retried, *self.continued]
        answers += [a for per in self.elsewhere.values() for a in per.values()]
        for answer in answers:
            if answer is not None and isinstance(answer.result, CallToolResult) and answer.result.structured_content:
                seen.update(t["task_id"] for t in answer.result.structured_content.get("tasks", []) if t["task_id"])
        return seen


def _first_line(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


def _text(result: CallToolResult) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


def digest(contents: Any) -> str | None:
    return hashlib.sha256(contents.blob.encode()).hexdigest() if isinstance(contents, BlobResourceContents) else None


async def _tool(url: str, key: str, name: str, args: dict[str, Any], replica: str | None = None) -> Answer:
    async with mcp_session(url, key) as session:
        try:
            result = await session.client.call_tool(name, args)
        except Exception as exc:  # recorded: the tests say which answers must not be errors
            return Answer(replica or "?", error=str(exc))
        return Answer(replica or session.replica_of("tools/call"), result)


async def _resource(url: str, key: str, uri: str, replica: str | None = None) -> Answer:
    async with mcp_session(url, key) as session:
        try:
            (contents,) = (await session.client.read_resource(uri)).contents
        except Exception as exc:
            return Answer(replica or "?", error=str(exc))
        return Answer(replica or session.replica_of("resources/read"), contents)


async def run(balancer_url: str, replicas: list[Replica], sandbox: Sandbox) -> Record:
    record = Record([r.name for r in replicas])
    await _through_the_balancer(record, balancer_url)
    await _straight_to_the_replicas(record, replicas)
    await _kill_mid_wait(record, balancer_url, replicas, sandbox)
    record.ledger = sandbox.ledger()
    record.downloads = dict(sandbox.downloads())
    return record


async def _through_the_balancer(record: Record, url: str) -> None:
    record.created = await _tool(url, TENANT, "generate_image", {"prompt": PROMPT, "wait": False})
    task_id = record.created.task["task_id"]
    async with mcp_session(url, TENANT) as session:
        for _ in range(MAX_GET_TASK_CALLS):
            result = await session.client.call_tool("get_task", {"task_id": task_id, "wait": True})
            record.continued.append(Answer(session.replica_of("tools/call"), result))
            if {a.replica for a in record.continued} == set(record.replicas):
                break
    record.listed = await _tool(url, TENANT, "list_tasks", {})
    record.task_resource = await _resource(url, TENANT, f"runapi://tasks/{task_id}")
    async with mcp_session(url, TENANT) as session:
        for _ in range(MAX_GET_TASK_CALLS):
            try:
                (contents,) = (await session.client.read_resource(f"runapi://tasks/{task_id}/images/0")).contents
                record.image_reads.append(Answer(session.replica_of("resources/read"), contents))
            except MCPError as exc:
                record.image_reads.append(Answer(session.replica_of("resources/read"), error=str(exc)))
            if {a.replica for a in record.image_reads} == set(record.replicas):
                break
    record.edited = await _tool(url, TENANT, "edit_image", {"prompt": EDIT_PROMPT, "images": [f"task:{task_id}"]})


async def _straight_to_the_replicas(record: Record, replicas: list[Replica]) -> None:
    maker, *others = replicas
    record.made_on_one = await _tool(maker.url, TENANT, "generate_image", {"prompt": ON_ONE_PROMPT}, maker.name)
    task_id = record.made_on_one.task["task_id"]

    async def ask(replica: Replica) -> None:
        edit = {"prompt": f"edited on {replica.name}", "images": [f"task:{task_id}"]}
        # In this order: anything that asks RunAPI (get_task) would teach the replica the task.
        answers = {
            "list": await _tool(replica.url, TENANT, "list_tasks", {}, replica.name),
            "task": await _resource(replica.url, TENANT, f"runapi://tasks/{task_id}", replica.name),
            "image": await _resource(replica.url, TENANT, f"runapi://tasks/{task_id}/images/0", replica.name),
            "edit": await _tool(replica.url, TENANT, "edit_image", edit, replica.name),
        }
        answers["get_task"] = await _tool(replica.url, TENANT, "get_task", {"task_id": task_id}, replica.name)
        record.elsewhere[replica.name] = answers

    async with anyio.create_task_group() as group:
        for replica in others:
            group.start_soon(ask, replica)
    record.elsewhere[maker.name] = {
        "task": await _resource(maker.url, TENANT, f"runapi://tasks/{task_id}", maker.name),
        "image": await _resource(maker.url, TENANT, f"runapi://tasks/{task_id}/images/0", maker.name),
        "get_task": await _tool(maker.url, TENANT, "get_task", {"task_id": task_id}, maker.name),
    }


async def _kill_mid_wait(record: Record, url: str, replicas: list[Replica], sandbox: Sandbox) -> None:
    args = {"prompt": KILLED_PROMPT, "idempotency_key": KILLED_KEY}

    async def progress(progress: float, total: float | None, message: str | None) -> None:
        record.killed_progress.append(message or "")

    async def call_then_note() -> None:
        try:
            async with mcp_session(url, TENANT) as session:
                await session.client.list_tools()
                result = await session.client.call_tool("generate_image", args, progress_callback=progress)
                record.killed_call = Answer(session.replica_of("tools/call"), result)
        except Exception as exc:  # the stream dies with the replica, inside the call or as the client closes
            if record.killed_call is None:
                record.killed_call = Answer("?", error=_first_line(exc))

    async with anyio.create_task_group() as group, httpx2.AsyncClient(timeout=5) as http:
        group.start_soon(call_then_note)
        victim = await _replica_mid_wait(http, replicas, sandbox, lambda: bool(record.killed_progress))
        record.killed_replica = victim.name
        await anyio.to_thread.run_sync(victim.kill)

    survivors = [r for r in replicas if r.name != victim.name]
    record.retried = await _tool(url, TENANT, "generate_image", args)
    task_id = record.retried.task["task_id"]
    for replica in survivors:
        recovered = await _tool(replica.url, TENANT, "get_task", {"task_id": task_id}, replica.name)
        record.recovered[replica.name] = recovered


async def _replica_mid_wait(
    http: httpx2.AsyncClient, replicas: list[Replica], sandbox: Sandbox, progressed: Callable[[], bool]
) -> Replica:
    """The replica holding the one running call, once RunAPI has its task and the client has had progress."""
    for _ in range(int(WAIT_FOR_CALL_SECONDS / POLL_SECONDS)):
        ledger = (await http.get(f"{sandbox.url}/_sandbox/ledger")).json()
        if KILLED_KEY in ledger["idempotency_keys"] and progressed():
            for replica in replicas:
                body = (await http.get(f"{replica.url}/readyz")).json()
                if body["calls_in_flight"] >= 1:
                    return replica
        await anyio.sleep(POLL_SECONDS)
    raise AssertionError("no replica was seen waiting on the call")


def task_json(answer: Answer) -> dict[str, Any]:
    assert isinstance(answer.result, TextResourceContents), answer.error
    return json.loads(answer.result.text)
