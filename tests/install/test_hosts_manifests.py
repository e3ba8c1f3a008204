"""The committed manifests match their generator, carry pyproject's version, and hold what each consumer needs."""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from runapi_mcp import __version__
from runapi_mcp.install import manifests
from runapi_mcp.install.launch import REGISTRY_NAME
from runapi_mcp.settings import Settings, SettingsError
from tests.install.helpers import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]


def _json(rel: str) -> dict[str, Any]:
    return json.loads((REPO_ROOT / rel).read_text())


def _frontmatter(text: str) -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")
    match = re.match(r"^---\n(.*?)\n---\n", text, re.DOTALL)
    assert match, "SKILL.md must start with a --- frontmatter block"
    return yaml.safe_load(match.group(1))


def test_installed_version_is_pyprojects() -> None:
    assert __version__ == VERSION, "reinstall the package (pip install -e .) after changing the version"


def test_committed_manifests_match_the_generator() -> None:
    stale = manifests.drifted(REPO_ROOT, VERSION)
    assert stale == [], f"run `python -m runapi_mcp.install.manifests --write`; out of date: {stale}"


def test_check_fails_on_a_drifted_file_and_write_repairs_it(tmp_path: Path) -> None:
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    assert manifests.main(["--write", "--root", str(tmp_path)]) == 0
    assert manifests.main(["--check", "--root", str(tmp_path)]) == 0
    server_json = tmp_path / "manifests" / "server.json"
    server_json.write_text(server_json.read_text().replace(VERSION, "9.9.9"))

    assert manifests.main(["--check", "--root", str(tmp_path)]) == 1
    assert manifests.main(["--write", "--root", str(tmp_path)]) == 0
    assert manifests.main(["--check", "--root", str(tmp_path)]) == 0


def test_every_version_in_the_manifests_is_pyprojects() -> None:
    assert _json("manifests/claude-plugin/.claude-plugin/plugin.json")["version"] == VERSION
    assert _json("manifests/codex-plugin/.codex-plugin/plugin.json")["version"] == VERSION
    assert [p["version"] for p in _json(".claude-plugin/marketplace.json")["plugins"]] == [VERSION]
    server = _json("manifests/server.json")
    assert server["version"] == VERSION
    assert [p["version"] for p in server["packages"]] == [VERSION]
    for plugin in ("claude-plugin", "codex-plugin"):
        assert _json(f"manifests/{plugin}/.mcp.json")["mcpServers"]["runapi"]["args"] == [f"runapi-mcp@{VERSION}"]
    deployment = (REPO_ROOT / "manifests/kubernetes/deployment.yaml").read_text()
    assert f"image: ghcr.io/runapi/runapi-mcp:{VERSION}\n" in deployment


def test_server_json_has_every_field_the_registry_requires() -> None:
    server = _json("manifests/server.json")
    assert server["$schema"].startswith("https://static.modelcontextprotocol.io/schemas/")
    assert server["$schema"].endswith("/server.schema.json")
    assert server["name"] == REGISTRY_NAME
    assert re.fullmatch(r"[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+", server["name"])
    assert 1 <= len(server["description"]) <= 100
    assert server["repository"] == {"url": "https://github.com/runapi/runapi-mcp", "source": "github"}
    (package,) = server["packages"]
    assert package["registryType"] == "pypi"
    assert package["registryBaseUrl"] == "https://pypi.org"
    assert package["identifier"] == PYPROJECT["project"]["name"]
    assert package["runtimeHint"] == "uvx"
    assert package["transport"] == {"type": "stdio"}
    env = {e["name"]: e for e in package["environmentVariables"]}
    assert env["RUNAPI_API_KEY"]["isSecret"] is True
    assert env["RUNAPI_API_KEY"]["isRequired"] is False
    assert env["RUNAPI_BASE_URL"]["isSecret"] is False
    for variable in env.values():
        assert variable["description"]
        assert variable.get("format", "string") in {"string", "number", "boolean", "filepath"}


