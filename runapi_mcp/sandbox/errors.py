"""RunAPI-style error answers: `{"error": {"code", "message"}}` with the right status."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import JSONResponse, Response

# A default code per status, for faults injected by number and for Starlette's own 404/405.
STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    402: "insufficient_credits",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}

STATUS_MESSAGES: dict[int, str] = {
    400: "Bad request.",
    401: "Missing or invalid API key.",
    402: "Insufficient credits.",
    404: "Not found.",
    405: "Method not allowed.",
    409: "Conflict.",
    410: "Gone.",
    413: "Payload too large.",
    422: "Validation failed.",
    429: "Too many requests. Retry after the delay in the Retry-After header.",
    500: "Internal server error.",
    502: "Bad gateway.",
    503: "Service temporarily unavailable.",
    504: "Gateway timeout.",
}


class ApiError(Exception):
    """Raised by handlers; the app turns it into a RunAPI-style JSON error response."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def validation_error(message: str) -> ApiError:
    return ApiError(422, "validation_failed", message)


def error_response(
    status: int, code: str | None = None, message: str | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = {
        "error": {
            "code": code or STATUS_CODES.get(status, "error"),
            "message": message or STATUS_MESSAGES.get(status, "Request failed."),
        }
    }
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def api_error_response(error: ApiError) -> JSONResponse:
    return error_response(error.status, error.code, error.message, error.headers)


# What a 2xx create can look like when something between the client and RunAPI answers in its place.
_BAD_BODIES: dict[str, tuple[str, str]] = {
    "html": (
        "text/html; charset=utf-8",
        "<!DOCTYPE html><html><head><title>Request accepted</title></head>"
        "<body><h1>Request accepted</h1><p>Your request is being processed.</p></body></html>",
    ),
    "json": ("application/json", '{"code":0,"msg":"success","data":{"accepted":true}}'),
    "no-id": ("application/json", '{"status":"pending"}'),
}


def bad_body_response(shape: str) -> Response:
    """A 200 whose body is not the create contract's `{"id", "status"}` (the `bad-body` fault)."""
    media_type, body = _BAD_BODIES[shape]
    return Response(body, status_code=200, media_type=media_type)
