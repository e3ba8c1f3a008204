"""The o200k_base tokenizer (GPT-4o and later), from the ranks file the npm package js-tiktoken ships.

tiktoken itself would download the ranks on first use; js-tiktoken carries them in its package, and
.ci/run installs it into .ci/npm. The file holds lines of `<marker> <first rank> <base64 token>...`,
consecutive ranks per line. Images are not text: `image_tokens` gives Anthropic's published estimate
(width x height / 750) for a preview, which is what Claude bills.
"""

from __future__ import annotations

import base64
import json
import os
from functools import cache
from pathlib import Path

import tiktoken

REPO = Path(__file__).resolve().parent.parent
RANKS_IN_PACKAGE = Path("js-tiktoken") / "dist" / "ranks" / "o200k_base.cjs"


class RanksNotFound(RuntimeError):
    pass


def ranks_file() -> Path:
    """js-tiktoken's o200k_base ranks: beside RUNAPI_MCP_TEST_NPM_BIN's node_modules, or in .ci/npm."""
    candidates: list[Path] = []
    if bin_dir := os.environ.get("RUNAPI_MCP_TEST_NPM_BIN"):
        candidates.append(Path(bin_dir).parent / RANKS_IN_PACKAGE)
    candidates.append(REPO / ".ci" / "npm" / "node_modules" / RANKS_IN_PACKAGE)
    for path in candidates:
        if path.is_file():
            return path
    raise RanksNotFound(
        "o200k_base ranks not found: install js-tiktoken (`npm install js-tiktoken` in .ci/npm, as .ci/run does) "
        "or set RUNAPI_MCP_TEST_NPM_BIN to its node_modules/.bin."
    )


@cache
def encoding() -> tiktoken.Encoding:
    source = ranks_file().read_text(encoding="utf-8")
    data = json.loads(source[source.index("{") : source.rindex("}") + 1])
    ranks: dict[bytes, int] = {}
    for line in data["bpe_ranks"].split("\n"):
        if not line:
            continue
        _, first, *tokens = line.split(" ")
        start = int(first)
        for offset, token in enumerate(tokens):
            ranks[base64.b64decode(token)] = start + offset
    return tiktoken.Encoding(
        name="o200k_base", pat_str=data["pat_str"], mergeable_ranks=ranks, special_tokens=data["special_tokens"]
    )


def count(text: str) -> int:
    return len(encoding().encode(text, disallowed_special=()))


def image_tokens(width: int, height: int) -> int:
    return round(width * height / 750)
