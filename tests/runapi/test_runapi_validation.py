from __future__ import annotations

import pytest

from runapi_mcp.runapi.client import build_request
from runapi_mcp.runapi.errors import ValidationError
from runapi_mcp.runapi.models import ASPECT_RATIOS, EditImageRequest, TextToImageRequest
from runapi_mcp.runapi.validation import check_idempotency_key, check_task_id


def test_valid_text_to_image_fields_build_the_request_and_none_means_unset() -> None:
    request = build_request("text_to_image", prompt="a fox", aspect_ratio="16:9", output_resolution=None)
    assert isinstance(request, TextToImageRequest)
    assert request.body() == {"model": "gpt-image-2", "prompt": "a fox", "aspect_ratio": "16:9"}


def test_valid_edit_fields_build_an_edit_request() -> None:
    request = build_request(
        "edit_image", prompt="add a hat", source_image_urls=["https://x.test/a.png"], output_resolution="2k"
    )
    assert isinstance(request, EditImageRequest)
    assert request.body()["source_image_urls"] == ["https://x.test/a.png"]


def test_bad_aspect_ratio_names_the_field_every_allowed_value_and_what_was_given() -> None:
    with pytest.raises(ValidationError) as info:
        build_request("text_to_image", prompt="p", aspect_ratio="7:5")
    assert info.value.message == f"aspect_ratio must be one of: {', '.join(ASPECT_RATIOS)} (got '7:5')"
    assert info.value.message.startswith("aspect_ratio must be one of: auto, 1:1, 3:2")
    assert info.value.status is None


def test_bad_output_resolution_lists_1k_2k_4k() -> None:
    with pytest.raises(ValidationError, match=r"^output_resolution must be one of: 1k, 2k, 4k \(got '8k'\)$"):
        build_request("edit_image", prompt="p", source_image_urls=["https://x.test/a.png"], output_resolution="8k")


def test_missing_prompt_says_it_is_required() -> None:
    with pytest.raises(ValidationError, match=r"^prompt is required for text_to_image$"):
        build_request("text_to_image", aspect_ratio="1:1")


@pytest.mark.parametrize("prompt", ["", "   \n"])
def test_blank_prompt_is_refused(prompt: str) -> None:
    with pytest.raises(ValidationError, match="prompt must not be empty"):
        build_request("text_to_image", prompt=prompt)


def test_edit_without_sources_says_they_are_required() -> None:
    with pytest.raises(ValidationError, match=r"^source_image_urls is required for edit_image$"):
        build_request("edit_image", prompt="p")


@pytest.mark.parametrize(
    ("urls", "got"), [([], "0 images"), ([f"https://x.test/{i}.png" for i in range(17)], "17 images")]
)
def test_source_image_count_outside_1_to_16_is_refused_with_the_count(urls: list[str], got: str) -> None:
    with pytest.raises(ValidationError) as info:
        build_request("edit_image", prompt="p", source_image_urls=urls)
    assert info.value.message == f"source_image_urls must be a list of 1 to 16 image URLs (got {got})"


def test_sources_on_text_to_image_are_refused_by_name() -> None:
    with pytest.raises(ValidationError, match=r"^source_image_urls is not accepted by text_to_image \(fields: "):
        build_request("text_to_image", prompt="p", source_image_urls=["https://x.test/a.png"])


def test_unknown_action_lists_the_actions() -> None:
    with pytest.raises(ValidationError, match=r"^action must be one of: text_to_image, edit_image \(got 'upscale'\)$"):
        build_request("upscale", prompt="p")


def test_several_problems_are_reported_together_without_a_pydantic_dump() -> None:
    with pytest.raises(ValidationError) as info:
        build_request("text_to_image", prompt="p", aspect_ratio="7:5", output_resolution="8k")
    message = info.value.message
    assert "aspect_ratio must be one of" in message and "output_resolution must be one of" in message
    assert "pydantic" not in message and "validation error" not in message.lower()
    assert len(message) < 300


def test_a_huge_bad_value_is_shown_shortened() -> None:
    with pytest.raises(ValidationError) as info:
        build_request("text_to_image", prompt="p", aspect_ratio="x" * 10_000)
    assert len(info.value.message) < 200


@pytest.mark.parametrize("key", ["k", "a" * 512, "0b7c8f5e-1d2a-4c3b-9e8f-7a6b5c4d3e2f", "job 1/attempt:2"])
def test_idempotency_keys_of_1_to_512_printable_characters_are_accepted(key: str) -> None:
    assert check_idempotency_key(key) == key


@pytest.mark.parametrize("key", ["", "a" * 513, " leading", "trailing ", "tab\there", "ключ", "new\nline"])
def test_idempotency_keys_that_cannot_travel_in_a_header_are_refused(key: str) -> None:
    with pytest.raises(ValidationError, match="idempotency_key must be 1 to 512 printable ASCII characters"):
        check_idempotency_key(key)


@pytest.mark.parametrize("task_id", ["3f6c1a52-8e0b-4c7d-9a1e-2b5f7c9d0e14", "task_123", "A"])
def test_uuid_like_task_ids_are_accepted(task_id: str) -> None:
    assert check_task_id(task_id) == task_id


@pytest.mark.parametrize(
    "task_id", ["", "../me", "a/b", "a?b=c", "a#b", "%2e%2e", ".", "x" * 129, "-x", "id with space"]
)
def test_task_ids_that_are_not_one_safe_path_segment_are_refused(task_id: str) -> None:
    with pytest.raises(ValidationError, match="task_id must be a RunAPI task id"):
        check_task_id(task_id)