def test_claude_marketplace_points_at_the_plugin_folder_under_the_same_name() -> None:
    market = _json(".claude-plugin/marketplace.json")
    assert market["name"] and market["owner"]["name"]
    (entry,) = market["plugins"]
    plugin_dir = REPO_ROOT / entry["source"]
    assert entry["source"] == "./manifests/claude-plugin"
    plugin = json.loads((plugin_dir / ".claude-plugin" / "plugin.json").read_text())
    assert entry["name"] == plugin["name"]
    assert {"name", "version", "description", "author"} <= set(plugin)
    assert (plugin_dir / ".mcp.json").is_file()


def test_codex_marketplace_and_plugin_point_at_files_that_exist() -> None:
    market = _json(".agents/plugins/marketplace.json")
    (entry,) = market["plugins"]
    assert entry["source"] == {"source": "local", "path": "./manifests/codex-plugin"}
    assert entry["policy"] == {"installation": "AVAILABLE", "authentication": "ON_INSTALL"}
    plugin_dir = REPO_ROOT / entry["source"]["path"]
    plugin = json.loads((plugin_dir / ".codex-plugin" / "plugin.json").read_text())
    assert plugin["name"] == entry["name"]
    assert plugin["mcpServers"] == "./.mcp.json"
    assert (plugin_dir / plugin["mcpServers"]).is_file()
    assert (plugin_dir / plugin["skills"] / "gpt-image-2" / "SKILL.md").is_file()
    prompts = plugin["interface"]["defaultPrompt"]
    assert 1 <= len(prompts) <= 3 and all(len(p) <= 128 for p in prompts)
    assert plugin["interface"]["displayName"] and plugin["interface"]["shortDescription"]


def test_one_mcp_json_serves_claude_code_and_codex() -> None:
    claude = (REPO_ROOT / "manifests/claude-plugin/.mcp.json").read_bytes()
    codex = (REPO_ROOT / "manifests/codex-plugin/.mcp.json").read_bytes()
    assert claude == codex
    entry = json.loads(claude)["mcpServers"]["runapi"]
    assert entry["command"] == "uvx"
    assert entry["env_vars"] == ["RUNAPI_API_KEY", "RUNAPI_BASE_URL"]
    assert entry["tool_timeout_sec"] >= 180


def test_skill_frontmatter_and_content_teach_the_costly_parts() -> None:
    for plugin in ("claude-plugin", "codex-plugin"):
        text = (REPO_ROOT / f"manifests/{plugin}/skills/gpt-image-2/SKILL.md").read_text()
        meta = _frontmatter(text)
        assert meta["name"] == "gpt-image-2"
        assert 50 <= len(meta["description"]) <= 1024
        for must in (
            "$0.06",
            "$0.10",
            "$0.16",
            "count=4",
            "7 days",
            "get_task",
            "task:<task_id>#<index>",
            "aspect_ratio",
            "output_resolution",
            "idempotency_key",
            "double quotes",
        ):
            assert must in text, must
        for tool in ("generate_image", "edit_image", "get_task", "list_tasks", "get_pricing", "get_balance"):
            assert f"`{tool}" in text


def test_examples_are_exactly_what_init_writes_into_an_empty_file() -> None:
    from runapi_mcp.install import render_new

    for target, name in manifests.EXAMPLES.items():
        assert (REPO_ROOT / "manifests/examples" / name).read_text() == render_new(target)


def test_dockerfile_serves_http_as_a_non_root_user_with_a_healthcheck() -> None:
    text = (REPO_ROOT / "manifests/docker/Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim$", text, re.MULTILINE)
    assert "RUN pip wheel --no-cache-dir --wheel-dir /wheels ." in text  # the local source, not PyPI
    assert re.search(r"^USER 10001:10001$", text, re.MULTILINE)
    assert re.search(r"^EXPOSE 8000$", text, re.MULTILINE)
    assert "RUNAPI_MCP_HTTP_AUTH=per-request" in text
    assert "RUNAPI_MCP_STATELESS=true" in text
    assert re.search(r"^HEALTHCHECK .*\n\s+CMD .*http://127\.0\.0\.1:8000/healthz", text, re.MULTILINE)
    assert re.search(r"^STOPSIGNAL SIGTERM$", text, re.MULTILINE)
    assert re.search(r"--stop-timeout (\d+)", text) and int(re.findall(r"--stop-timeout (\d+)", text)[0]) > 60
    assert 'ENTRYPOINT ["runapi-mcp"]' in text
    assert 'CMD ["--transport", "http", "--host", "0.0.0.0", "--port", "8000"]' in text


