from __future__ import annotations

from pathlib import Path

import pytest

from tests.gallery.helpers import MadeJournal, make_journal


@pytest.fixture
async def made(tmp_path: Path) -> MadeJournal:
    return await make_journal(tmp_path)
