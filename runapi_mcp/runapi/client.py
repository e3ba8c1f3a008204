"""The async RunAPI client: one method per endpoint, typed models in and out, safe retries.

Retries are only ever made where repeating the request cannot do anything twice: GETs, and POSTs that carry
an Idempotency-Key (RunAPI replays the original task for a repeated key). Everything else fails fast.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import anyio
import anyio.to_thread
import httpx2
import pydantic
from pydantic import SecretStr

from runapi_mcp import __version__

from .errors import AuthenticationError, ConnectionFailedError, RunAPIError, UnexpectedResponseError
from .models import (
    MODEL_ID,
    SERVICE,
    Action,
    Balance,
    CliExchange,
    CreatedTask,
    EditImageRequest,
    Me,
    PreparedUpload,
    PriceQuote,
    PriceSchedules,
    PromptPage,
    TaskStatus,
    TempFile,
    TextToImageRequest,
)
from .responses import (
    REQUEST_ID_HEADER,
    RETRY_AFTER_HEADER,
    TASK_ID_HEADER,
    error_from_response,
    parse_retry_after,
    redact,
    shorten,
)
from .validation import (
    build_request,
    check_action,
    check_idempotency_key,
    check_request_matches,
    check_task_id,
    invalid,
)

__all__ = ["PRICE_TTL_SECONDS", "RetryPolicy", "RunAPIClient", "build_request"]

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
PRICE_TTL_SECONDS = 300.0
_M = TypeVar("_M", bound=pydantic.BaseModel)
# Transport failures that say the request can never succeed as sent: retrying them only wastes the budget.
_PERMANENT_TRANSPORT_ERRORS = (httpx2.UnsupportedProtocol, httpx2.LocalProtocolError)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a retryable request is repeated."""

    max_retries: int = 3  # retries after the first attempt
    base_delay: float = 0.5
    max_delay: float = 5.0  # cap for backoff (Retry-After may exceed it up to max_retry_after)
    max_retry_after: float = 30.0  # a Retry-After longer than this is not waited for: raise instead
    # Returns a number in [0, 1); replaceable so tests can make jitter deterministic.
    jitter: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("RetryPolicy values must not be negative")

    def backoff(self, retry: int) -> float:
        """Delay before retry number `retry` (0 for the first): exponential, full jitter above base_delay."""
        ceiling = min(self.max_delay, self.base_delay * 2.0**retry)
        floor = min(self.base_delay, ceiling)
        return floor + (ceiling - floor) * self.jitter()

    def delay_before(self, retry: int, error: RunAPIError) -> float | None:
        """Seconds to wait before retrying after `error`, or None when it should be raised instead."""
        if not error.retryable or retry >= self.max_retries:
            return None
        if error.retry_after is None:
            return self.backoff(retry)
        return error.retry_after if error.retry_after <= self.max_retry_after else None


@dataclass
class _CachedPrices:
    schedules: PriceSchedules
    etag: str | None
    fetched_at: float


