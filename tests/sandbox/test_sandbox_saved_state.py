"""The sandbox with a state folder (`running_sandbox(..., state_dir=...)`), stopped and started again in
this process: what each part of the account looks like afterwards, the slots and the reset."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from runapi_mcp.sandbox import SandboxConfig, running_sandbox
from runapi_mcp.sandbox.store import StoreBusy, reset
from tests.sandbox.helpers import EDIT, advance, client_for, create, ledger, solid_png, wait_done
from tests.sandbox.receiver import running_receiver

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

QUICK = SandboxConfig(latency=0.2, callback_backoff=0.05, callback_secret="whsec_test")


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


async def upload(client: httpx2.AsyncClient, data: bytes) -> tuple[str, dict[str, Any]]:
    """The three-step upload: the signed id and the confirmed file."""
    prepared = (
        await client.post(
            "/api/v1/files/prepare", json={"filename": "red.png", "byte_size": len(data), "checksum": md5_b64(data)}
        )
    ).json()
    async with httpx2.AsyncClient() as bare:
        assert (await bare.put(prepared["upload_url"], content=data, headers=prepared["headers"])).status_code == 200
    confirmed = await client.post("/api/v1/files/confirm", json={"signed_id": prepared["signed_id"]})
    return prepared["signed_id"], confirmed.json()


async def test_an_in_memory_sandbox_writes_no_file_and_records_no_changes(tmp_path: Path) -> None:
    async with running_sandbox(QUICK) as sandbox, client_for(sandbox) as client:
        await wait_done(client, (await create(client, key="k")).json()["id"])
        assert sandbox.state_file is None and not sandbox.state.changes.recording
    assert list(tmp_path.iterdir()) == []


async def test_an_upload_an_edit_of_it_the_balance_and_the_clock_come_back_after_a_restart(tmp_path: Path) -> None:
    """Uploaded bytes, a confirm replayed by signed id, the edit's output re-rendered byte for byte, a top-up
    and a clock pushed forward: all as they were."""
    red = solid_png((220, 20, 20))
    async with running_sandbox(QUICK, state_dir=tmp_path) as sandbox, client_for(sandbox) as client:
        signed_id, file = await upload(client, red)
        edit = await create(
            client, {"model": "gpt-image-2", "prompt": "a hat", "source_image_urls": [file["url"]]}, path=EDIT
        )
        done = await wait_done(client, edit.json()["id"], path=EDIT)
        output = (await client.get(done["images"][0]["url"])).content
        assert (await client.post("/_sandbox/balance", json={"balance_cents": 777})).status_code == 200
        await advance(client, 3600)
        clock_before = (await client.get("/_sandbox")).json()["now"]
    assert sandbox.state_file == tmp_path / "sandbox.sqlite3"

    async with running_sandbox(QUICK, state_dir=tmp_path) as again, client_for(again) as client:
        assert again.url == sandbox.url
        assert (await client.get(file["url"])).content == red
        replayed = await client.post("/api/v1/files/confirm", json={"signed_id": signed_id})
        assert replayed.json()["url"] == file["url"]
        status = (await client.get(f"{EDIT}/{edit.json()['id']}")).json()
        assert status["images"] == done["images"]
        assert (await client.get(done["images"][0]["url"])).content == output
        assert (await client.get("/api/v1/me/balance")).json()["balance_cents"] == 777
        assert (await client.get("/_sandbox")).json()["now"] >= clock_before  # the hour pushed on is kept


async def test_a_drawn_failure_stays_a_failure_and_is_refunded_once_after_a_restart(tmp_path: Path) -> None:
    async with running_sandbox(QUICK, state_dir=tmp_path) as sandbox, client_for(sandbox) as client:
        task_id = (await create(client, key="doomed", fault="fail-task;message=no luck")).json()["id"]
    async with running_sandbox(QUICK, state_dir=tmp_path) as sandbox, client_for(sandbox) as client:
        done = await wait_done(client, task_id)
        assert done["status"] == "failed" and done["error"] == "no luck"
        book = await ledger(client)
    assert [c["type"] for c in book["charges"]] == ["reservation", "refund"]
    assert book["totals"]["balance_cents"] == QUICK.balance_cents


async def test_callbacks_are_sent_once_across_a_restart_and_late_for_a_task_done_while_down(tmp_path: Path) -> None:
    """A task that called back before the restart does not call back again; one that finished while the
    sandbox was down calls back when it is up again."""
    async with running_receiver() as receiver:
        body = {"model": "gpt-image-2", "prompt": "a bell", "callback_url": receiver.url}
        async with running_sandbox(QUICK, state_dir=tmp_path) as sandbox, client_for(sandbox) as client:
            first = (await create(client, body)).json()["id"]
            await receiver.wait_for(1)
            second = (await create(client, {**body, "prompt": "a second bell"})).json()["id"]
        await anyio.sleep(QUICK.latency + 0.1)
        async with running_sandbox(QUICK, state_dir=tmp_path):
            received = await receiver.wait_for(2)
            await anyio.sleep(0.3)
    assert [json.loads(r.body)["id"] for r in received] == [first, second]


async def test_two_sandboxes_on_one_state_folder_take_separate_files_and_a_reset_waits_for_both(
    tmp_path: Path,
) -> None:
    async with running_sandbox(QUICK, state_dir=tmp_path) as one, running_sandbox(QUICK, state_dir=tmp_path) as two:
        assert {one.state_file, two.state_file} == {tmp_path / "sandbox.sqlite3", tmp_path / "sandbox-2.sqlite3"}
        async with client_for(one) as client:
            await create(client, key="only-in-one")
        with pytest.raises(StoreBusy, match="stop it first"):
            reset(tmp_path, "sandbox")
    (tmp_path / "sandbox-journal.sqlite3").write_bytes(b"")
    removed = reset(tmp_path, "sandbox")
    assert tmp_path / "sandbox.sqlite3" in removed and tmp_path / "sandbox-journal.sqlite3" in removed
    async with running_sandbox(QUICK, state_dir=tmp_path) as fresh, client_for(fresh) as client:
        assert (await ledger(client))["totals"]["tasks"] == 0


async def test_a_save_that_fails_answers_503_and_the_retry_with_the_key_is_the_same_task(tmp_path: Path) -> None:
    """A create is never answered 200 before it is on disk; when the disk fails it says so, and the same key
    afterwards gets the task that was made, charged once."""
    async with running_sandbox(QUICK, state_dir=tmp_path) as sandbox, client_for(sandbox) as client:
        store = sandbox.state.saved.__self__.store  # type: ignore[attr-defined]
        real_write = store.write

        def full_disk(rows: object) -> None:
            raise OSError(28, "No space left on device")

        store.write = full_disk
        refused = await create(client, key="k-503")
        assert refused.status_code == 503 and "could not save" in refused.json()["error"]["message"]
        store.write = real_write
        await anyio.sleep(1.2)  # the saver tries again on its own
        retried = await create(client, key="k-503")
        assert retried.status_code == 200 and retried.json().get("task_replayed") is True
    async with running_sandbox(QUICK, state_dir=tmp_path) as again, client_for(again) as client:
        book = await ledger(client)
    assert book["totals"]["tasks"] == 1 and book["idempotency_keys"]["k-503"]["task_id"] == retried.json()["id"]
