"""Pydantic models for RunAPI's GPT Image 2 endpoints.

Response models keep unknown fields (`extra="allow"`): RunAPI adds fields without notice and the
contract says to tolerate and keep them.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr

MODEL_ID = "gpt-image-2"
SERVICE = "gpt_image_2"

AspectRatio = Literal[
    "auto",
    "1:1",
    "3:2",
    "2:3",
    "4:3",
    "3:4",
    "5:4",
    "4:5",
    "16:9",
    "9:16",
    "2:1",
    "1:2",
    "3:1",
    "1:3",
    "21:9",
    "9:21",
]
OutputResolution = Literal["1k", "2k", "4k"]
Action = Literal["text_to_image", "edit_image"]
CanonicalStatus = Literal["pending", "processing", "completed", "failed"]

ASPECT_RATIOS: tuple[str, ...] = get_args(AspectRatio)
OUTPUT_RESOLUTIONS: tuple[str, ...] = get_args(OutputResolution)
ACTIONS: tuple[str, ...] = get_args(Action)

# Other RunAPI SDKs report these spellings; they all collapse onto the four canonical statuses.
_STATUS_ALIASES: dict[str, CanonicalStatus] = {
    "pending": "pending",
    "queued": "pending",
    "processing": "processing",
    "running": "processing",
    "completed": "completed",
    "success": "completed",
    "succeeded": "completed",
    "failed": "failed",
    "error": "failed",
    "generate_failed": "failed",
    "create_task_failed": "failed",
}

MAX_SOURCE_IMAGES = 16


def canonical_status(raw: str | None) -> CanonicalStatus | None:
    """Map any status spelling RunAPI's SDKs know to the canonical four; None for an unknown one."""
    if raw is None:
        return None
    return _STATUS_ALIASES.get(raw.strip().lower())


# defer_build: each model's validator is built on its first use, not at import. A host starts the server for
# every session, and its first answer (tools/list) uses none of them.
class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    model: Literal["gpt-image-2"] = MODEL_ID
    prompt: str = Field(min_length=1)
    aspect_ratio: AspectRatio | None = None
    output_resolution: OutputResolution | None = None
    callback_url: str | None = None

    def body(self) -> dict[str, Any]:
        """The JSON body RunAPI expects: unset optional fields are left out, not sent as null."""
        return self.model_dump(exclude_none=True)


class TextToImageRequest(_Request):
    pass


class EditImageRequest(_Request):
    source_image_urls: list[str] = Field(min_length=1, max_length=MAX_SOURCE_IMAGES)


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)


class TaskImage(_Response):
    url: str


class Usage(_Response):
    cost: float | None = None
    generated_images: int | None = None


class CreatedTask(_Response):
    id: str
    status: str = "pending"
    task_replayed: bool = False


class TaskStatus(_Response):
    id: str
    status: str
    images: list[TaskImage] = Field(default_factory=list[TaskImage])
    error: str | None = None
    usage: Usage | None = None
    billing: dict[str, Any] | None = None
    # The status response's Retry-After, in seconds: RunAPI's hint for the next poll.
    _retry_after: float | None = PrivateAttr(default=None)

    @property
    def retry_after(self) -> float | None:
        return self._retry_after

    def with_retry_after(self, seconds: float | None) -> TaskStatus:
        self._retry_after = seconds
        return self

    @property
    def state(self) -> CanonicalStatus | None:
        return canonical_status(self.status)

    @property
    def is_terminal(self) -> bool:
        return self.state in ("completed", "failed")


class PriceSchedule(_Response):
    service: str
    action: str
    model: str | None = None
    pricing_status: str | None = None
    catalog_status: str | None = None
    currency: str = "USD"
    billing_unit: str | None = None
    billing_strategy: str | None = None
    unit_price_cents: float | None = None
    billing_config: dict[str, Any] | None = None


class PriceSchedules(_Response):
    as_of: str | None = None
    price_schedules: list[PriceSchedule] = Field(default_factory=list[PriceSchedule])
    # Set by the client: True when served from its short-lived cache without asking RunAPI (a 304
    # revalidation counts as asking), so callers can say whether a price is live or cached.
    _from_cache: bool = PrivateAttr(default=False)

    @property
    def from_cache(self) -> bool:
        return self._from_cache

    def with_from_cache(self, value: bool) -> PriceSchedules:
        self._from_cache = value
        return self


class Balance(_Response):
    balance_cents: float | None = None
    paid_balance_cents: float | None = None
    bonus_balance_cents: float | None = None
    spent_cents_today: float | None = None
    spent_cents_total: float | None = None


class Me(_Response):
    id: str | int | None = None  # the sandbox, like other RunAPI SDKs' fixtures, sends a number
    name: str | None = None
    email: str | None = None
    account: dict[str, Any] | None = None


class TempFile(_Response):
    """A temporary file RunAPI holds for us; its `url` is usable as an edit source until `expires_at`."""

    file_name: str | None = None
    url: str
    size_bytes: int | None = None
    mime_type: str | None = None
    created_at: str | None = None
    expires_at: str | None = None


class PreparedUpload(_Response):
    signed_id: str
    upload_url: str
    headers: dict[str, str] = Field(default_factory=dict[str, str])


# Browser login


class CliUser(_Response):
    email: str | None = None


class CliExchange(_Response):
    """What `POST /api/v1/cli/exchange` hands back for an approved browser login."""

    key: SecretStr = Field(min_length=1)
    name: str | None = None
    user: CliUser = Field(default_factory=CliUser)


# Prompt library


class LibraryPrompt(_Response):
    id: str | int
    title: str = ""
    prompt: str = ""  # tolerated when empty (one odd entry must not sink the page); callers skip those
    model: str | None = None
    service: str | None = None
    action: str | None = None
    modality: str | None = None
    category: str | None = None
    tags: list[str] = Field(default_factory=list[str])
    featured: bool = False


class PromptPagination(_Response):
    page: int = 1
    per_page: int = 20
    total: int = 0
    pages: int = 0


class PromptPage(_Response):
    prompts: list[LibraryPrompt] = Field(default_factory=list[LibraryPrompt])
    pagination: PromptPagination = Field(default_factory=PromptPagination)
