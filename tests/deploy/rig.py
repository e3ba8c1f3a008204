"""The deployment rig: the RunAPI sandbox, server replicas and HAProxy, each a real process on loopback.

Every process is started with a bounded wait for it to come up and is stopped (then killed) on exit.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from runapi_mcp.install import deploy
from tests.integration.helpers import stop_process

REPO_ROOT = Path(__file__).resolve().parents[2]
HAPROXY_EXAMPLE = REPO_ROOT / "manifests" / "haproxy" / "haproxy.cfg"
START_TIMEOUT_SECONDS = 30.0
# Shared by every replica of a rig, as RUNAPI_MCP_STATE_KEYS would be from the Secret.
STATE_KEYS = "deploy-rig-state-key-0123456789abcdef0123456789abcdef"
SERVED_BY_HEADER = "x-served-by"
_SANDBOX_URL = re.compile(rb"listening on (http://127\.0\.0\.1:\d+)")
_DOWNLOAD = re.compile(r'"GET (/files/[^ ?"]+)')


def haproxy_binary() -> str | None:
    found = shutil.which("haproxy")
    if found:
        return found
    return "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(ready: Any, process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            raise RuntimeError(f"{what} did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.05)


# -- the sandbox --------------------------------------------------------------------------------------


@dataclass
class Sandbox:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def ledger(self) -> dict[str, Any]:
        return httpx2.get(f"{self.url}/_sandbox/ledger", timeout=10).json()

    def downloads(self) -> Counter[str]:
        """GETs of each file URL, from the sandbox's access log."""
        return Counter(_DOWNLOAD.findall(self.log.read_text(errors="replace")))


@contextmanager
def sandbox_process(tmp_path: Path, *, latency: float) -> Iterator[Sandbox]:
    """`runapi-mcp sandbox` on a free port, with its access log (for download counts) in a file."""
    log = tmp_path / "sandbox.log"
    out = tmp_path / "sandbox.out"
    with open(log, "wb") as err, open(out, "wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runapi_mcp",
                "sandbox",
                "--port",
                "0",
                "--latency",
                str(latency),
                "--balance",
                "1000000",
                "--log-level",
                "info",
            ],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=err,
            env=_base_env(tmp_path / "sandbox-home"),
        )
    try:
        _wait_for(lambda: _SANDBOX_URL.search(out.read_bytes()), process, "the sandbox", log)
        found = _SANDBOX_URL.search(out.read_bytes())
        assert found is not None
        yield Sandbox(found.group(1).decode(), process, log)
    finally:
        stop_process(process)


# -- server replicas ----------------------------------------------------------------------------------


@dataclass
class Replica:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def readiness(self) -> tuple[int, dict[str, Any]]:
        response = httpx2.get(f"{self.url}/readyz", timeout=5)
        return response.status_code, response.json()

    def is_ready(self) -> bool:
        try:
            return self.readiness()[0] == 200
        except httpx2.TransportError:
            return False

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


def _base_env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}


def replica_env(folder: Path, sandbox_url: str, *, stateless: bool, **extra: str) -> dict[str, str]:
    """The shipped container settings (manifests' env), with its /data paths moved into `folder`."""
    env = _base_env(folder / "home")
    for name, value in deploy.HTTP_ENV.items():
        env[name] = str(folder) + value[len(deploy.DATA_DIR) :] if value.startswith(deploy.DATA_DIR) else value
    env["RUNAPI_MCP_STATELESS"] = "true" if stateless else "false"
    env.update(
        RUNAPI_BASE_URL=sandbox_url,
        RUNAPI_MCP_POLL_INITIAL_SECONDS="0.1",
        RUNAPI_MCP_POLL_MAX_SECONDS="0.2",
        RUNAPI_MCP_LOG_LEVEL="INFO",
    )
    env.update(extra)
    return env


def separate_disks() -> bool:
    """Whether each replica can get a mount namespace of its own (root, and a kernel that allows it)."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        return False
    probe = subprocess.run([unshare, "-m", "--propagation", "private", "true"], capture_output=True, check=False)
    return probe.returncode == 0


def _on_its_own_disk(command: list[str], others: Sequence[Path]) -> list[str]:
    """`command` in a mount namespace where the other replicas' folders are empty: as on another machine."""
    mounts = "".join(f'mount -t tmpfs -o size=1m rig "{folder}" && ' for folder in others)
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", f'{mounts}exec "$@"', "sh", *command]


