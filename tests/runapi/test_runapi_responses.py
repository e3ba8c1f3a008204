from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from runapi_mcp.runapi import errors
from runapi_mcp.runapi.responses import MAX_MESSAGE_CHARS, error_from_response, parse_retry_after

KEY = "rk_unit_test_SECRET_0123456789abcdef"
NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def response(
    status: int,
    *,
    json: object = None,
    text: str | None = None,
    headers: dict[str, str] | None = None,
    content_type: str | None = None,
) -> httpx2.Response:
    request = httpx2.Request("GET", "https://runapi.test/api/v1/me", headers={"Authorization": f"Bearer {KEY}"})
    all_headers = dict(headers or {})
    if content_type:
        all_headers["content-type"] = content_type
    if json is not None:
        return httpx2.Response(status, json=json, headers=all_headers, request=request)
    return httpx2.Response(status, text=text or "", headers=all_headers, request=request)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, errors.ValidationError),
        (422, errors.ValidationError),
        (401, errors.AuthenticationError),
        (402, errors.InsufficientCreditsError),
        (404, errors.NotFoundError),
        (409, errors.IdempotencyConflictError),
        (429, errors.RateLimitError),
        (500, errors.ServerError),
        (502, errors.ServerError),
        (503, errors.ServerError),
        (504, errors.ServerError),
        (505, errors.ServerError),
        (403, errors.UnexpectedResponseError),
        (418, errors.UnexpectedResponseError),
        (301, errors.UnexpectedResponseError),
    ],
)
def test_each_status_maps_to_its_error_class_and_keeps_the_status(status: int, expected: type) -> None:
    err = error_from_response(response(status, json={"message": "m"}))
    assert type(err) is expected
    assert err.status == status


def test_only_rate_limits_server_errors_are_retryable() -> None:
    retryable = {
        s for s in (400, 401, 402, 404, 409, 422, 429, 500, 503, 403) if error_from_response(response(s)).retryable
    }
    assert retryable == {429, 500, 503}


@pytest.mark.parametrize(
    ("body", "message", "code"),
    [
        (
            {"error": {"code": "invalid_aspect_ratio", "message": "aspect_ratio is invalid"}},
            "aspect_ratio is invalid",
            "invalid_aspect_ratio",
        ),
        ({"error": "Insufficient credits"}, "Insufficient credits", None),
        ({"message": "Task not found"}, "Task not found", None),
        ({"detail": "Not authenticated"}, "Not authenticated", None),
        ({"errorMessage": "Upstream refused"}, "Upstream refused", None),
        ({"msg": "slow down"}, "slow down", None),
        ({"detail": [{"loc": ["body", "prompt"], "msg": "field required"}]}, "prompt: field required", None),
    ],
)
def test_message_and_code_are_read_from_every_known_body_shape(
    body: dict[str, object], message: str, code: str | None
) -> None:
    err = error_from_response(response(422, json=body))
    assert err.message == message
    assert err.code == code


def test_nested_error_message_wins_over_top_level_fields() -> None:
    body = {"error": {"code": "c", "message": "nested"}, "message": "top", "detail": "d"}
    assert error_from_response(response(400, json=body)).message == "nested"


def test_error_object_without_message_falls_through_to_the_next_field() -> None:
    err = error_from_response(response(400, json={"error": {"code": "bad"}, "detail": "explained here"}))
    assert (err.message, err.code) == ("explained here", "bad")


def test_field_order_is_error_then_message_detail_errormessage_msg() -> None:
    body = {"msg": "5", "errorMessage": "4", "detail": "3", "message": "2"}
    assert error_from_response(response(400, json=body)).message == "2"
    del body["message"]
    assert error_from_response(response(400, json=body)).message == "3"
    del body["detail"]
    assert error_from_response(response(400, json=body)).message == "4"
    del body["errorMessage"]
    assert error_from_response(response(400, json=body)).message == "5"


def test_html_error_page_is_reduced_to_its_title() -> None:
    page = (
        "<!DOCTYPE html><html><head><title>502 Bad Gateway &amp; friends</title></head>"
        "<body><h1>Bad Gateway</h1><p>" + "x" * 5000 + "</p></body></html>"
    )
    err = error_from_response(response(502, text=page, content_type="text/html"))
    assert err.message == "502 Bad Gateway & friends"
    assert isinstance(err, errors.ServerError)


