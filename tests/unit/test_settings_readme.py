"""README's settings table and first commands match the code: every variable the settings read has a row,
and the first commands are the two set-up commands a fresh checkout runs."""

from __future__ import annotations

import re
from pathlib import Path

from runapi_mcp.settings.names import KEY_VAR, VARIABLES

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_settings_variable_has_a_row_in_the_readme_and_every_row_is_read() -> None:
    table = README[README.index("## Settings\n") : README.index("## Commands\n")]
    rows = set(re.findall(r"^\| `([A-Z_]+)` \|", table, flags=re.MULTILINE))
    assert rows == {*VARIABLES, KEY_VAR}


def test_the_readme_leads_with_the_two_set_up_commands_that_work_from_a_checkout() -> None:
    first_block = README.split("```bash\n", 1)[1].split("```", 1)[0]
    lines = [line.split("#", 1)[0].strip() for line in first_block.strip().splitlines()]
    assert lines[0].startswith("python3 -m venv .venv && . .venv/bin/activate && pip install -e")
    assert lines[0].endswith("runapi-mcp demo") and lines[1] == "python -m pytest"
    assert "uvx" not in first_block  # the published package is not needed to start
    assert "Python 3.11 or newer" in README[: README.index(first_block)]