@contextmanager
def replica_processes(
    tmp_path: Path, names: Sequence[str], sandbox_url: str, *, stateless: bool = True, **extra: str
) -> Iterator[list[Replica]]:
    """`runapi-mcp --transport http [--stateless]` per name, all started before any is waited for.

    Where it can, each replica sees only its own folder (see `separate_disks`), as replicas on separate
    machines do: nothing one saves is on another's disk.
    """
    isolate = separate_disks()
    folders = [tmp_path / name for name in names]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        replicas: list[Replica] = []
        for name, folder in zip(names, folders, strict=True):
            port = free_port()
            log = folder / "server.log"
            args = [sys.executable, "-m", "runapi_mcp", "--transport", "http", "--port", str(port)]
            args = [*args, "--stateless"] if stateless else args
            if isolate:
                args = _on_its_own_disk(args, [f for f in folders if f != folder])
            with open(log, "wb") as sink:
                process = subprocess.Popen(
                    args,
                    env=replica_env(folder, sandbox_url, stateless=stateless, **extra),
                    cwd=folder,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=sink,
                )
            stack.callback(stop_process, process)
            replicas.append(Replica(name, port, process, log))
        for replica in replicas:
            _wait_for(replica.is_ready, replica.process, f"replica {replica.name}", replica.log)
        yield replicas


# -- HAProxy ------------------------------------------------------------------------------------------


@dataclass
class Balancer:
    urls: dict[str, str]
    """Base URL per frontend name of the example config (`mcp`, `mcp_sessions`)."""
    process: subprocess.Popen[bytes]
    config: Path


def render_haproxy(example: str, binds: dict[str, int], servers: dict[str, Sequence[Replica]]) -> str:
    """The example config with each frontend bound to a loopback port and each backend's servers replaced.

    The only other change: each backend names the replica that answered in a response header, so a test
    can tell which one it reached.
    """
    out: list[str] = []
    section: tuple[str, str] | None = None
    for line in example.splitlines():
        words = line.split()
        if words and not line[0].isspace():
            section = (words[0], words[1]) if len(words) > 1 else (words[0], "")
            out.append(line)
            if section[0] == "backend":
                out.append(f"    http-response set-header {SERVED_BY_HEADER} %[srv_name]")
                out.extend(f"    server {r.name} 127.0.0.1:{r.port}" for r in servers.get(section[1], ()))
            continue
        if section and section[0] == "frontend" and words[:1] == ["bind"]:
            out.append(f"    bind 127.0.0.1:{binds[section[1]]}")
        elif section and section[0] == "backend" and words[:1] == ["server"]:
            continue
        else:
            out.append(line)
    return "\n".join(out) + "\n"


@contextmanager
def haproxy_process(tmp_path: Path, servers: dict[str, Sequence[Replica]]) -> Iterator[Balancer]:
    binary = haproxy_binary()
    if binary is None:
        raise RuntimeError("haproxy is not installed (apt-get install -y haproxy; .ci/run does it)")
    frontends = re.findall(r"^frontend (\S+)", HAPROXY_EXAMPLE.read_text(), re.MULTILINE)
    binds = {name: free_port() for name in frontends}
    config = tmp_path / "haproxy.cfg"
    config.write_text(render_haproxy(HAPROXY_EXAMPLE.read_text(), binds, servers))
    log = tmp_path / "haproxy.log"
    checked = subprocess.run([binary, "-c", "-q", "-f", str(config)], capture_output=True, text=True, check=False)
    if checked.returncode != 0:
        raise RuntimeError(f"haproxy refused the config:\n{checked.stdout}{checked.stderr}")
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [binary, "-db", "-f", str(config)], stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        urls = {name: f"http://127.0.0.1:{port}" for name, port in binds.items()}
        _wait_for(lambda: all(_accepts(port) for port in binds.values()), process, "haproxy", log)
        yield Balancer(urls, process, config)
    finally:
        stop_process(process)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# -- MCP clients --------------------------------------------------------------------------------------


@dataclass
class Session:
    client: Client
    served_by: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])
    """(JSON-RPC method, replica) of each request that came through the balancer, in order."""

    def replica_of(self, method: str) -> str:
        """The replica that answered the last `method` request (a client may send others after it)."""
        return next(name for sent, name in reversed(self.served_by) if sent == method)


@asynccontextmanager
async def mcp_session(base_url: str, key: str, *, legacy: bool = False) -> AsyncIterator[Session]:
    """A real MCP client over streamable HTTP with `Authorization: Bearer <key>` on every request."""
    served_by: list[tuple[str, str]] = []

    async def note_replica(response: httpx2.Response) -> None:
        if name := response.headers.get(SERVED_BY_HEADER):
            try:
                method = str(json.loads(response.request.content).get("method"))
            except (ValueError, AttributeError):
                method = response.request.method
            served_by.append((method, name))

    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(
            httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {key}"},
                timeout=httpx2.Timeout(30, read=120),
                event_hooks={"response": [note_replica]},
            )
        )
        transport = streamable_http_client(f"{base_url}/mcp", http_client=http)
        client = await stack.enter_async_context(
            Client(transport, read_timeout_seconds=90, mode="legacy" if legacy else "auto")
        )
        yield Session(client, served_by)
