"""Three stateless replicas behind a real HAProxy, against the sandbox: the hosted deployment of issue 12.

One module-wide run of the story in scenario.py; each test checks one promise of it. A promise that needs
what is not built yet is marked xfail(strict=True) with the missing piece as its reason: when the piece
lands the test passes, the strict marker fails the run, and the marker goes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from mcp.server.request_state import RequestStateBoundary
from mcp.shared.exceptions import MCPError

from runapi_mcp.server.request_state import request_state_security
from runapi_mcp.settings import Settings
from tests.deploy import scenario
from tests.deploy.rig import (
    STATE_KEYS,
    Balancer,
    Replica,
    Sandbox,
    haproxy_binary,
    haproxy_process,
    mcp_session,
    replica_processes,
    sandbox_process,
)
from tests.deploy.scenario import OTHER_TENANT, TENANT, Record, digest, task_json

pytestmark = [
    pytest.mark.timeout(150),
    pytest.mark.skipif(
        haproxy_binary() is None and os.environ.get("CI") != "true",
        reason="needs HAProxy (apt-get install -y haproxy; CI installs it)",
    ),
]

SANDBOX_LATENCY_SECONDS = 1.5
NO_SHARED_JOURNAL = (
    "each replica keeps its own SQLite journal, by design; replicas that must agree share one through "
    "RUNAPI_MCP_DATABASE_URL (the postgresql run of this test)"
)


@dataclass
class Deployment:
    record: Record
    replicas: list[Replica]
    sticky_replicas: list[Replica]
    balancer: Balancer
    sandbox: Sandbox
    shared_journal: bool


def _postgres() -> Any:
    """The journal suite's PostgreSQL server fixture, once the PostgreSQL journal is part of the project."""
    try:
        from tests.postgres_server import running_postgres
    except ImportError:
        return None
    return running_postgres


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def deployment(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    engine: str = request.param
    tmp_path = tmp_path_factory.mktemp(f"deployment-{engine}")
    with ExitStack() as stack:
        shared: dict[str, str] = {}
        if engine == "postgresql":
            running_postgres = _postgres()
            if running_postgres is None:
                pytest.skip("the PostgreSQL journal (RUNAPI_MCP_DATABASE_URL, issue 12 item 1) is not built yet")
            server = stack.enter_context(running_postgres())
            shared["RUNAPI_MCP_DATABASE_URL"] = server.create_database()
        sandbox = stack.enter_context(sandbox_process(tmp_path, latency=SANDBOX_LATENCY_SECONDS))
        names = ["replica1", "replica2", "replica3"]
        replicas = stack.enter_context(
            replica_processes(tmp_path, names, sandbox.url, stateless=True, RUNAPI_MCP_STATE_KEYS=STATE_KEYS, **shared)
        )
        # Replicas for 2025-era clients that hold a session, without the shared keys.
        sessions = replica_processes(tmp_path, ["session1", "session2"], sandbox.url, stateless=False)
        sticky = stack.enter_context(sessions)
        balancer = stack.enter_context(haproxy_process(tmp_path, {"mcp_stateless": replicas, "mcp_sticky": sticky}))
        record = anyio.run(scenario.run, balancer.urls["mcp"], replicas, sandbox)
        yield Deployment(record, replicas, sticky, balancer, sandbox, bool(shared))


def _needs_shared_journal(request: pytest.FixtureRequest, deployment: Deployment) -> None:
    if not deployment.shared_journal:
        request.applymarker(pytest.mark.xfail(strict=True, reason=NO_SHARED_JOURNAL))


# -- through the balancer -----------------------------------------------------------------------------


def test_a_task_created_through_the_balancer_is_continued_by_every_replica(deployment: Deployment) -> None:
    record = deployment.record
    assert record.created is not None
    created = record.created.task
    assert created["status"] in ("pending", "processing")
    assert {a.replica for a in record.continued} == set(record.replicas)
    for answer in record.continued:
        task = answer.task
        assert (task["task_id"], task["status"]) == (created["task_id"], "completed"), answer.replica
        assert [i["url"] for i in task["images"]] == [i["url"] for i in record.continued[0].task["images"]]


def test_list_resources_and_an_edit_from_task_through_the_balancer_all_find_the_task(deployment: Deployment) -> None:
    record = deployment.record
    assert record.created and record.listed and record.task_resource and record.edited
    task_id = record.created.task["task_id"]
    assert task_id in record.listed.text
    assert task_json(record.task_resource)["task_id"] == task_id
    assert task_json(record.task_resource)["status"] == "completed"
    assert record.edited.task["status"] == "completed"
    tasks = {t["id"]: t for t in record.ledger["tasks"]}
    assert tasks[record.edited.task["task_id"]]["action"] == "edit_image"


def test_the_image_resource_through_the_balancer_reads_the_same_bytes_on_every_replica(deployment: Deployment) -> None:
    reads = deployment.record.image_reads
    assert {a.replica for a in reads} == set(deployment.record.replicas)
    digests = {a.replica: digest(a.result) or a.error for a in reads}
    assert None not in digests.values() and len(set(digests.values())) == 1, digests


# -- the same answer from every replica ---------------------------------------------------------------


def _others(deployment: Deployment) -> dict[str, dict[str, scenario.Answer]]:
    maker = deployment.replicas[0].name
    return {name: answers for name, answers in deployment.record.elsewhere.items() if name != maker}


def test_every_replica_answers_get_task_for_a_task_made_on_another_with_the_same_status(
    deployment: Deployment,
) -> None:
    made = deployment.record.made_on_one
    assert made is not None
    for name, answers in _others(deployment).items():
        task = answers["get_task"].task
        assert (task["task_id"], task["status"]) == (made.task["task_id"], "completed"), name


def test_every_replica_reports_the_idempotency_key_a_task_was_made_with(
    request: pytest.FixtureRequest, deployment: Deployment
) -> None:
    _needs_shared_journal(request, deployment)
    made = deployment.record.made_on_one
    assert made is not None
    for name, answers in _others(deployment).items():
        assert answers["get_task"].task["idempotency_key"] == made.task["idempotency_key"], name


def test_a_task_made_on_one_replica_is_listed_with_its_prompt_by_every_other(
    request: pytest.FixtureRequest, deployment: Deployment
) -> None:
    _needs_shared_journal(request, deployment)
    made = deployment.record.made_on_one
    assert made is not None
    for name, answers in _others(deployment).items():
        assert made.task["task_id"] in answers["list"].text, name
        assert scenario.ON_ONE_PROMPT in answers["list"].text, name


def test_the_task_resource_reads_the_same_on_every_replica(
    request: pytest.FixtureRequest, deployment: Deployment
) -> None:
    _needs_shared_journal(request, deployment)
    maker = deployment.replicas[0].name
    expected = task_json(deployment.record.elsewhere[maker]["task"])
    for name, answers in _others(deployment).items():
        got = task_json(answers["task"])
        assert {k: got[k] for k in ("task_id", "status", "params")} == {
            k: expected[k] for k in ("task_id", "status", "params")
        }, name


def test_the_image_resource_reads_the_same_bytes_on_every_replica(
    request: pytest.FixtureRequest, deployment: Deployment
) -> None:
    # The shared database keeps the image once; every replica serves it from there.
    _needs_shared_journal(request, deployment)
    maker = deployment.replicas[0].name
    expected = digest(deployment.record.elsewhere[maker]["image"].result)
    assert expected is not None
    for name, answers in _others(deployment).items():
        assert digest(answers["image"].result) == expected, (name, answers["image"].error)


def test_an_edit_from_task_works_on_a_replica_that_did_not_make_the_task(
    request: pytest.FixtureRequest, deployment: Deployment
) -> None:
    _needs_shared_journal(request, deployment)
    for name, answers in _others(deployment).items():
        assert answers["edit"].task["status"] == "completed", (name, answers["edit"].text)


# -- a replica killed mid-wait ------------------------------------------------------------------------


def test_a_replica_killed_mid_wait_loses_no_task_and_the_retry_with_its_key_pays_once(deployment: Deployment) -> None:
    record = deployment.record
    assert record.killed_call is not None and record.retried is not None
    assert record.killed_call.error is not None, "the call whose replica died cannot have answered"
    assert record.retried.replica != record.killed_replica
    keyed = record.ledger["idempotency_keys"][scenario.KILLED_KEY]
    # One task for the key: the retry found it (in the shared journal, or as a RunAPI replay), never a second.
    assert keyed["tasks_created"] == 1
    assert record.retried.task["task_id"] == keyed["task_id"]
    assert record.retried.task["status"] == "completed"
    assert set(record.recovered) == set(record.replicas) - {record.killed_replica}
    for name, answer in record.recovered.items():
        assert (answer.task["task_id"], answer.task["status"]) == (keyed["task_id"], "completed"), name
    task = next(t for t in record.ledger["tasks"] if t["id"] == keyed["task_id"])
    assert task["charges"] == 1


def test_the_first_progress_notification_of_a_call_names_its_full_task_id(
    deployment: Deployment,
) -> None:
    record = deployment.record
    task_id = record.ledger["idempotency_keys"][scenario.KILLED_KEY]["task_id"]
    assert record.killed_progress, "the killed call had sent progress before it died"
    assert task_id in record.killed_progress[0]


# -- the sandbox's ledger -----------------------------------------------------------------------------


def test_the_ledger_shows_no_double_charge_and_no_lost_task(deployment: Deployment) -> None:
    record = deployment.record
    ledger = record.ledger
    assert all(task["charges"] <= 1 for task in ledger["tasks"])
    assert all(entry["tasks_created"] == 1 for entry in ledger["idempotency_keys"].values())
    made = {task["id"] for task in ledger["tasks"]}
    # Lost: a task RunAPI made (and charges for) that no answer ever named to the client.
    assert made == record.task_ids_seen()
    assert ledger["totals"]["in_progress"] == 0 and ledger["totals"]["failed"] == 0
    assert ledger["totals"]["charged_cents"] == sum(task["price_cents"] for task in ledger["tasks"])


def test_each_image_is_downloaded_from_runapi_once_across_replicas(
    request: pytest.FixtureRequest, deployment: Deployment
) -> None:
    # Replicas with journals of their own (SQLite) each learn the task alone: only a shared database lets one
    # replica download for all.
    _needs_shared_journal(request, deployment)
    downloads = deployment.record.downloads
    assert downloads, "the replicas downloaded the results"
    assert max(downloads.values()) == 1, downloads


def test_images_of_a_task_continued_on_another_replica_stay_in_the_tenant_folder(deployment: Deployment) -> None:
    saved = [(a.replica, image.get("path")) for a in deployment.record.continued for image in a.task["images"]]
    assert saved and all("/state/tenants/" in path for _, path in saved if path), saved


# -- request state and sessions -----------------------------------------------------------------------


def _sealed_state(key: str, tool: str, arguments: dict[str, Any]) -> str:
    """A requestState exactly as a replica with the shared keys seals it for `key`'s call to `tool`."""
    settings = Settings.load({"HOME": "/nonexistent", "RUNAPI_MCP_STATE_KEYS": STATE_KEYS})
    security = request_state_security(settings)
    assert security is not None
    # The SDK's own boundary, as the server installs it (audience: the server's name).
    boundary = RequestStateBoundary(security, default_audience="runapi")
    call = SimpleNamespace(
        method="tools/call",
        params={"name": tool, "arguments": arguments},
        request=SimpleNamespace(headers={"authorization": f"Bearer {key}"}),
    )
    return boundary._seal(call, "round-1")  # pyright: ignore[reportPrivateUsage, reportArgumentType]


async def _list_with_state(url: str, key: str, state: str) -> str:
    async with mcp_session(url, key) as session:
        try:
            result = await session.client.call_tool("list_tasks", {}, request_state=state)
        except MCPError as exc:
            return f"refused: {exc}"
        return "ok" if not result.is_error else f"tool error: {result.content}"


def test_request_state_sealed_on_one_replica_opens_on_every_replica_with_the_keys_and_only_for_its_tenant(
    deployment: Deployment,
) -> None:
    state = _sealed_state(TENANT, "list_tasks", {})
    alive = [r for r in deployment.replicas if r.name != deployment.record.killed_replica]

    async def outcomes() -> dict[str, str]:
        found = {r.name: await _list_with_state(r.url, TENANT, state) for r in alive}
        found["other tenant"] = await _list_with_state(alive[0].url, OTHER_TENANT, state)
        found["no shared keys"] = await _list_with_state(deployment.sticky_replicas[0].url, TENANT, state)
        return found

    found = anyio.run(outcomes)
    assert len(alive) == 2 and all(found[r.name] == "ok" for r in alive), found
    assert "Invalid or expired requestState" in found["other tenant"]
    assert "Invalid or expired requestState" in found["no shared keys"]


def test_a_session_of_a_2025_era_client_sticks_to_one_replica_through_the_sticky_frontend(
    deployment: Deployment,
) -> None:
    async def session() -> tuple[list[str], list[bool]]:
        async with mcp_session(deployment.balancer.urls["mcp_sessions"], TENANT, legacy=True) as s:
            errors = [(await s.client.call_tool("get_pricing", {})).is_error for _ in range(4)]
            return [name for _, name in s.served_by], errors

    served_by, errors = anyio.run(session)
    assert errors == [False] * 4
    assert len(served_by) >= 5 and len(set(served_by)) == 1, served_by


def test_a_2025_era_client_is_served_by_every_stateless_replica_through_round_robin(deployment: Deployment) -> None:
    async def session() -> tuple[set[str], list[bool]]:
        async with mcp_session(deployment.balancer.urls["mcp"], TENANT, legacy=True) as s:
            errors = [(await s.client.call_tool("get_pricing", {})).is_error for _ in range(4)]
            return {name for method, name in s.served_by if method == "tools/call"}, errors

    replicas, errors = anyio.run(session)
    assert errors == [False] * 4
    assert len(replicas) == 2, replicas  # the two left after the kill, taking turns


def test_replicas_log_no_secret_and_warn_only_where_state_keys_are_missing(deployment: Deployment) -> None:
    for replica in deployment.replicas + deployment.sticky_replicas:
        log = Path(replica.log).read_text(errors="replace")
        assert STATE_KEYS not in log and TENANT not in log, replica.name
        assert "Traceback" not in log or replica.name == deployment.record.killed_replica, log[-2000:]
        # Stateless replicas have the keys; the session replicas are not stateless: no warning for either.
        assert "RUNAPI_MCP_STATE_KEYS is not set" not in log, replica.name
