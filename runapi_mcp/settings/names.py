"""Which environment variable, and which command-line flag, sets each field: for loading and for messages."""

from __future__ import annotations

KEY_VAR = "RUNAPI_API_KEY"

# Variable -> field. The model parses and bounds the text; the loader only looks the names up.
VARIABLES: dict[str, str] = {
    "RUNAPI_BASE_URL": "base_url",
    "RUNAPI_MCP_STATE_DIR": "state_dir",
    "RUNAPI_MCP_DATABASE_URL": "database_url",
    "RUNAPI_MCP_RETENTION_DAYS": "retention_days",
    "RUNAPI_MCP_MAX_TASKS_PER_OWNER": "max_tasks_per_owner",
    "RUNAPI_MCP_OUTPUT_DIR": "output_dir",
    "RUNAPI_MCP_ALLOWED_ROOTS": "allowed_roots",
    "RUNAPI_MCP_WAIT_SECONDS": "wait_seconds",
    "RUNAPI_MCP_TIMEOUT": "request_timeout",
    "RUNAPI_MCP_MAX_RETRIES": "max_retries",
    "RUNAPI_MCP_POLL_INITIAL_SECONDS": "poll_initial_seconds",
    "RUNAPI_MCP_POLL_MAX_SECONDS": "poll_max_seconds",
    "RUNAPI_MCP_POLL_FLOOR_SECONDS": "poll_floor_seconds",
    "RUNAPI_MCP_HOST_WAIT_SECONDS": "host_wait_seconds",
    "RUNAPI_MCP_PUBLIC_URL": "public_url",
    "RUNAPI_MCP_MAX_INPUT_MB": "max_input_bytes",
    "RUNAPI_MCP_MAX_DOWNLOAD_MB": "max_download_bytes",
    "RUNAPI_MCP_PREVIEW": "preview_max_side",
    "RUNAPI_MCP_STRUCTURED_OUTPUT": "structured_output",
    "RUNAPI_MCP_MAX_COST_PER_CALL": "max_cost_per_call",
    "RUNAPI_MCP_DAILY_BUDGET": "daily_budget",
    "RUNAPI_MCP_CONFIRM_ABOVE": "confirm_above",
    "RUNAPI_MCP_HOST": "http_host",
    "RUNAPI_MCP_PORT": "http_port",
    "RUNAPI_MCP_HTTP_AUTH": "http_auth",
    "RUNAPI_MCP_HTTP_TOKEN": "http_token",
    "RUNAPI_MCP_STATELESS": "http_stateless",
    "RUNAPI_MCP_ALLOWED_HOSTS": "http_allowed_hosts",
    "RUNAPI_MCP_ALLOWED_ORIGINS": "http_allowed_origins",
    "RUNAPI_MCP_DRAIN_SECONDS": "drain_seconds",
    "RUNAPI_MCP_STATE_KEYS": "state_keys",
    "RUNAPI_MCP_SANDBOX": "sandbox",
    "RUNAPI_MCP_SANDBOX_LATENCY": "sandbox_latency",
    "RUNAPI_MCP_LOG_LEVEL": "log_level",
}

# Field -> the serve command's flag that sets it (a flag wins over its variable).
FLAGS: dict[str, str] = {
    "transport": "--transport",
    "http_host": "--host",
    "http_port": "--port",
    "http_stateless": "--stateless",
    "sandbox": "--sandbox",
}

# Never shown in a message, not even in part.
SECRET_FIELDS = frozenset({"api_key", "http_token", "database_url", "state_keys"})

_FIELD_VARIABLES = {field: name for name, field in VARIABLES.items()} | {"api_key": KEY_VAR}


def name_of(field: str) -> str:
    """What a person sets to change `field`: its variable, else its flag, else the field itself."""
    return _FIELD_VARIABLES.get(field) or FLAGS.get(field) or field
