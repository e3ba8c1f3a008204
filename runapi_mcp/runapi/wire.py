"""One logical request to RunAPI: headers, safe retries, and the answer checked against the contract.

Retries are only ever made where repeating the request cannot do anything twice: GETs, and POSTs that carry
an Idempotency-Key (RunAPI replays the original task for a repeated key). Everything else fails fast.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import anyio
import httpx2
import pydantic
from pydantic import SecretStr

from runapi_mcp.text import shorten
from runapi_mcp.urls import display_url

from .errors import AuthenticationError, ConnectionFailedError, RunAPIError, UnexpectedResponseError
from .responses import REQUEST_ID_HEADER, TASK_ID_HEADER, error_from_response, redact
from .retry import RetryPolicy

logger = logging.getLogger(__name__)

_M = TypeVar("_M", bound=pydantic.BaseModel)
# Transport failures that say the request can never succeed as sent: retrying them only wastes the budget.
_PERMANENT_TRANSPORT_ERRORS = (httpx2.UnsupportedProtocol, httpx2.LocalProtocolError)


@dataclass(frozen=True)
class Wire:
    """Who is asking (the key), where (the base URL), and how patiently (the retry policy)."""

    http: httpx2.AsyncClient
    base_url: str
    api_key: SecretStr | None
    retry: RetryPolicy
    user_agent: str

    @property
    def origin(self) -> str:
        return origin_of(self.base_url)

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key.get_secret_value()}"
        return headers

    def secrets(self, extra: Iterable[str] = ()) -> list[str]:
        key = [self.api_key.get_secret_value()] if self.api_key is not None else []
        return [*key, *(s for s in extra if s)]

    async def send(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        not_modified_ok: bool = False,
    ) -> httpx2.Response:
        """One logical request, repeated on transient failures only when repeating it is harmless."""
        repeatable = method == "GET" or idempotency_key is not None
        request_headers = self.headers()
        if idempotency_key is not None:
            request_headers["Idempotency-Key"] = idempotency_key
        request_headers.update(headers or {})
        url = self.base_url + path
        retry = 0
        while True:
            try:
                response = await self.http.request(
                    method, url, json=body, params=params, headers=request_headers, follow_redirects=False
                )
            except httpx2.TransportError as exc:
                # Not chained: the transport error holds the request, Authorization header included.
                error: RunAPIError = connection_error(exc, self.origin, self.secrets())
            else:
                if response.is_success or (not_modified_ok and response.status_code == 304):
                    return response
                error = error_from_response(response)
            delay = self.retry.delay_before(retry, error) if repeatable else None
            if delay is None:
                raise error from None
            retry += 1
            logger.info(
                "%s %s failed (%s); retry %d of %d in %.2f s",
                method,
                path,
                error.status or type(error).__name__,
                retry,
                self.retry.max_retries,
                delay,
            )
            await anyio.sleep(delay)


def checked_key(api_key: SecretStr | None) -> SecretStr | None:
    if api_key is None or not api_key.get_secret_value():
        return None
    value = api_key.get_secret_value()
    # A key that cannot travel in a header would make the HTTP library echo it inside its own error.
    if not value.isascii() or not value.isprintable() or any(c.isspace() for c in value):
        raise AuthenticationError("The RunAPI API key contains spaces or characters that cannot be sent; check it.")
    return api_key


def origin_of(url: str) -> str:
    """scheme://host[:port], without credentials, path or query: safe to show."""
    return display_url(url, with_path=False)


def connection_error(exc: httpx2.TransportError, target: str, secrets: list[str]) -> ConnectionFailedError:
    what = "the request timed out" if isinstance(exc, httpx2.TimeoutException) else "the connection failed"
    detail = shorten(redact(str(exc), secrets), 120)
    suffix = f": {detail}" if detail else ""
    error = ConnectionFailedError(f"Could not reach {target}: {what} ({type(exc).__name__}{suffix}).")
    if isinstance(exc, _PERMANENT_TRANSPORT_ERRORS):
        error.retryable = False
    return error


def parse_body(response: httpx2.Response, model: type[_M], *, what: str, key: str | None = None) -> _M:
    """A 2xx body as `model`; anything else the contract does not allow is an UnexpectedResponseError."""

    def unexpected(reason: str) -> UnexpectedResponseError:
        return UnexpectedResponseError(
            f"RunAPI's answer for {what} does not match its API contract: {reason}.",
            status=response.status_code,
            task_id=response.headers.get(TASK_ID_HEADER),
            request_id=response.headers.get(REQUEST_ID_HEADER),
        )

    if not response.is_success:
        raise unexpected(f"HTTP {response.status_code} carries no {model.__name__}")
    try:
        data: Any = response.json()
    except ValueError:
        raise unexpected("the body is not JSON") from None
    if key is not None:
        data = cast(dict[str, Any], data).get(key) if isinstance(data, dict) else None
        if data is None:
            raise unexpected(f"no {key!r} object")
    if not isinstance(data, dict):
        raise unexpected("the body is not a JSON object")
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise unexpected(f"{where}: {first['msg'].lower()}") from None
