"""The official RunAPI SDK runs against the sandbox: proof that the sandbox speaks RunAPI's contract."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from runapi.core import RequestOptions
from runapi.gpt_image_2 import GptImage2Client

from runapi_mcp.sandbox import SandboxConfig, SandboxThread
from tests.sandbox.helpers import KEY, T2I, open_png, solid_png

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxThread]:
    # The SDK polls every 2 s unless a status response carries Retry-After; the hint keeps these tests quick.
    with SandboxThread(SandboxConfig(latency=0.05, status_retry_after=0.01)) as running:
        yield running


@pytest.fixture
def sdk(sandbox: SandboxThread) -> GptImage2Client:
    return GptImage2Client(api_key=KEY, base_url=sandbox.url, retry_base_delay=0.01, retry_max_delay=0.05)


def download(url: str) -> bytes:
    response = httpx2.get(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    return response.content


@pytest.mark.parametrize(
    ("aspect_ratio", "resolution", "size"),
    [
        ("1:1", "1k", (1024, 1024)),
        ("16:9", "2k", (2048, 1152)),
        ("9:16", "4k", (2160, 3840)),
        ("3:2", "1k", (1024, 688)),
        ("21:9", "2k", (2048, 880)),
        ("auto", "1k", (1024, 1024)),
        (None, None, (1024, 1024)),
    ],
)
def test_sdk_text_to_image_run_returns_a_png_of_the_requested_size(
    sdk: GptImage2Client, aspect_ratio: str | None, resolution: str | None, size: tuple[int, int]
) -> None:
    result = sdk.text_to_image.run(
        model="gpt-image-2", prompt="a paper boat on a pond", aspect_ratio=aspect_ratio, output_resolution=resolution
    )
    assert result.status == "completed"
    assert len(result.images) == 1
    image = open_png(download(result.images[0].url))
    assert image.size == size
    assert result.usage.cost == {"1k": 0.06, "2k": 0.10, "4k": 0.16}[resolution or "1k"]


def test_sdk_edit_of_an_uploaded_file_shows_the_uploaded_pixels(sdk: GptImage2Client, tmp_path: Path) -> None:
    source = tmp_path / "red.png"
    source.write_bytes(solid_png((255, 0, 0)))
    uploaded = sdk.files.create(file=source)  # prepare -> PUT upload_url -> confirm
    assert uploaded.mime_type == "image/png"
    assert uploaded.size_bytes == source.stat().st_size

    result = sdk.edit_image.run(
        model="gpt-image-2",
        prompt="keep it red",
        source_image_urls=[uploaded.url],
        aspect_ratio="1:1",
        output_resolution="1k",
    )
    image = open_png(download(result.images[0].url))
    assert image.size == (1024, 1024)
    for point in [(512, 512), (900, 300), (200, 600)]:
        assert image.getpixel(point) == (255, 0, 0)


def test_sdk_edit_of_two_sources_places_both_side_by_side(sdk: GptImage2Client) -> None:
    red = sdk.files.create(source=solid_png_b64((255, 0, 0)))
    blue = sdk.files.create(source=solid_png_b64((0, 0, 255)))
    result = sdk.edit_image.run(
        model="gpt-image-2", prompt="combine", source_image_urls=[red.url, blue.url], aspect_ratio="16:9"
    )
    image = open_png(download(result.images[0].url))
    width, height = image.size
    assert image.getpixel((width // 4, height // 2)) == (255, 0, 0)
    assert image.getpixel((3 * width // 4, height // 2)) == (0, 0, 255)


def solid_png_b64(colour: tuple[int, int, int]) -> str:
    import base64

    return base64.b64encode(solid_png(colour)).decode()


def test_sdk_account_pricing_and_files_endpoints_parse(sdk: GptImage2Client) -> None:
    balance = sdk.account.balance()
    assert isinstance(balance.balance_cents, int)
    info = sdk.account.info()
    assert isinstance(info.id, int)
    schedules = sdk.pricing.list_schedules(service="gpt_image_2", action="text_to_image")
    assert schedules is not None
    assert [s.action for s in schedules.price_schedules] == ["text_to_image"]
    quote = sdk.pricing.create_quote("gpt_image_2", "edit_image", "gpt-image-2", {"output_resolution": "4k"})
    assert quote.price_quote.reservation_amount_cents == 16
    remote = sdk.files.create(source="https://example.com/cat.jpg")
    assert remote.url.startswith("http://127.0.0.1:")
    assert remote.file_name == "cat.jpg"


def test_sdk_retries_through_503_and_a_lost_response_create_one_task_charged_once(
    sdk: GptImage2Client, sandbox: SandboxThread
) -> None:
    queued = httpx2.post(
        sandbox.url + "/_sandbox/faults",
        json={
            "faults": [
                {"method": "POST", "path": T2I, "fault": "503"},
                {"method": "POST", "path": T2I, "fault": "lost-response"},
            ]
        },
    )
    assert queued.status_code == 200
    key = "sdk-retry-key-1"
    created = sdk.text_to_image.create(
        model="gpt-image-2", prompt="retry me", options=RequestOptions(headers={"Idempotency-Key": key})
    )
    assert created.task_replayed is True

    ledger = sandbox.ledger()
    record = ledger["idempotency_keys"][key]
    assert record == {"task_id": created.id, "requests": 2, "replays": 1, "conflicts": 0, "tasks_created": 1}
    assert [t["id"] for t in ledger["tasks"] if t["idempotency_key"] == key] == [created.id]
    reservations = [c for c in ledger["charges"] if c["task_id"] == created.id and c["type"] == "reservation"]
    assert len(reservations) == 1
