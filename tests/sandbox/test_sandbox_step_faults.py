"""Faults at every step after a create: undecodable results, non-contract 2xx creates, odd status answers."""

from __future__ import annotations

import io
import time
import zlib
from typing import Any

import httpx2
import pytest
from PIL import Image

from runapi_mcp.sandbox import SandboxConfig, running_sandbox
from runapi_mcp.sandbox.corrupt import png_chunks
from runapi_mcp.sandbox.encoding import sniff_image_mime
from runapi_mcp.sandbox.faults import DEFAULT_FAILURE_MESSAGE
from tests.sandbox.helpers import BODY, FAST, T2I, assert_error, client_for, create, ledger, wait_done

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def does_not_decode(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except (OSError, SyntaxError, ValueError, zlib.error):
        return True
    return False


async def result_bytes(client: httpx2.AsyncClient, fault: str | None = None) -> tuple[httpx2.Response, dict[str, Any]]:
    done = await wait_done(client, (await create(client, fault=fault)).json()["id"])
    assert done["status"] == "completed", done
    response = await client.get(done["images"][0]["url"])
    assert response.status_code == 200
    return response, done


async def test_bad_image_png_passes_the_sniff_has_valid_crcs_and_does_not_decode() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        response, _ = await result_bytes(client, "bad-image;format=png")
        data = response.content
        assert sniff_image_mime(data) == "image/png" and response.headers["content-type"] == "image/png"
        chunks = png_chunks(data)  # raises on any bad CRC
        assert [kind for kind, _ in chunks][:1] == [b"IHDR"] and chunks[-1][0] == b"IEND"
        with Image.open(io.BytesIO(data)) as image:
            assert image.size == (1024, 1024)  # the header is fine
        assert does_not_decode(data)
        good, _ = await result_bytes(client)
        assert not does_not_decode(good.content)
        book = await ledger(client)
        assert book["totals"]["charged_cents"] == 12  # both charged once: the bad one is RunAPI's answer too
        assert book["faults_injected"]["bad-image"] == 1


async def test_bad_image_jpeg_is_a_truncated_jpeg() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        response, done = await result_bytes(client, "bad-image;format=jpeg")
        assert done["images"][0]["url"].endswith(".jpg")
        assert sniff_image_mime(response.content) == "image/jpeg"
        assert response.headers["content-type"] == "image/jpeg"
        assert not response.content.endswith(b"\xff\xd9")  # no end-of-image marker
        assert does_not_decode(response.content)


async def test_bad_image_on_one_download_spoils_only_that_answer() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        _, done = await result_bytes(client)
        url = done["images"][0]["url"]
        spoiled = await client.get(url, headers={"X-Sandbox-Fault": "bad-image"})
        assert sniff_image_mime(spoiled.content) == "image/png" and does_not_decode(spoiled.content)
        assert not does_not_decode((await client.get(url)).content)


async def test_bad_image_rate_is_drawn_from_the_seeded_dice() -> None:
    config = SandboxConfig(latency=0.02, seed=3, bad_image_rate=0.5)
    runs: list[list[bool]] = []
    for _ in range(2):
        async with running_sandbox(config) as sandbox, client_for(sandbox) as client:
            ids = [(await create(client, {**BODY, "prompt": f"p{i}"})).json()["id"] for i in range(12)]
            runs.append([bool(sandbox.state.tasks[task_id].bad_image) for task_id in ids])
    assert runs[0] == runs[1] and any(runs[0]) and not all(runs[0])


@pytest.mark.parametrize(
    ("shape", "media_type"), [("html", "text/html"), ("json", "application/json"), ("no-id", "application/json")]
)
async def test_bad_body_create_is_2xx_without_the_contract_and_only_a_replay_recovers_it(
    shape: str, media_type: str
) -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        answer = await create(client, key=f"bad-{shape}", fault=f"bad-body;shape={shape}")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith(media_type)
        assert "x-runapi-task-id" not in answer.headers
        if shape != "html":
            assert "id" not in answer.json()
        book = await ledger(client)
        assert book["totals"]["tasks"] == 1 and book["totals"]["reserved_cents"] == 6  # created and charged
        replay = await create(client, key=f"bad-{shape}")
        assert replay.json()["task_replayed"] is True
        assert replay.json()["id"] == book["tasks"][0]["id"]
        await wait_done(client, replay.json()["id"])
        book = await ledger(client)
        assert book["totals"]["tasks"] == 1 and book["totals"]["charged_cents"] == 6
        assert [row["charges"] for row in book["tasks"]] == [1]
        assert book["faults_injected"] == {f"bad-body ({shape})": 1}


async def test_bad_body_lets_an_error_answer_through_unchanged() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        refused = await create(client, {"model": "gpt-image-2"}, fault="bad-body")
        assert_error(refused, 422, "validation_failed")
        assert (await ledger(client))["totals"]["tasks"] == 0


async def test_bad_body_rate_hits_only_creates() -> None:
    config = SandboxConfig(latency=0.02, seed=1, bad_body_rate=1.0)
    async with running_sandbox(config) as sandbox, client_for(sandbox) as client:
        answer = await create(client)
        assert "id" not in answer.text or answer.headers["content-type"].startswith("text/html")
        assert (await client.get("/api/v1/me")).json()["sandbox"] is True
        task_id = next(iter(sandbox.state.tasks))
        assert (await client.get(f"{T2I}/{task_id}")).json()["id"] == task_id


async def test_slow_read_holds_the_status_answer() -> None:
    async with running_sandbox(SandboxConfig(latency=30)) as sandbox, client_for(sandbox) as client:
        task_id = (await create(client)).json()["id"]
        started = time.monotonic()
        slow = await client.get(f"{T2I}/{task_id}", headers={"X-Sandbox-Fault": "slow-read;seconds=0.4"})
        assert time.monotonic() - started >= 0.4
        assert slow.json()["status"] == "pending"


async def test_tiny_retry_after_on_a_status_answer() -> None:
    async with (
        running_sandbox(SandboxConfig(latency=30, status_retry_after=2)) as sandbox,
        client_for(sandbox) as client,
    ):
        task_id = (await create(client)).json()["id"]
        assert (await client.get(f"{T2I}/{task_id}")).headers["retry-after"] == "2"
        tiny = await client.get(f"{T2I}/{task_id}", headers={"X-Sandbox-Fault": "tiny-retry-after"})
        assert tiny.headers["retry-after"] == "0.001"
        chosen = await client.get(f"{T2I}/{task_id}", headers={"X-Sandbox-Fault": "tiny-retry-after;seconds=0.01"})
        assert chosen.headers["retry-after"] == "0.01"


@pytest.mark.parametrize(
    ("fault", "word"),
    [("unknown-status", "in_queue"), ("unknown-status;word=GPU%20busy", "GPU busy"), ("empty-status", "")],
)
async def test_unknown_and_empty_status_words(fault: str, word: str) -> None:
    async with running_sandbox(SandboxConfig(latency=30)) as sandbox, client_for(sandbox) as client:
        task_id = (await create(client)).json()["id"]
        odd = (await client.get(f"{T2I}/{task_id}", headers={"X-Sandbox-Fault": fault})).json()
        assert odd["status"] == word and odd["id"] == task_id
        assert (await client.get(f"{T2I}/{task_id}")).json()["status"] == "pending"


async def test_no_images_task_completes_charged_with_an_empty_list() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        done = await wait_done(client, (await create(client, fault="no-images")).json()["id"])
        assert done["status"] == "completed" and done["images"] == []
        assert done["billing"]["settlement"]["charged_amount_cents"] == 6
        book = await ledger(client)
        assert book["totals"]["charged_cents"] == 6 and book["tasks"][0]["faults"] == ["no-images"]


async def test_no_images_on_one_status_read_only() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        task_id = (await wait_done(client, (await create(client)).json()["id"]))["id"]
        empty = (await client.get(f"{T2I}/{task_id}", headers={"X-Sandbox-Fault": "no-images"})).json()
        assert empty["status"] == "completed" and empty["images"] == []
        assert len((await client.get(f"{T2I}/{task_id}")).json()["images"]) == 1


async def test_read_fault_rates_are_reproducible_with_a_seed_and_counted() -> None:
    config = SandboxConfig(
        latency=30, seed=11, tiny_retry_after_rate=0.2, unknown_status_rate=0.2, empty_status_rate=0.2
    )
    seen: list[list[str]] = []
    injected: dict[str, int] = {}
    for _ in range(2):
        async with running_sandbox(config) as sandbox, client_for(sandbox) as client:
            task_id = (await create(client)).json()["id"]
            reads = [await client.get(f"{T2I}/{task_id}") for _ in range(30)]
            seen.append([f"{r.json()['status']}|{r.headers.get('retry-after')}" for r in reads])
            injected = (await ledger(client))["faults_injected"]
    assert seen[0] == seen[1]
    assert {"pending|None", "|None", "pending|0.001"} <= set(seen[0])
    assert any(s.split("|")[0] in ("in_queue", "moderating", "upscaling") for s in seen[0])
    assert sum(injected.values()) == sum(1 for s in seen[1] if s != "pending|None")


async def test_the_injected_failure_message_has_no_closing_stop_to_double() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        done = await wait_done(client, (await create(client, fault="fail-task")).json()["id"])
        assert done["error"] == DEFAULT_FAILURE_MESSAGE
        assert not done["error"].endswith(".") and "sandbox" in done["error"]
        assert f"Task failed: {done['error']}.".count("..") == 0


@pytest.mark.parametrize(
    "spec", ["bad-body;shape=xml", "bad-image;format=gif", "slow-read;seconds=x", "tiny-retry-after;seconds=-1"]
)
async def test_malformed_new_fault_specs_are_a_400(spec: str) -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        assert_error(await create(client, fault=spec), 400, "invalid_fault")
