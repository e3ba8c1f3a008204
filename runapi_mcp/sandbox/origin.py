"""Where a request arrived, so the sandbox can recognise its own URLs among edit sources."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    base_url: str
    host: str
    port: int
