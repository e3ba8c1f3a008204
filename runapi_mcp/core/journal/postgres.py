"""The journal in a PostgreSQL database, shared by every replica of a hosted server (psycopg 3, async).

A small pool of autocommit connections: each statement is its own transaction unless the journal asks for
one. The schema is created (or checked) on first use under an advisory lock, so replicas starting together
do not race. Needs the `postgres` extra: pip install "runapi-mcp[postgres]".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, LiteralString, cast

import anyio

from runapi_mcp.core.errors import JournalError
from runapi_mcp.core.journal import migrations
from runapi_mcp.core.journal.engine import Conflict, Result, Statement

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

DATABASE_URL_SETTING = "RUNAPI_MCP_DATABASE_URL"
# Any constant: replicas take this lock while one of them creates the schema.
_SCHEMA_LOCK = 0x72756E617069  # "runapi"
_PLACEHOLDER = re.compile(r"\?")


class PostgresEngine:
    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 4, timeout: float = 10.0) -> None:
        try:
            from psycopg.conninfo import conninfo_to_dict
            from psycopg_pool import AsyncConnectionPool
        except ImportError:
            raise JournalError(
                f"{DATABASE_URL_SETTING} names a PostgreSQL database, but psycopg is not installed. "
                'Install it with: pip install "runapi-mcp[postgres]".'
            ) from None
        try:
            parts = conninfo_to_dict(url)
        except Exception:
            raise JournalError(
                f"{DATABASE_URL_SETTING} is not a valid PostgreSQL URL; use postgresql://user:password@host/db."
            ) from None
        # For messages: where the database is, never who logs in with what.
        host, port, name = parts.get("host") or "localhost", parts.get("port") or 5432, parts.get("dbname") or ""
        self._where = f"postgresql://{host}:{port}/{name}"
        self._url = url  # for a listening connection of its own (notify.py); never shown
        self._pool: AsyncConnectionPool[AsyncConnection] = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            open=False,
            kwargs={"autocommit": True},
        )
        self._timeout = timeout
        self._sql: dict[str, str] = {}
        self._ready = False
        self._closed = False
        self._opening = anyio.Lock()

    @property
    def location(self) -> str:
        return self._where

    async def run(self, statements: Sequence[Statement], *, transaction: bool = False) -> list[Result]:
        import psycopg
        from psycopg_pool import PoolTimeout

        await self._open()
        try:
            async with self._pool.connection() as conn:
                if not transaction:
                    return [await self._execute(conn, s) for s in statements]
                async with conn.transaction():
                    return [await self._execute(conn, s) for s in statements]
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict(str(exc)) from None
        except (psycopg.Error, PoolTimeout) as exc:
            raise self._error(exc) from None

    @property
    def connect_url(self) -> str:
        return self._url

    async def close(self) -> None:
        self._closed = True
        await self._pool.close()

    async def _execute(self, conn: AsyncConnection, statement: Statement) -> Result:
        sql = self._sql.get(statement.sql)
        if sql is None:
            sql = self._sql[statement.sql] = _PLACEHOLDER.sub("%s", statement.sql)
        # The journal's own statements with placeholders: no caller input is ever part of the SQL text.
        cursor = await conn.execute(cast(LiteralString, sql), statement.args)
        rows = await cursor.fetchall() if cursor.description is not None else []
        return Result(cursor.rowcount, list(rows))

    async def _open(self) -> None:
        if self._ready:
            return
        import psycopg
        from psycopg_pool import PoolTimeout

        async with self._opening:
            if self._ready:
                return
            if self._closed:
                raise JournalError(f"The task journal {self._where} is closed.")
            try:
                await self._pool.open()  # the pool keeps trying in the background; a later call may find it up
                await self._pool.wait(timeout=self._timeout)
                async with self._pool.connection() as conn, conn.transaction():
                    await self._migrate(conn)
            except (psycopg.Error, PoolTimeout) as exc:
                raise self._error(exc) from None
            self._ready = True

    async def _migrate(self, conn: AsyncConnection) -> None:
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        await conn.execute("CREATE TABLE IF NOT EXISTS runapi_mcp_schema (version INTEGER NOT NULL)")
        found = await (await conn.execute("SELECT version FROM runapi_mcp_schema")).fetchone()
        version = 0 if found is None else int(found[0])
        if version > migrations.SCHEMA_VERSION:
            raise JournalError(
                f"The task journal {self._where} was written by a newer runapi-mcp (schema {version}). "
                "Upgrade runapi-mcp on every replica."
            )
        if version == 0:
            for statement in (migrations.POSTGRES_TABLE, *migrations.INDEXES):
                await conn.execute(cast(LiteralString, statement))  # this module's own DDL, no input in it
            await conn.execute("INSERT INTO runapi_mcp_schema (version) VALUES (%s)", (migrations.SCHEMA_VERSION,))
        if version < 3:
            for statement in migrations.POSTGRES_V3:
                await conn.execute(cast(LiteralString, statement))
        if version < 4:
            for statement in migrations.POSTGRES_V4:
                await conn.execute(cast(LiteralString, statement))
            await conn.execute("UPDATE runapi_mcp_schema SET version = %s", (migrations.SCHEMA_VERSION,))

    def _error(self, exc: Exception) -> JournalError:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return JournalError(
            f"The task journal {self._where} cannot be used: {reason}. "
            f"Check the database is up and {DATABASE_URL_SETTING} is right."
        )
