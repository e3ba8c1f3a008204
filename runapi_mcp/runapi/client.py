"""The async RunAPI client: one method per endpoint, typed models in and out (the wire module retries)."""

from __future__ import annotations

import base64
import copy
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import anyio
import anyio.to_thread
import httpx2
from pydantic import SecretStr

from runapi_mcp import __version__
from runapi_mcp.text import shorten

from .errors import UnexpectedResponseError
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
    PriceSchedules,
    PromptPage,
    TaskStatus,
    TempFile,
    TextToImageRequest,
)
from .responses import MAX_MESSAGE_CHARS, RETRY_AFTER_HEADER, error_from_response, parse_retry_after, redact
from .retry import RetryPolicy
from .validation import (
    build_request,
    check_action,
    check_idempotency_key,
    check_request_matches,
    check_task_id,
    invalid,
)
from .wire import Wire, checked_key, connection_error, origin_of, parse_body

__all__ = ["PRICE_TTL_SECONDS", "RetryPolicy", "RunAPIClient", "build_request"]

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
PRICE_TTL_SECONDS = 300.0
DEFAULT_RETRY = RetryPolicy()  # frozen, so one shared default is safe


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
        retry: RetryPolicy = DEFAULT_RETRY,
        user_agent: str | None = None,
        price_ttl: float = PRICE_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wire = Wire(
            http=http,
            base_url=base_url.rstrip("/"),
            api_key=checked_key(api_key),
            retry=retry,
            user_agent=user_agent or f"runapi-mcp/{__version__}",
        )
        self._price_ttl = price_ttl
        self._clock = clock
        # Shared by every with_api_key() copy: price schedules are public and the same for every account.
        self._prices: dict[str, _CachedPrices] = {}

    def __repr__(self) -> str:
        key = "set" if self._wire.api_key else "none"
        return f"RunAPIClient(origin={self._wire.origin!r}, api_key={key})"  # no path, query or userinfo

    @property
    def base_url(self) -> str:
        return self._wire.base_url

    @property
    def has_api_key(self) -> bool:
        return self._wire.api_key is not None

    def with_api_key(self, api_key: SecretStr | None) -> RunAPIClient:
        """The same connection pool, retry policy and price cache, acting for another key."""
        clone = copy.copy(self)
        clone._wire = replace(self._wire, api_key=checked_key(api_key))
        return clone

    def with_retry(self, retry: RetryPolicy) -> RunAPIClient:
        """The same client with another retry policy (e.g. none while polling against a deadline)."""
        clone = copy.copy(self)
        clone._wire = replace(self._wire, retry=retry)
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
        response = await self._wire.send("POST", path, body=request.body(), idempotency_key=key)
        return parse_body(response, CreatedTask, what=f"creating a {checked} task")

    async def get_task(self, action: Action, task_id: str) -> TaskStatus:
        """One status read; the response's Retry-After is kept on the result as `retry_after`."""
        checked = check_action(action)
        path = f"{API_PREFIX}/{SERVICE}/{checked}/{check_task_id(task_id)}"
        response = await self._wire.send("GET", path)
        status = parse_body(response, TaskStatus, what=f"task {task_id}")
        if status.id != task_id:
            # An answer about another task (a proxy's cache, a mixed-up replica) must not complete this one.
            raise UnexpectedResponseError(
                f"RunAPI answered a status read of task {task_id} with task {shorten(status.id, 40)}",
                status=response.status_code,
            )
        if status.error:
            # A failed task's error is shown and journaled: never with the key in it, should RunAPI echo it.
            status = status.model_copy(update={"error": redact(status.error, self._wire.secrets())})
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
        response = await self._wire.send(
            "GET", f"{API_PREFIX}/price_schedules", params=params, headers=headers, not_modified_ok=cached is not None
        )
        if response.status_code == 304 and cached is not None:
            cached.fetched_at = self._clock()
            return _served(cached.schedules, from_cache=False)
        schedules = parse_body(response, PriceSchedules, what="price schedules")
        self._prices[cache_key] = _CachedPrices(schedules, response.headers.get("etag"), self._clock())
        return _served(schedules, from_cache=False)

    async def balance(self) -> Balance:
        response = await self._wire.send("GET", f"{API_PREFIX}/me/balance")
        return parse_body(response, Balance, what="the balance")

    async def me(self) -> Me:
        response = await self._wire.send("GET", f"{API_PREFIX}/me")
        return parse_body(response, Me, what="the account")

    # Browser login and the prompt library: neither needs a key

    async def cli_exchange(self, *, code: str, code_verifier: str, redirect_port: int, hostname: str) -> CliExchange:
        """Trade an approved browser login's code for a key. Never retried: a code is good for one exchange."""
        body = {"code": code, "code_verifier": code_verifier, "redirect_port": redirect_port}
        path = f"{API_PREFIX}/cli/exchange"
        response = await self._wire.send("POST", path, body=body, headers={"x-cli-hostname": hostname})
        return parse_body(response, CliExchange, what="the login exchange")

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
        response = await self._wire.send("GET", f"{API_PREFIX}/prompts", params=params)
        return parse_body(response, PromptPage, what="the prompt library")

    # Temporary files

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
        response = await self._wire.send("POST", f"{API_PREFIX}/files/prepare", body=prepare_body)
        prepared = parse_body(response, PreparedUpload, what="preparing an upload")
        await self._put_upload(prepared, data, filename)
        response = await self._wire.send("POST", f"{API_PREFIX}/files/confirm", body={"signed_id": prepared.signed_id})
        return parse_body(response, TempFile, what="confirming an upload")

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
            response = await self._wire.http.send(request, auth=None, follow_redirects=False)
        except httpx2.TransportError as exc:
            raise connection_error(exc, origin_of(str(url)), self._wire.secrets(upload_secrets)) from None
        if not response.is_success:
            error = error_from_response(response)
            raise type(error)(
                shorten(f"Uploading {filename} to RunAPI's storage failed: {error.message}", MAX_MESSAGE_CHARS),
                status=error.status,
                code=error.code,
                request_id=error.request_id,
                retry_after=error.retry_after,
            )


def _served(schedules: PriceSchedules, *, from_cache: bool) -> PriceSchedules:
    # A copy, so a caller that edits its result cannot change what the next caller is served.
    result = schedules.model_copy(deep=True)
    return result.with_from_cache(from_cache)


def _md5_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")
