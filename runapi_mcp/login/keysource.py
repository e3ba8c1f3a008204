"""Notice when the shared config file's key changes, so a running server uses a key saved after it started.

One `stat` per check: the file is re-read only when its size, mtime or inode differ from the last read
(an atomic rename changes the inode even when size and mtime look the same).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from runapi_mcp.login.config_file import key_in, read_config
from runapi_mcp.login.errors import ConfigFileError
from runapi_mcp.settings import Settings

log = logging.getLogger(__name__)

_Signature = tuple[int, int, int] | None
_UNREAD = (-1, -1, -1)


@dataclass(frozen=True)
class KeyChange:
    api_key: SecretStr | None
    source: str | None  # where the key came from, for messages: never the key


class KeyWatcher:
    def __init__(self, config_file: Path) -> None:
        self._path = config_file
        self._seen: _Signature = _UNREAD  # the first poll reads the file, whatever Settings saw before

    @classmethod
    def for_settings(cls, settings: Settings) -> KeyWatcher | None:
        """A watcher when the key can come from the file: not set in the environment, not per request."""
        from_env = settings.api_key is not None and not (settings.api_key_source or "").startswith("config file")
        if settings.sandbox or settings.http_auth == "per-request" or from_env:
            return None
        return cls(settings.config_file)

    def _signature(self) -> _Signature:
        try:
            st = os.stat(self._path)
        except OSError:
            return None
        return (st.st_size, st.st_mtime_ns, st.st_ino)

    def poll(self) -> KeyChange | None:
        """The file's key when the file changed since the last poll (None inside when it holds none now)."""
        signature = self._signature()
        if signature == self._seen:
            return None
        self._seen = signature
        try:
            key, field = key_in(read_config(self._path)) if signature is not None else (None, None)
        except ConfigFileError as exc:
            # Half-edited by hand, say: keep the key we have rather than drop it mid-session.
            log.warning("%s", exc)
            return None
        if key is None:
            return KeyChange(None, None)
        return KeyChange(SecretStr(key), f"config file {self._path} ({field})")
