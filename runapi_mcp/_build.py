"""The build backend: setuptools, behind a check that the Python installing runapi-mcp can run it.

Without it, `pip install -e .` on an older Python ends in a resolution error about a dependency (every
release of httpx2 needs 3.11 too) instead of saying what is wrong. pyproject.toml names this module as its
backend (`backend-path = ["."]`), so it must stay importable on older Pythons.
"""

from __future__ import annotations

import sys

from runapi_mcp.cli import python_problem

if problem := python_problem(tuple(sys.version_info[:3])):
    raise SystemExit(problem)

# The hooks pip calls, unchanged.
from setuptools.build_meta import (
    build_editable,
    build_sdist,
    build_wheel,
    get_requires_for_build_editable,
    get_requires_for_build_sdist,
    get_requires_for_build_wheel,
    prepare_metadata_for_build_editable,
    prepare_metadata_for_build_wheel,
)

__all__ = [
    "build_editable",
    "build_sdist",
    "build_wheel",
    "get_requires_for_build_editable",
    "get_requires_for_build_sdist",
    "get_requires_for_build_wheel",
    "prepare_metadata_for_build_editable",
    "prepare_metadata_for_build_wheel",
]
