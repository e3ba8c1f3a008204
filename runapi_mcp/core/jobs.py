"""What a generate or edit call asks for, checked before anything is sent, and where it may read and write."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

from runapi_mcp.core.errors import InputError
from runapi_mcp.runapi.models import Action

# Resellers quote 20,000 characters as GPT Image 2's prompt limit; RunAPI publishes none.
MAX_PROMPT_CHARS = 20_000
# RunAPI allows 512; count > 1 appends "#n" to the key.
MAX_KEY_CHARS = 500
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Letters, digits, punctuation and symbols show; format characters (zero-width spaces, joiners, direction
# marks), separators, lone combining marks and unassigned code points do not.
_VISIBLE_CATEGORIES = ("L", "N", "P", "S")
# Code points in a visible category that still render as nothing (Hangul fillers, the blank Braille cell).
_BLANK_LOOKALIKES = frozenset("\u115f\u1160\u3164\uffa0\u2800")


@dataclass(frozen=True)
class ImageJob:
    action: Action
    prompt: str
    aspect_ratio: str | None = None
    output_resolution: str | None = None
    count: int = 1
    images: tuple[str, ...] = ()
    wait: bool = True
    output_dir: str | None = None
    idempotency_key: str | None = None

    def __post_init__(self) -> None:
        # Checked here rather than in the tool schema: the schema's every byte costs tokens in every session.
        if len(self.prompt) > MAX_PROMPT_CHARS:
            raise InputError(f"prompt is {len(self.prompt)} characters; the limit is {MAX_PROMPT_CHARS}. Shorten it.")
        if not has_visible_text(self.prompt):
            # Checked before anything is billed: RunAPI would charge for a prompt of zero-width spaces.
            raise InputError("prompt is empty or only invisible characters; describe the image you want.")
        if control := _CONTROL_CHARS.search(self.prompt):
            # Tabs and line breaks are text; NUL, escape sequences and the like are not a description.
            raise InputError(f"prompt contains a control character (U+{ord(control.group()):04X}); remove it.")
        key = self.idempotency_key
        if key is not None and not (1 <= len(key) <= MAX_KEY_CHARS and key.isprintable() and key.isascii()):
            raise InputError(
                f"idempotency_key must be 1 to {MAX_KEY_CHARS} printable ASCII characters; leave it out to get one."
            )


def has_visible_text(text: str) -> bool:
    return any(unicodedata.category(ch)[0] in _VISIBLE_CATEGORIES and ch not in _BLANK_LOOKALIKES for ch in text)


def owner_id(api_key: str) -> str:
    """A stable, non-reversible tenant id for a key: the journal never holds the key itself."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]