class RunAPIClient:
    """RunAPI's GPT Image 2 endpoints over a shared `httpx2.AsyncClient` (the caller owns and closes it)."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        *,
        base_url: str,
        api_key: SecretStr | None,
        retry: RetryPolicy = RetryPolicy(),  # frozen, so one shared default is safe
        user_agent: str | None = None,
        price_ttl: float = PRICE_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._origin = _origin(self._base_url)
        self._api_key = _checked_key(api_key)
        self._retry = retry
        self._user_agent = user_agent or f"runapi-mcp/{__version__}"
        self._price_ttl = price_ttl
        self._clock = clock
        # Shared by every with_api_key() copy: price schedules are public and the same for every account.
        self._prices: dict[str, _CachedPrices] = {}

    def __repr__(self) -> str:
        key = "set" if self._api_key else "none"
        return f"RunAPIClient(origin={self._origin!r}, api_key={key})"  # no path, query or userinfo

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def has_api_key(self) -> bool:
        return self._api_key is not None

    def with_api_key(self, api_key: SecretStr | None) -> RunAPIClient:
        """The same connection pool, retry policy and price cache, acting for another key."""
        clone = copy.copy(self)
        clone._api_key = _checked_key(api_key)
        return clone

    def with_retry(self, retry: RetryPolicy) -> RunAPIClient:
        """The same client with another retry policy (e.g. none while polling against a deadline)."""
        clone = copy.copy(self)
        clone._retry = retry
        return clone

    # Tasks

    async def create_task(
        self, action: Action, request: TextToImageRequest | EditImageRequest, *, idempotency_key: str
    ) -> CreatedTask:
        """Start a task. Safe to retry with the same key: RunAPI answers a replay with the existing task."""
        checked = check_action(action)
        check_request_matches(checked, request)
        key = check_idempotency_key(idempotency_key)
        path = f"{API_PREFIX}/{SERVICE}/{checked}"
        response = await self._send("POST", path, body=request.body(), idempotency_key=key)
        return _parse(response, CreatedTask, what=f"creating a {checked} task")

    async def get_task(self, action: Action, task_id: str) -> TaskStatus:
        """One status read; the response's Retry-After is kept on the result as `retry_after`."""
        checked = check_action(action)
        path = f"{API_PREFIX}/{SERVICE}/{checked}/{check_task_id(task_id)}"
        response = await self._send("GET", path)
        status = _parse(response, TaskStatus, what=f"task {task_id}")
        return status.with_retry_after(parse_retry_after(response.headers.get(RETRY_AFTER_HEADER)))

    # Pricing and account

    async def price_schedules(self, *, action: Action | None = None) -> PriceSchedules:
        """GPT Image 2's price schedules, cached for a few minutes and revalidated with their ETag."""
        params = {"service": SERVICE, "model": MODEL_ID}
        if action is not None:
            params["action"] = check_action(action)
        cache_key = action or ""
        cached = self._prices.get(cache_key)
        if cached is not None and self._clock() - cached.fetched_at < self._price_ttl:
            return _served(cached.schedules, from_cache=True)
        headers = {"If-None-Match": cached.etag} if cached is not None and cached.etag else None
        response = await self._send(
            "GET", f"{API_PREFIX}/price_schedules", params=params, headers=headers, not_modified_ok=cached is not None
        )
        if response.status_code == 304 and cached is not None:
            cached.fetched_at = self._clock()
            return _served(cached.schedules, from_cache=False)
        schedules = _parse(response, PriceSchedules, what="price schedules")
        self._prices[cache_key] = _CachedPrices(schedules, response.headers.get("etag"), self._clock())
        return _served(schedules, from_cache=False)

    async def price_quote(self, action: Action, params: dict[str, Any]) -> PriceQuote:
        """RunAPI's reservation estimate for one task with these request parameters."""
        body = {"service": SERVICE, "action": check_action(action), "model": MODEL_ID, "params": params}
        response = await self._send("POST", f"{API_PREFIX}/price_quotes", body=body)
        return _parse(response, PriceQuote, what="a price quote", key="price_quote")

    async def balance(self) -> Balance:
        response = await self._send("GET", f"{API_PREFIX}/me/balance")
        return _parse(response, Balance, what="the balance")

    async def me(self) -> Me:
        response = await self._send("GET", f"{API_PREFIX}/me")
        return _parse(response, Me, what="the account")

    # Browser login and the prompt library: neither needs a key

    async def cli_exchange(self, *, code: str, code_verifier: str, redirect_port: int, hostname: str) -> CliExchange:
        """Trade an approved browser login's code for a key. Never retried: a code is good for one exchange."""
        body = {"code": code, "code_verifier": code_verifier, "redirect_port": redirect_port}
        path = f"{API_PREFIX}/cli/exchange"
        response = await self._send("POST", path, body=body, headers={"x-cli-hostname": hostname})
        return _parse(response, CliExchange, what="the login exchange")

    async def search_prompts(
        self,
        *,
        q: str | None = None,
        category: str | None = None,
        tags: tuple[str, ...] = (),
        modality: str | None = None,
        featured: bool | None = None,
        page: int = 1,
        per_page: int = 20,
    ) -> PromptPage:
        """One page of RunAPI's prompt library for GPT Image 2, filtered as asked."""
        if page < 1 or not 1 <= per_page <= 100:
            raise invalid("page must be 1 or more and per_page between 1 and 100")
        params = {"model": MODEL_ID, "page": str(page), "per_page": str(per_page)}
        optional = {"q": q, "category": category, "modality": modality, "tags": ",".join(tags) or None}
        params.update({name: value for name, value in optional.items() if value})
        if featured is not None:
            params["featured"] = "true" if featured else "false"
        response = await self._send("GET", f"{API_PREFIX}/prompts", params=params)
        return _parse(response, PromptPage, what="the prompt library")

    # Temporary files

    async def file_from_url(self, url: str, *, file_name: str | None = None) -> TempFile:
        """Have RunAPI fetch `url` into a temporary file. Never retried: the request carries no key."""
        if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise invalid("url must be an http:// or https:// URL")
        body: dict[str, Any] = {"source": {"type": "url", "url": url}}
        if file_name:
            body["file_name"] = file_name
        response = await self._send("POST", f"{API_PREFIX}/files", body=body)
        return _parse(response, TempFile, what="a file from a URL")

    async def file_from_base64(self, data: str, *, file_name: str) -> TempFile:
        """Store base64 image data as a temporary file. Never retried: the request carries no key."""
        if not data:
            raise invalid("data must be non-empty base64")
        if not file_name or not file_name.strip():
            raise invalid("file_name must not be empty")
        body = {"source": {"type": "base64", "data": data}, "file_name": file_name}
        response = await self._send("POST", f"{API_PREFIX}/files", body=body)
        return _parse(response, TempFile, what="a file from base64 data")

    async def upload_file(self, data: bytes, *, filename: str, content_type: str) -> TempFile:
        """Direct upload: prepare, PUT the bytes to the signed URL, confirm. No step is retried."""
        if not data:
            raise invalid("the file to upload is empty")
        if not filename or not filename.strip():
            raise invalid("filename must not be empty")
        checksum = await anyio.to_thread.run_sync(_md5_base64, data)
        prepare_body = {
            "filename": filename,
            "byte_size": len(data),
            "checksum": checksum,
            "content_type": content_type,
        }
        response = await self._send("POST", f"{API_PREFIX}/files/prepare", body=prepare_body)
        prepared = _parse(response, PreparedUpload, what="preparing an upload")
        await self._put_upload(prepared, data, filename)
        response = await self._send("POST", f"{API_PREFIX}/files/confirm", body={"signed_id": prepared.signed_id})
        return _parse(response, TempFile, what="confirming an upload")

    async def _put_upload(self, prepared: PreparedUpload, data: bytes, filename: str) -> None:
        try:
            url = httpx2.URL(prepared.upload_url)
        except httpx2.InvalidURL:
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            raise UnexpectedResponseError("RunAPI prepared an upload without a usable upload URL.")
        # Built by hand rather than through the client so that none of its default headers (and never the
        # API key) reach the storage host: the signature covers exactly the headers RunAPI handed out.
        request = httpx2.Request("PUT", url, headers=prepared.headers, content=data)
        upload_secrets = (prepared.upload_url, url.query.decode("ascii", "replace"))
        try:
            response = await self._http.send(request, auth=None, follow_redirects=False)
        except httpx2.TransportError as exc:
            raise _connection_error(exc, _origin(str(url)), self._secrets(upload_secrets)) from None
        if not response.is_success:
            error = error_from_response(response)
            raise type(error)(
                shorten(f"Uploading {filename} to RunAPI's storage failed: {error.message}"),
                status=error.status,
                code=error.code,
                request_id=error.request_id,
                retry_after=error.retry_after,
            )

    # Plumbing

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self._user_agent}
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        return headers

    def _secrets(self, extra: Iterable[str] = ()) -> list[str]:
        key = [self._api_key.get_secret_value()] if self._api_key is not None else []
        return [*key, *(s for s in extra if s)]

    async def _send(
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
        request_headers = self._headers()
        if idempotency_key is not None:
            request_headers["Idempotency-Key"] = idempotency_key
        request_headers.update(headers or {})
        url = self._base_url + path
        retry = 0
        while True:
            try:
                response = await self._http.request(
                    method, url, json=body, params=params, headers=request_headers, follow_redirects=False
                )
            except httpx2.TransportError as exc:
                # Not chained: the transport error holds the request, Authorization header included.
                error: RunAPIError = _connection_error(exc, self._origin, self._secrets())
            else:
                if response.is_success or (not_modified_ok and response.status_code == 304):
                    return response
                error = error_from_response(response)
            delay = self._retry.delay_before(retry, error) if repeatable else None
            if delay is None:
                raise error from None
            retry += 1
            logger.info(
                "%s %s failed (%s); retry %d of %d in %.2f s",
                method, path, error.status or type(error).__name__, retry, self._retry.max_retries, delay,
            )
            await anyio.sleep(delay)


def _checked_key(api_key: SecretStr | None) -> SecretStr | None:
    if api_key is None or not api_key.get_secret_value():
        return None
    value = api_key.get_secret_value()
    # A key that cannot travel in a header would make the HTTP library echo it inside its own error.
    if not value.isascii() or not value.isprintable() or any(c.isspace() for c in value):
        raise AuthenticationError("The RunAPI API key contains spaces or characters that cannot be sent; check it.")
    return api_key


def _origin(url: str) -> str:
    """scheme://host[:port], without credentials, path or query: safe to show."""
    try:
        parsed = httpx2.URL(url)
    except httpx2.InvalidURL:
        return "the configured RunAPI URL"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}"


def _connection_error(exc: httpx2.TransportError, target: str, secrets: list[str]) -> ConnectionFailedError:
    what = "the request timed out" if isinstance(exc, httpx2.TimeoutException) else "the connection failed"
    detail = shorten(redact(str(exc), secrets), 120)
    suffix = f": {detail}" if detail else ""
    error = ConnectionFailedError(f"Could not reach {target}: {what} ({type(exc).__name__}{suffix}).")
    if isinstance(exc, _PERMANENT_TRANSPORT_ERRORS):
        error.retryable = False
    return error


def _parse(response: httpx2.Response, model: type[_M], *, what: str, key: str | None = None) -> _M:
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


def _served(schedules: PriceSchedules, *, from_cache: bool) -> PriceSchedules:
    # A copy, so a caller that edits its result cannot change what the next caller is served.
    result = schedules.model_copy(deep=True)
    return result.with_from_cache(from_cache)


def _md5_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")
