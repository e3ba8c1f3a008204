"""The ledger tests run on both engines: a SQLite file, and a database on a real PostgreSQL server."""

from __future__ import annotations

from tests.postgres_server import postgres_server, postgres_url  # noqa: F401 - fixtures used by this folder
