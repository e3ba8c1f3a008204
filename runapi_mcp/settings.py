"""One frozen settings object, built from the environment and RunAPI's shared config file.

This is the only module that reads the environment. Precedence: explicit overrides (CLI flags) >
environment > config file > defaults.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr

DEFAULT_BASE_URL = "https://runapi.ai"

Transport = Literal["stdio", "http"]
HttpAuthMode = Literal["none", "per-request", "token"]


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the variable and what it accepts."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    api_key: SecretStr | None = None
    # Where the key came from, for `doctor` and error messages: never the key itself.
    api_key_source: str | None = None
    base_url: str = DEFAULT_BASE_URL
    config_file: Path

    # Files
    working_dir: Path
    output_dir: Path | None = None  # None: <working_dir>/runapi-images, with a per-user fallback
    fallback_output_dir: Path
    allowed_roots: tuple[Path, ...] = ()
    state_dir: Path
    max_input_bytes: int = 20 * 1024 * 1024
    max_download_bytes: int = 64 * 1024 * 1024

    # Waiting and the network
    wait_seconds: float = 50.0
    request_timeout: float = 30.0
    max_retries: int = 3
    # A steady 3 s poll reads 0.65x as often as RunAPI's SDK (2 s) and returns about 1.7 s after a task
    # finishes; backing off to 5 s would read less but wait 2.8 s (bench/RESULTS.md, section 3).
    poll_initial_seconds: float = 3.0
    poll_max_seconds: float = 3.0

    # Results
    preview_max_side: int = 512  # 0 turns previews off
    # "auto": structuredContent only for clients that keep the text and image beside it (server/client_profile.py)
    structured_output: bool | Literal["auto"] = "auto"

    # Transports
    transport: Transport = "stdio"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http_auth: HttpAuthMode = "none"
    http_token: SecretStr | None = None
    http_stateless: bool = False
    http_allowed_hosts: tuple[str, ...] = ()
    http_allowed_origins: tuple[str, ...] = ()

    # Serve against an in-process sandbox instead of RunAPI.
    sandbox: bool = False
    sandbox_latency: float = 3.0

    log_level: str = "INFO"

    @property
    def roots(self) -> tuple[Path, ...]:
        """Folders tool inputs and outputs may touch: the working directory plus configured ones."""
        return (self.working_dir, *self.allowed_roots)

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env
        config_file = _config_path(env)
        file_values = _read_config_file(config_file)
        values: dict[str, Any] = {"config_file": config_file}

        key, source = _api_key(env, file_values, config_file)
        if key:
            values["api_key"] = SecretStr(key)
            values["api_key_source"] = source
        base_url = env.get("RUNAPI_BASE_URL") or file_values.get("base_url") or file_values.get("baseUrl")
        if base_url:
            values["base_url"] = str(base_url).rstrip("/")

        values["working_dir"] = Path(overrides.pop("working_dir", None) or os.getcwd())
        values["state_dir"] = Path(env.get("RUNAPI_MCP_STATE_DIR") or _platform_dir("state"))
        values["fallback_output_dir"] = Path(_platform_dir("pictures"))
        if out := env.get("RUNAPI_MCP_OUTPUT_DIR"):
            values["output_dir"] = Path(out).expanduser()
        if roots := env.get("RUNAPI_MCP_ALLOWED_ROOTS"):
            values["allowed_roots"] = tuple(
                Path(p).expanduser().resolve() for p in roots.split(os.pathsep) if p.strip()
            )

        _number(values, env, "RUNAPI_MCP_WAIT_SECONDS", "wait_seconds", float, 0, 600)
        _number(values, env, "RUNAPI_MCP_TIMEOUT", "request_timeout", float, 1, 600)
        _number(values, env, "RUNAPI_MCP_MAX_RETRIES", "max_retries", int, 0, 10)
        _number(values, env, "RUNAPI_MCP_POLL_INITIAL_SECONDS", "poll_initial_seconds", float, 0.001, 60)
        _number(values, env, "RUNAPI_MCP_POLL_MAX_SECONDS", "poll_max_seconds", float, 0.001, 120)
        _megabytes(values, env, "RUNAPI_MCP_MAX_INPUT_MB", "max_input_bytes")
        _megabytes(values, env, "RUNAPI_MCP_MAX_DOWNLOAD_MB", "max_download_bytes")

        if (preview := env.get("RUNAPI_MCP_PREVIEW")) is not None:
            values["preview_max_side"] = parse_preview(preview)
        if (structured := env.get("RUNAPI_MCP_STRUCTURED_OUTPUT")) is not None:
            auto = structured.strip().lower() == "auto"
            values["structured_output"] = "auto" if auto else _boolean("RUNAPI_MCP_STRUCTURED_OUTPUT", structured)

        if host := env.get("RUNAPI_MCP_HOST"):
            values["http_host"] = host
        _number(values, env, "RUNAPI_MCP_PORT", "http_port", int, 0, 65535)
        if auth := env.get("RUNAPI_MCP_HTTP_AUTH"):
            if auth not in ("none", "per-request", "token"):
                raise SettingsError("RUNAPI_MCP_HTTP_AUTH must be one of: none, per-request, token.")
            values["http_auth"] = auth
        if token := env.get("RUNAPI_MCP_HTTP_TOKEN"):
            values["http_token"] = SecretStr(token)
        if (stateless := env.get("RUNAPI_MCP_STATELESS")) is not None:
            values["http_stateless"] = _boolean("RUNAPI_MCP_STATELESS", stateless)
        if hosts := env.get("RUNAPI_MCP_ALLOWED_HOSTS"):
            values["http_allowed_hosts"] = tuple(h.strip() for h in hosts.split(",") if h.strip())
        if origins := env.get("RUNAPI_MCP_ALLOWED_ORIGINS"):
            values["http_allowed_origins"] = tuple(o.strip() for o in origins.split(",") if o.strip())
        if (sandbox := env.get("RUNAPI_MCP_SANDBOX")) is not None:
            values["sandbox"] = _boolean("RUNAPI_MCP_SANDBOX", sandbox)
        _number(values, env, "RUNAPI_MCP_SANDBOX_LATENCY", "sandbox_latency", float, 0, 600)
        if level := env.get("RUNAPI_MCP_LOG_LEVEL"):
            values["log_level"] = level.upper()

        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def parse_preview(value: str) -> int:
    """`auto` (512 px), `off` (0), or a longest side in pixels (64..2048)."""
    v = value.strip().lower()
    if v in ("auto", ""):
        return 512
    if v in ("off", "none", "0", "false"):
        return 0
    try:
        side = int(v.removesuffix("px"))
    except ValueError:
        raise SettingsError("RUNAPI_MCP_PREVIEW must be auto, off, or a size in pixels such as 384.") from None
    if not 64 <= side <= 2048:
        raise SettingsError("RUNAPI_MCP_PREVIEW size must be between 64 and 2048 pixels.")
    return side


def _config_path(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "runapi" / "config.json"


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    try:
        data: Any = json.loads(raw)
    except json.JSONDecodeError:
        raise SettingsError(f"{path} is not valid JSON; fix or delete it.") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path} must hold a JSON object such as {{\"api_key\": \"...\"}}.")
    return {str(k): v for k, v in data.items()}  # type: ignore[misc]


def _api_key(env: Mapping[str, str], file_values: dict[str, Any], config_file: Path) -> tuple[str | None, str]:
    if key := env.get("RUNAPI_API_KEY", "").strip():
        return key, "environment variable RUNAPI_API_KEY"
    for name in ("api_key", "apiKey"):
        value = file_values.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip(), f"config file {config_file} ({name})"
    return None, ""


def _platform_dir(kind: Literal["state", "pictures"]) -> str:
    import platformdirs

    if kind == "state":
        return platformdirs.user_state_dir("runapi-mcp", appauthor=False)
    return str(Path(platformdirs.user_pictures_dir()) / "runapi-mcp")


def _number(
    values: dict[str, Any], env: Mapping[str, str], name: str, field: str, kind: type, low: float, high: float
) -> None:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return
    try:
        number = kind(raw.strip())
    except ValueError:
        raise SettingsError(f"{name} must be a number between {low:g} and {high:g}, not {raw!r}.") from None
    if not low <= number <= high:
        raise SettingsError(f"{name} must be between {low:g} and {high:g}, not {raw!r}.")
    values[field] = number


def _megabytes(values: dict[str, Any], env: Mapping[str, str], name: str, field: str) -> None:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return
    try:
        mb = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a size in megabytes, such as 20.") from None
    if not 0 < mb <= 1024:
        raise SettingsError(f"{name} must be between 0 and 1024 megabytes.")
    values[field] = int(mb * 1024 * 1024)


def _boolean(name: str, raw: str) -> bool:
    v = raw.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}.")
