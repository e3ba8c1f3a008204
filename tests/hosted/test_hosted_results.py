"""What a hosted result says: the resource and RunAPI's URL with its expiry, never a path on the server's disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.types import ResourceLink, TextContent

from runapi_mcp.core.journal import ImageRecord
from runapi_mcp.core.types import JobOutcome, SavedImage, TaskOutcome
from runapi_mcp.server.results import build_result
from runapi_mcp.settings import Settings
from runapi_mcp.settings.messages import SettingsError

URL = "https://files.example/abc/0.png"


def _job(*, hosted: bool) -> JobOutcome:
    record = ImageRecord(
        index=0,
        url=URL,
        url_expires_at="2030-01-08T00:00:00Z",
        width=1024,
        height=1024,
        size_bytes=2048,
        content_type="image/png",
        sha256="ab" * 32,
        path=None if hosted else "/srv/state/tenants/x/t-0.png",
    )
    task = TaskOutcome(
        action="text_to_image", idempotency_key="k", task_id="t1", status="completed", images=(SavedImage(record),)
    )
    return JobOutcome(tasks=(task,), output_dir=Path("/srv/state/tenants/x"), hosted=hosted)


def test_a_hosted_result_names_the_resource_and_the_url_with_its_expiry_and_no_server_path() -> None:
    result = build_result(_job(hosted=True), working_dir=Path("/srv"), structured=True)
    text = result.content[0]
    assert isinstance(text, TextContent)
    assert "runapi://tasks/t1/images/0" in text.text and URL in text.text and "2030-01-08T00:00:00Z" in text.text
    assert "/srv" not in text.text and "saved to" not in text.text
    links = [c for c in result.content if isinstance(c, ResourceLink)]
    assert [str(link.uri) for link in links] == ["runapi://tasks/t1/images/0"]
    assert result.structured_content is not None
    assert "output_dir" not in result.structured_content
    assert "path" not in result.structured_content["tasks"][0]["images"][0]


def test_a_single_machine_result_still_shows_the_saved_path() -> None:
    result = build_result(_job(hosted=False), working_dir=Path("/srv"), structured=True)
    text = result.content[0]
    assert isinstance(text, TextContent) and "saved to state/tenants/x/t-0.png" in text.text


def test_hosted_means_http_replicas_sharing_a_database_not_stdio_or_the_sandbox(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "RUNAPI_MCP_DATABASE_URL": "postgresql://u:p@db.internal/runapi"}
    http = Settings.load(env, transport="http", http_auth="per-request", http_host="0.0.0.0")
    assert http.core_config().hosted
    assert not Settings.load(env).core_config().hosted  # stdio: the user's own disk, saved paths as ever
    assert not Settings.load({"HOME": str(tmp_path)}, transport="http").core_config().hosted


def test_retention_settings_reach_the_flow_and_bad_values_are_refused(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "RUNAPI_MCP_RETENTION_DAYS": "30", "RUNAPI_MCP_MAX_TASKS_PER_OWNER": "500"}
    core = Settings.load(env).core_config()
    assert (core.retention_days, core.max_tasks_per_owner) == (30.0, 500)
    with pytest.raises(SettingsError, match="RUNAPI_MCP_RETENTION_DAYS"):
        Settings.load({**env, "RUNAPI_MCP_RETENTION_DAYS": "-1"})
