"""RunAPI's shared config file (`~/.config/runapi/config.json`): read it, and change the key atomically.

Writes follow RunAPI's own tools: folder 0700, a 0600 temporary file in the same folder, then a rename,
so a reader never sees half a file and the key is never readable by other users, not even for a moment.
Fields this package does not own (`base_url`, whatever RunAPI's tools add) are kept as they are.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, cast

from pydantic import SecretStr

from runapi_mcp.login.errors import ConfigFileError

KEY_FIELD = "api_key"
LEGACY_KEY_FIELD = "apiKey"


def read_config(path: Path) -> dict[str, Any]:
    """The file's JSON object; {} when there is no file."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigFileError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    try:
        data: Any = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError:
        raise ConfigFileError(f"{path} is not valid JSON; fix or delete it, then try again.") from None
    if not isinstance(data, dict):
        raise ConfigFileError(f'{path} must hold a JSON object such as {{"api_key": "..."}}; fix or delete it.')
    return cast(dict[str, Any], data)


def key_in(config: dict[str, Any]) -> tuple[str | None, str | None]:
    """The key and the field it is in; `api_key` wins over the legacy `apiKey`, as in Settings."""
    for name in (KEY_FIELD, LEGACY_KEY_FIELD):
        value = config.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip(), name
    return None, None


def save_api_key(path: Path, key: SecretStr) -> None:
    config = read_config(path)
    config.pop(LEGACY_KEY_FIELD, None)
    config[KEY_FIELD] = key.get_secret_value()
    write_config(path, config)


def remove_api_key(path: Path) -> bool:
    """Drop both key fields; False when there was none to drop (the file is then left alone)."""
    config = read_config(path)
    if KEY_FIELD not in config and LEGACY_KEY_FIELD not in config:
        return False
    config.pop(KEY_FIELD, None)
    config.pop(LEGACY_KEY_FIELD, None)
    write_config(path, config)
    return True


def check_writable(path: Path) -> None:
    """Fail now, before the user approves anything in the browser, if the key could not be saved."""
    folder = _private_folder(path)
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigFileError(_cannot_write(folder, exc)) from None
    read_config(path)  # a file we could not update without losing what is in it


def write_config(path: Path, config: dict[str, Any]) -> None:
    folder = _private_folder(path)
    temp: str | None = None
    try:
        fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(config, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
        temp = None
        _sync_folder(folder)
    except OSError as exc:
        raise ConfigFileError(_cannot_write(folder, exc)) from None
    finally:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)


def _private_folder(path: Path) -> Path:
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if folder.stat().st_uid == os.getuid():
            folder.chmod(0o700)  # an existing folder may be wider; it is about to hold a secret
    except OSError as exc:
        raise ConfigFileError(_cannot_write(folder, exc)) from None
    return folder


def _sync_folder(folder: Path) -> None:
    # Makes the rename itself durable; not every platform lets a folder be opened for this.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _cannot_write(folder: Path, exc: OSError) -> str:
    why = exc.strerror or type(exc).__name__
    return (
        f"Cannot write the RunAPI config file in {folder} ({why}). Make the folder writable, "
        "or point XDG_CONFIG_HOME at a folder you can write."
    )
