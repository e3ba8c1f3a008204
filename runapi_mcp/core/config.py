"""What the generation flow needs to know, and nothing else: the narrow view of the app's settings.

The app's `Settings` (transports, auth, logging, the sandbox) builds this with `Settings.core_config()`.
The bounds are declared here once and the app's settings use the same types, so a value core can hold is
exactly a value the settings accept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

MIB = 1024 * 1024
MIN_PREVIEW_SIDE = 64

# The error types the settings' messages know: a field's reason ("must be ...") and a whole-sentence rule.
FIELD_ERROR = "settings_field"
RULE_ERROR = "settings_rule"


def field_error(reason: str) -> PydanticCustomError:
    """A field's value is unusable; `reason` completes "NAME ...", e.g. "must be auto, off, or a size"."""
    return PydanticCustomError(FIELD_ERROR, "{reason}", {"reason": reason})


def rule_error(message: str) -> PydanticCustomError:
    """Two or more values do not fit together; `message` is the whole sentence, naming the variables."""
    return PydanticCustomError(RULE_ERROR, "{message}", {"message": message})


def _preview_side(side: int) -> int:
    if 0 < side < MIN_PREVIEW_SIDE:
        raise field_error(f"must be off or a size between {MIN_PREVIEW_SIDE} and 2048 pixels, not {side}")
    return side


WaitSeconds = Annotated[float, Field(ge=0, le=600, allow_inf_nan=False)]
TimeoutSeconds = Annotated[float, Field(ge=1, le=600, allow_inf_nan=False)]
PollInitialSeconds = Annotated[float, Field(ge=0.001, le=60, allow_inf_nan=False)]
PollMaxSeconds = Annotated[float, Field(ge=0.001, le=120, allow_inf_nan=False)]
# The least time between two reads of a task whatever Retry-After says (at most the schedule's own start).
PollFloorSeconds = Annotated[float, Field(ge=0.001, le=60, allow_inf_nan=False)]
ByteLimit = Annotated[int, Field(gt=0, le=1024 * MIB)]
# Spend limits in USD (None: no limit). A cap of 0 refuses every paid call.
UsdLimit = Annotated[float | None, Field(ge=0, le=1_000_000, allow_inf_nan=False)]
# 0 turns previews off; otherwise the longest side in pixels.
PreviewSide = Annotated[int, Field(ge=0, le=2048), AfterValidator(_preview_side)]


# Hosts whose tool-call timeout is known, by the name they send as MCP clientInfo, and a wait budget that
# finishes a typical 8-60 s task in one call with room for the download. Claude Code waits for a tool call
# far longer than any task takes; Codex cuts a call off at `tool_timeout_sec`, 60 s unless configured
# (`runapi-mcp init codex` and the plugin set 180, but a hand-written entry has 60), so it keeps 50.
DEFAULT_WAIT_SECONDS = 50.0  # under the common 60 s tool-call timeout, with room for the download
HOST_WAIT_SECONDS: dict[str, float] = {
    "claude-code": 110.0,
    "codex-mcp-client": 50.0,
}


def check_poll(initial: float, maximum: float) -> None:
    """The poll schedule starts at `initial` and backs off to `maximum`: a start past the cap has no schedule."""
    if initial > maximum:
        raise rule_error(
            f"RUNAPI_MCP_POLL_INITIAL_SECONDS ({initial:g}) must not be more than RUNAPI_MCP_POLL_MAX_SECONDS "
            f"({maximum:g}): polling starts at the first and backs off up to the second."
        )


class CoreConfig(BaseModel):
    """Folders, limits and timing for one generation flow; frozen, validated like the settings it comes from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str  # RunAPI's address: result downloads may come from its own host and port
    working_dir: Path
    allowed_roots: tuple[Path, ...] = ()
    output_dir: Path | None = None  # None: <working_dir>/runapi-images, with a per-user fallback
    fallback_output_dir: Path
    max_input_bytes: ByteLimit = 20 * MIB
    max_download_bytes: ByteLimit = 64 * MIB
    wait_seconds: WaitSeconds = DEFAULT_WAIT_SECONDS
    request_timeout: TimeoutSeconds = 30.0
    poll_initial_seconds: PollInitialSeconds = 3.0
    poll_max_seconds: PollMaxSeconds = 3.0
    poll_floor_seconds: PollFloorSeconds = 0.5
    host_wait_seconds: tuple[tuple[str, WaitSeconds], ...] = ()  # over HOST_WAIT_SECONDS
    public_url: str | None = None  # where RunAPI sends callbacks; None: poll only
    preview_max_side: PreviewSide = 512
    max_cost_per_call: UsdLimit = None
    daily_budget: UsdLimit = None
    confirm_above: UsdLimit = None
    # A journal shared by replicas (RUNAPI_MCP_DATABASE_URL): results carry URLs and resources, not paths.
    hosted: bool = False
    # Per-owner retention of finished tasks and their stored images; None keeps them.
    retention_days: Annotated[float | None, Field(gt=0, le=36500, allow_inf_nan=False)] = None
    max_tasks_per_owner: Annotated[int | None, Field(ge=1, le=10_000_000)] = None

    @property
    def roots(self) -> tuple[Path, ...]:
        """Folders tool inputs and outputs may touch: the working directory plus configured ones."""
        return (self.working_dir, *self.allowed_roots)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        check_poll(self.poll_initial_seconds, self.poll_max_seconds)
        return self

    def wait_budget(self, host: str | None) -> float:
        """The wait budget for a call from `host` (its MCP clientInfo name): the host's own when one is known,
        else RUNAPI_MCP_WAIT_SECONDS."""
        if host is None:
            return self.wait_seconds
        budgets = {**HOST_WAIT_SECONDS, **dict(self.host_wait_seconds)}
        return budgets.get(host.strip().lower(), self.wait_seconds)
