"""`python -m runapi_mcp.sandbox` as a real process, and SandboxThread for sync callers."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import httpx2
import pytest

from runapi_mcp.sandbox import SandboxConfig, SandboxThread
from tests.sandbox.helpers import AUTH, BODY, T2I

pytestmark = pytest.mark.timeout(60)


def start(*options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runapi_mcp.sandbox", "--port", "0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def url_of(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.fullmatch(r"RunAPI sandbox listening on (http://127\.0\.0\.1:(\d+))\n", line)
    assert match is not None, line
    assert int(match.group(2)) > 0
    return match.group(1)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_module_prints_its_url_serves_and_exits_0_on_signal(stop_signal: signal.Signals) -> None:
    process = start("--latency", "0.05", "--key", "sk-cli")
    try:
        url = url_of(process)
        assert httpx2.get(url + "/api/v1/price_schedules", timeout=10).status_code == 200
        created = httpx2.post(url + T2I, json=BODY, headers={"Authorization": "Bearer sk-cli"}, timeout=10)
        assert created.status_code == 200
        refused = httpx2.post(url + T2I, json=BODY, headers=AUTH, timeout=10)
        assert refused.status_code == 401
        process.send_signal(stop_signal)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.stderr is not None
    assert "sk-cli" not in process.stderr.read()


def test_module_applies_fault_rate_options() -> None:
    process = start("--fault-rate", "429=1", "--retry-after", "7", "--seed", "1")
    try:
        response = httpx2.get(url_of(process) + "/api/v1/me", headers=AUTH, timeout=10)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "7" or response.headers["retry-after"].endswith("GMT")
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_module_prints_the_callback_secret_and_takes_the_new_fault_kinds_and_durations() -> None:
    process = start(
        "--fault-rate",
        "unknown-status=1",
        "--fault-rate",
        "bad-image=0.5",
        "--durations",
        "uniform:8-60",
        "--time-scale",
        "30",
        "--callback-secret",
        "whsec_cli",
    )
    try:
        url = url_of(process)
        task_id = httpx2.post(url + T2I, json=BODY, headers=AUTH, timeout=10).json()["id"]
        status = httpx2.get(f"{url}{T2I}/{task_id}", headers=AUTH, timeout=10).json()
        assert status["status"] in ("in_queue", "moderating", "upscaling")
        info = httpx2.get(url + "/_sandbox", timeout=10).json()
        assert info["config"]["task_durations"] == "uniform:8-60" and info["config"]["time_scale"] == 30
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.stderr is not None
    assert "Callback signing secret (the sandbox's own scheme, header X-Sandbox-Signature): whsec_cli" in (
        process.stderr.read()
    )


@pytest.mark.parametrize(
    "options",
    [
        ["--fault-rate", "bogus=1"],
        ["--fault-rate", "429=2"],
        ["--latency", "-1"],
        ["--fault-rate", "slow-read=0.6", "--fault-rate", "empty-status=0.6"],
        ["--durations", "8-60"],
        ["--time-scale", "0"],
    ],
)
def test_module_rejects_bad_options_with_exit_2(options: list[str]) -> None:
    process = start(*options)
    try:
        assert process.wait(30) == 2
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.stderr is not None
    assert "runapi-mcp sandbox:" in process.stderr.read()


def test_sandbox_thread_serves_sync_code_and_stops_cleanly() -> None:
    with SandboxThread(SandboxConfig(latency=0.05)) as sandbox:
        url = sandbox.url
        response = httpx2.post(url + T2I, json=BODY, headers=AUTH, timeout=10)
        assert response.status_code == 200
        assert sandbox.ledger()["totals"]["tasks"] == 1
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(url + "/api/v1/price_schedules", timeout=2)
    with pytest.raises(RuntimeError):
        _ = sandbox.url


def test_sandbox_thread_reports_a_port_that_is_taken() -> None:
    with SandboxThread() as first:
        port = int(first.url.rsplit(":", 1)[1])
        with pytest.raises(OSError), SandboxThread(port=port):
            pass
