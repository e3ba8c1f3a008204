"""The settings as one frozen, validated model: bounds on the fields, rules across them in one validator.

Every way of making settings goes through the same validation: `Settings.load` (environment, config
file, flags) and `Settings.replace` (a copy with some values changed). `model_copy(update=...)` skips
validation: use `replace`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError, model_validator

from runapi_mcp.core.config import (
    DEFAULT_WAIT_SECONDS,
    ByteLimit,
    CoreConfig,
    PollFloorSeconds,
    PollInitialSeconds,
    PollMaxSeconds,
    PreviewSide,
    TimeoutSeconds,
    UsdLimit,
    WaitSeconds,
    check_poll,
    rule_error,
)
from runapi_mcp.settings import values
from runapi_mcp.settings.loader import raw_values
from runapi_mcp.settings.messages import SettingsError, explain
from runapi_mcp.urls import is_loopback_host

DEFAULT_BASE_URL = "https://runapi.ai"

Transport = Literal["stdio", "http"]
HttpAuthMode = Literal["none", "per-request", "token"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

Flag = Annotated[bool, BeforeValidator(values.boolean)]
Folder = Annotated[Path, BeforeValidator(values.path)]
Megabytes = Annotated[ByteLimit, BeforeValidator(values.megabytes)]
Usd = Annotated[UsdLimit, BeforeValidator(values.usd)]


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr | None = None
    # Where the key came from, for `doctor` and error messages: never the key itself.
    api_key_source: str | None = None
    base_url: Annotated[str, BeforeValidator(values.base_url)] = DEFAULT_BASE_URL
    config_file: Path

    # Files
    working_dir: Path
    output_dir: Folder | None = None  # None: <working_dir>/runapi-images, with a per-user fallback
    fallback_output_dir: Path
    allowed_roots: Annotated[tuple[Path, ...], BeforeValidator(values.path_list)] = ()
    state_dir: Folder
    # postgresql://...: the task journal shared by every replica; unset: SQLite in state_dir.
    database_url: Annotated[SecretStr | None, BeforeValidator(values.database_url)] = None
    # Per-owner retention of finished tasks (and their stored images); unset keeps them (core/retention.py).
    retention_days: Annotated[float | None, Field(gt=0, le=36500, allow_inf_nan=False)] = None
    max_tasks_per_owner: Annotated[int | None, Field(ge=1, le=10_000_000)] = None
    max_input_bytes: Megabytes = 20 * 1024 * 1024
    max_download_bytes: Megabytes = 64 * 1024 * 1024

    # Waiting and the network
    wait_seconds: WaitSeconds = DEFAULT_WAIT_SECONDS
    request_timeout: TimeoutSeconds = 30.0
    max_retries: Annotated[int, Field(ge=0, le=10)] = 3
    # A steady 3 s poll reads 0.65x as often as RunAPI's SDK (2 s) and returns about 1.7 s after a task
    # finishes; backing off to 5 s would read less but wait 2.8 s (bench/RESULTS.md, section 3).
    poll_initial_seconds: PollInitialSeconds = 3.0
    poll_max_seconds: PollMaxSeconds = 3.0
    # No two reads of one task closer than this, whatever Retry-After says.
    poll_floor_seconds: PollFloorSeconds = 0.5
    # Wait budgets per host (clientInfo name), over the built-in ones (core/config.py HOST_WAIT_SECONDS).
    host_wait_seconds: Annotated[tuple[tuple[str, WaitSeconds], ...], BeforeValidator(values.host_waits)] = ()
    # Where RunAPI can reach this server (HTTP mode): creates carry callback_url = this + /callbacks/<token>.
    public_url: Annotated[str | None, BeforeValidator(values.public_url)] = None

    # Results
    preview_max_side: Annotated[PreviewSide, BeforeValidator(values.preview)] = 512  # 0 turns previews off
    # "auto": structuredContent only for clients that keep the text and image beside it (server/client_profile.py)
    structured_output: Annotated[bool | Literal["auto"], BeforeValidator(values.boolean_or_auto)] = "auto"

    # Spend limits in USD, per owner (each key in per-request mode); unset: no limit.
    max_cost_per_call: Usd = None
    daily_budget: Usd = None  # per UTC day, through this server (every process sharing its journal)
    confirm_above: Usd = None  # ask the user (form elicitation) before a call estimated above this

    # Transports
    transport: Transport = "stdio"
    http_host: Annotated[str, BeforeValidator(values.http_host)] = "127.0.0.1"
    http_port: Annotated[int, Field(ge=0, le=65535)] = 8000
    http_auth: HttpAuthMode = "none"
    http_token: SecretStr | None = None
    http_stateless: Flag = False
    http_allowed_hosts: Annotated[tuple[str, ...], BeforeValidator(values.allowed_hosts)] = ()
    http_allowed_origins: Annotated[tuple[str, ...], BeforeValidator(values.allowed_origins)] = ()
    # On SIGTERM, how long running calls may finish; None: the wait budget plus a margin (server/http.py).
    drain_seconds: Annotated[float | None, Field(ge=0, le=3600, allow_inf_nan=False)] = None
    # Shared by every replica: they seal MCP request state (server/request_state.py).
    state_keys: Annotated[tuple[SecretStr, ...], BeforeValidator(values.state_keys)] = ()

    # Serve against an in-process sandbox instead of RunAPI.
    sandbox: Flag = False
    sandbox_latency: Annotated[float, Field(ge=0, le=600, allow_inf_nan=False)] = 3.0

    log_level: Annotated[LogLevel, BeforeValidator(values.log_level)] = "INFO"

    @property
    def roots(self) -> tuple[Path, ...]:
        """Folders tool inputs and outputs may touch: the working directory plus configured ones."""
        return (self.working_dir, *self.allowed_roots)

    @property
    def hosted(self) -> bool:
        """HTTP replicas sharing a database: results carry URLs and resources, never a server path (core/hosted.py).
        Not the sandbox (its journal is its own SQLite file), nor stdio (its disk is the user's own)."""
        return self.database_url is not None and self.transport == "http" and not self.sandbox

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        check_poll(self.poll_initial_seconds, self.poll_max_seconds)
        if self.http_token is not None and not self.http_token.get_secret_value().strip():
            raise rule_error("RUNAPI_MCP_HTTP_TOKEN is empty; set a long random token or unset it.")
        if self.transport != "http":
            return self  # the HTTP settings only matter to an HTTP server
        if self.http_auth == "token" and self.http_token is None:
            raise rule_error(
                "RUNAPI_MCP_HTTP_AUTH=token needs RUNAPI_MCP_HTTP_TOKEN (the token every client must send)."
            )
        if self.http_auth == "none" and not is_loopback_host(self.http_host):
            raise rule_error(
                f"Refusing to serve on {self.http_host} without auth. Set RUNAPI_MCP_HTTP_AUTH=per-request (each "
                "client sends its own RunAPI key) or RUNAPI_MCP_HTTP_AUTH=token with RUNAPI_MCP_HTTP_TOKEN, or "
                "bind to 127.0.0.1."
            )
        return self

    @classmethod
    def validated(cls, data: dict[str, Any], origins: dict[str, str] | None = None) -> Settings:
        """Validate once; any problem becomes one SettingsError line naming where the value came from."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SettingsError(explain(exc, cls.model_fields, origins or {})) from None

    def replace(self, **changes: Any) -> Settings:
        """A copy with `changes`, validated like a fresh load (unlike `model_copy(update=...)`)."""
        current = {name: getattr(self, name) for name in type(self).model_fields}
        return self.validated({**current, **changes})

    def core_config(self) -> CoreConfig:
        """The part of the settings the generation flow reads."""
        return CoreConfig(
            base_url=self.base_url,
            working_dir=self.working_dir,
            allowed_roots=self.allowed_roots,
            output_dir=self.output_dir,
            fallback_output_dir=self.fallback_output_dir,
            max_input_bytes=self.max_input_bytes,
            max_download_bytes=self.max_download_bytes,
            wait_seconds=self.wait_seconds,
            request_timeout=self.request_timeout,
            poll_initial_seconds=self.poll_initial_seconds,
            poll_max_seconds=self.poll_max_seconds,
            poll_floor_seconds=self.poll_floor_seconds,
            host_wait_seconds=self.host_wait_seconds,
            public_url=self.public_url,
            preview_max_side=self.preview_max_side,
            max_cost_per_call=self.max_cost_per_call,
            daily_budget=self.daily_budget,
            confirm_above=self.confirm_above,
            hosted=self.hosted,
            retention_days=self.retention_days,
            max_tasks_per_owner=self.max_tasks_per_owner,
        )

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from `env` (default: the process environment), the config file, and `overrides` by field
        name (the serve command's flags; None means not given)."""
        data, origins = raw_values(env, overrides)
        return cls.validated(data, origins)
