"""A real PostgreSQL server for tests: initdb in a temp folder, listening on 127.0.0.1 only, stopped and removed after.

Import the fixtures into a conftest (`from tests.postgres_server import postgres_server, postgres_url`):
`postgres_server` is one server for the session; `postgres_url` is a fresh, empty database on it per test.
initdb refuses to run as root, so as root the server runs as the `postgres` system user that Debian's
package creates (or one made here). CI installs the package (.ci/run); elsewhere a missing PostgreSQL skips.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

SERVER_USER = "postgres"
START_ATTEMPTS = 5


def pg_bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, or Debian's versioned folder."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    return versions[-1].parent if versions else None


class PostgresServer:
    def __init__(self, bin_dir: Path) -> None:
        self._bin = bin_dir
        self._user = _server_user() if os.geteuid() == 0 else None
        # Not under pytest's tmp folder: that is private to the test user, and the server may run as another.
        self.root = Path(tempfile.mkdtemp(prefix="runapi-mcp-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._names = itertools.count()

    def start(self) -> None:
        if self._user is not None:
            shutil.chown(self.root, self._user)
        self._as_server(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )
        for _ in range(START_ATTEMPTS):
            self.port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
                # A test database: durability across a power cut buys nothing here, and fsyncs cost seconds.
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            done = self._as_server(
                "pg_ctl",
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                options,
                "-w",
                "-t",
                "30",
                "start",
                check=False,
            )
            if done.returncode == 0:
                return
            # Another process may have taken the port between our probe and the server's bind: try another.
        raise RuntimeError(f"PostgreSQL did not start: {self.log.read_text(errors='replace')[-2000:]}")

    def stop(self) -> None:
        if self.data.exists():
            self._as_server("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        name = f"test_{os.getpid()}_{next(self._names)}_{uuid.uuid4().hex[:6]}"
        self._as_server(
            "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-q", "-c", f"CREATE DATABASE {name}"
        )
        return self.url(name)

    def _as_server(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self._bin / tool), *args]
        if self._user is not None:
            command = ["runuser", "-u", self._user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=self.root, check=False)
        if check and done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
        return done


def _server_user() -> str:
    """The unprivileged user the server runs as when the tests run as root."""
    found = subprocess.run(["id", "-u", SERVER_USER], capture_output=True, check=False)
    if found.returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", SERVER_USER], check=True, capture_output=True)
    return SERVER_USER


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        if os.environ.get("CI"):
            raise RuntimeError("PostgreSQL is not installed; .ci/run installs Debian's postgresql package.")
        pytest.skip("PostgreSQL's server binaries (initdb, pg_ctl) are not installed; apt-get install postgresql")
    server = PostgresServer(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database()