def test_dockerignore_lets_in_only_what_the_build_copies() -> None:
    ignore = (REPO_ROOT / "manifests/docker/Dockerfile.dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") :][:5] == ["*", "!pyproject.toml", "!README.md", "!LICENSE", "!runapi_mcp/"]


def test_kubernetes_deployment_runs_stateless_replicas_locked_down_with_readiness_and_liveness_probes() -> None:
    yaml = pytest.importorskip("yaml")
    deployment = yaml.safe_load((REPO_ROOT / "manifests/kubernetes/deployment.yaml").read_text())
    service = yaml.safe_load((REPO_ROOT / "manifests/kubernetes/service.yaml").read_text())

    assert deployment["kind"] == "Deployment" and deployment["spec"]["replicas"] >= 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["args"] == ["--transport", "http", "--host", "0.0.0.0", "--port", "8000"]
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    assert env["RUNAPI_MCP_HTTP_AUTH"] == "per-request"
    assert env["RUNAPI_MCP_STATELESS"] == "true"
    # Readiness fails while a replica drains; liveness stays up so the drain is never cut short.
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for variable in ("RUNAPI_MCP_STATE_DIR", "HOME"):
        mount = next(path for path in mounts if env[variable].startswith(path))
        assert "emptyDir" in volumes[mounts[mount]], variable

    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["kind"] == "Service"
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def _kubernetes(name: str) -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((REPO_ROOT / f"manifests/kubernetes/{name}.yaml").read_text())


def _container_env(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container["env"]}


def test_kubernetes_grace_period_outlasts_the_prestop_pause_and_the_drain_which_outlasts_the_wait() -> None:
    deployment = _kubernetes("deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    pause = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pause[0] == "sleep"
    drain = float(_container_env(deployment)["RUNAPI_MCP_DRAIN_SECONDS"]["value"])
    wait = Settings.model_fields["wait_seconds"].default
    assert drain >= wait
    assert pod["terminationGracePeriodSeconds"] > int(pause[1]) + drain
    readiness = container["readinessProbe"]
    # A draining replica leaves the endpoints within one probe period, well inside the preStop pause.
    assert readiness["periodSeconds"] * readiness["failureThreshold"] <= int(pause[1])


def test_kubernetes_takes_the_database_url_and_state_keys_from_the_secret_it_ships() -> None:
    deployment, secret = _kubernetes("deployment"), _kubernetes("secret")
    env = _container_env(deployment)
    assert secret["kind"] == "Secret"
    for variable in ("RUNAPI_MCP_DATABASE_URL", "RUNAPI_MCP_STATE_KEYS"):
        ref = env[variable]["valueFrom"]["secretKeyRef"]
        assert "value" not in env[variable]
        assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"]
    assert secret["stringData"]["database-url"].startswith("postgresql://")
    # The placeholder keys are too short to use: a Secret applied unedited stops the server with a clear error.
    placeholder = secret["stringData"]["state-keys"]
    with pytest.raises(SettingsError, match="RUNAPI_MCP_STATE_KEYS"):
        Settings.load({"HOME": "/nonexistent", "RUNAPI_MCP_STATE_KEYS": placeholder})


def test_kubernetes_pdb_keeps_all_but_one_replica_of_the_deployment() -> None:
    deployment, pdb = _kubernetes("deployment"), _kubernetes("pdb")
    assert pdb["apiVersion"] == "policy/v1" and pdb["kind"] == "PodDisruptionBudget"
    assert pdb["spec"]["maxUnavailable"] == 1 < deployment["spec"]["replicas"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_shipped_container_settings_give_no_folder_that_every_tenant_shares() -> None:
    # A RUNAPI_MCP_OUTPUT_DIR with an absolute path would put every key's images in one folder.
    env = _container_env(_kubernetes("deployment"))
    dockerfile = (REPO_ROOT / "manifests/docker/Dockerfile").read_text()
    assert "RUNAPI_MCP_OUTPUT_DIR" not in env
    assert "RUNAPI_MCP_OUTPUT_DIR" not in dockerfile
