"""A scripted stand-in for RunAPI at the HTTP boundary (httpx2.MockTransport), and fast retry settings."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from pydantic import SecretStr

from runapi_mcp.runapi.client import RetryPolicy, RunAPIClient

API_KEY = "rk_unit_test_SECRET_0123456789abcdef"
BASE_URL = "https://runapi.test"
TASK_ID = "3f6c1a52-8e0b-4c7d-9a1e-2b5f7c9d0e14"

Reply = httpx2.Response | Exception | Callable[[httpx2.Request], httpx2.Response]


class FakeRunAPI:
    """Answers each request with the next scripted reply and records every request it saw.

    Tests reach every helper through the `fake` fixture, so nothing depends on how pytest imports files.
    """

    api_key = API_KEY
    base_url = BASE_URL
    task_id = TASK_ID

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []
        self._replies: list[Reply] = []

    def reply(self, *replies: Reply) -> FakeRunAPI:
        self._replies.extend(replies)
        return self

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if not self._replies:
            raise AssertionError(f"unscripted request: {request.method} {request.url}")
        reply = self._replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, httpx2.Response):
            return reply
        return reply(request)

    def http(self, **kwargs: Any) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self.handle), **kwargs)

    def client(
        self,
        *,
        api_key: str | None = API_KEY,
        retry: RetryPolicy | None = None,
        http: httpx2.AsyncClient | None = None,
        **kwargs: Any,
    ) -> RunAPIClient:
        return RunAPIClient(
            http or self.http(),
            base_url=BASE_URL,
            api_key=SecretStr(api_key) if api_key is not None else None,
            retry=retry or self.fast_retry(),
            **kwargs,
        )

    @property
    def bodies(self) -> list[Any]:
        """The JSON body of each request (None for requests without one)."""
        return [
            json.loads(r.content) if r.headers.get("content-type") == "application/json" else None
            for r in self.requests
        ]

    @staticmethod
    def fast_retry(**overrides: Any) -> RetryPolicy:
        """Millisecond backoff, so retry tests take no noticeable time."""
        values: dict[str, Any] = {"max_retries": 3, "base_delay": 0.001, "max_delay": 0.004, "max_retry_after": 1.0}
        values.update(overrides)
        return RetryPolicy(**values)

    @staticmethod
    def json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx2.Response:
        return httpx2.Response(status, json=body, headers=headers)


@pytest.fixture
def fake() -> FakeRunAPI:
    return FakeRunAPI()