def test_html_page_without_title_uses_its_heading() -> None:
    err = error_from_response(response(503, text="<html><body><h1>Service <b>Unavailable</b></h1></body></html>"))
    assert err.message == "Service Unavailable"


def test_html_page_with_neither_title_nor_heading_gets_a_status_message() -> None:
    err = error_from_response(response(500, text="<html><body><p>oops</p></body></html>"))
    assert "500" in err.message and "<" not in err.message


@pytest.mark.parametrize(
    ("text", "json_body"),
    [
        ("", None),
        ("   ", None),
        (None, [1, 2, 3]),
        (None, {"unrelated": True}),
        (None, "just a string"),
        ("<?xml version='1.0'?><Error><Code>AccessDenied</Code></Error>", None),
    ],
)
def test_empty_or_unreadable_bodies_get_a_short_message_with_the_status(text: str | None, json_body: object) -> None:
    err = error_from_response(response(503, text=text, json=json_body))
    assert "503" in err.message
    assert len(err.message) < 100


def test_plain_text_body_becomes_the_message() -> None:
    err = error_from_response(response(502, text="upstream connect error\n  or disconnect", content_type="text/plain"))
    assert err.message == "upstream connect error or disconnect"


def test_long_messages_are_trimmed_to_one_short_line() -> None:
    err = error_from_response(response(400, json={"message": "word\n" * 1000}))
    assert len(err.message) <= MAX_MESSAGE_CHARS
    assert "\n" not in err.message


def test_task_id_and_request_id_headers_are_captured() -> None:
    headers = {"X-RunAPI-Task-Id": "3f6c1a52-8e0b-4c7d-9a1e-2b5f7c9d0e14", "x-request-id": "req_42"}
    err = error_from_response(response(500, json={"error": "boom"}, headers=headers))
    assert err.task_id == "3f6c1a52-8e0b-4c7d-9a1e-2b5f7c9d0e14"
    assert err.request_id == "req_42"


def test_missing_id_headers_leave_them_none() -> None:
    err = error_from_response(response(500))
    assert (err.task_id, err.request_id, err.retry_after) == (None, None, None)


def test_retry_after_seconds_are_read_from_an_error_response() -> None:
    err = error_from_response(response(429, json={"error": "slow down"}, headers={"Retry-After": "7"}))
    assert err.retry_after == 7.0


def test_retry_after_http_date_is_read_from_an_error_response() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    err = error_from_response(response(503, headers={"Retry-After": when}))
    assert err.retry_after is not None and 27 <= err.retry_after <= 30


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("1.5", 1.5),
        (" 3 ", 3.0),
        ("-5", 0.0),
        (format_datetime(NOW + timedelta(seconds=45), usegmt=True), 45.0),
        ("Sun, 01 Jun 2025 12:01:00 GMT", 60.0),
        ("Sunday, 01-Jun-25 12:00:10 GMT", 10.0),
        (format_datetime(NOW - timedelta(minutes=5), usegmt=True), 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("inf", None),
        ("nan", None),
    ],
)
def test_parse_retry_after_reads_seconds_and_http_dates_and_clamps_the_past(
    value: str | None, expected: float | None
) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_key_echoed_by_the_server_never_reaches_the_message() -> None:
    body = {"error": {"message": f"Invalid API key {KEY}; header was Authorization: Bearer {KEY}"}}
    err = error_from_response(response(401, json=body))
    for text in (err.message, str(err), repr(err)):
        assert KEY not in text
        assert KEY[:12] not in text
    assert "Invalid API key" in err.message


def test_a_long_message_is_redacted_before_it_is_cut() -> None:
    body = {"message": "x" * (MAX_MESSAGE_CHARS - 10) + " " + KEY}
    err = error_from_response(response(400, json=body))
    assert KEY[:6] not in err.message


def test_any_bearer_token_in_a_body_is_hidden_even_if_it_is_not_ours() -> None:
    err = error_from_response(response(400, text="rejected Authorization: Bearer someone-elses-token"))
    assert "someone-elses-token" not in err.message
    assert "Bearer [redacted]" in err.message


@given(prefix=st.text(max_size=400), suffix=st.text(max_size=400))
def test_the_key_never_survives_in_any_error_message(prefix: str, suffix: str) -> None:
    for body in ({"message": prefix + KEY + suffix}, {"error": prefix + KEY + suffix}):
        err = error_from_response(response(400, json=body))
        assert KEY not in err.message
    err = error_from_response(response(400, text=prefix + KEY + suffix))
    assert KEY not in err.message
