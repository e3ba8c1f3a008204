"""Gather the settings' raw values: flags > environment > RunAPI's shared config file > defaults.

This is the only place that reads the environment. It parses nothing: text goes to the model as text, so
every value, whatever its source, meets the same validation once, and each value remembers where it came
from for the error message.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from runapi_mcp.settings.messages import SettingsError
from runapi_mcp.settings.names import FLAGS, KEY_VAR, VARIABLES


def raw_values(env: Mapping[str, str] | None, overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(values by field, where each came from). An empty variable counts as unset; a None override too."""
    env = os.environ if env is None else env
    config_file = config_path(env)
    file_values = _read_config_file(config_file)
    values: dict[str, Any] = {"config_file": config_file}
    origins: dict[str, str] = {}

    key, source = _api_key(env, file_values, config_file)
    if key:
        values["api_key"] = key
        values["api_key_source"] = source
    for name in ("base_url", "baseUrl"):
        if isinstance(file_values.get(name), str) and file_values[name].strip():
            values["base_url"] = file_values[name]
            origins["base_url"] = f"{name} in {config_file}"
            break

    rest = dict(overrides)
    values["working_dir"] = Path(rest.pop("working_dir", None) or os.getcwd())
    values["state_dir"] = _platform_dir("state")
    values["fallback_output_dir"] = Path(_platform_dir("pictures"))
    for name, field in VARIABLES.items():
        raw = env.get(name)
        if raw is not None and raw.strip():
            values[field] = raw
            origins[field] = name
    for field, value in rest.items():
        if value is not None:
            values[field] = value
            origins[field] = FLAGS.get(field, field)
    return values, origins


def config_path(env: Mapping[str, str]) -> Path:
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
        raise SettingsError(f'{path} must hold a JSON object such as {{"api_key": "..."}}.')
    return {str(k): v for k, v in data.items()}  # type: ignore[misc]


def _api_key(env: Mapping[str, str], file_values: dict[str, Any], config_file: Path) -> tuple[str | None, str]:
    if key := env.get(KEY_VAR, "").strip():
        return key, f"environment variable {KEY_VAR}"
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
