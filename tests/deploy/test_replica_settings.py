"""The settings a replica needs: the drain budget and the request-state keys every replica shares."""

from __future__ import annotations

import pytest

from runapi_mcp.server.http import DRAIN_MARGIN_SECONDS, drain_seconds
from runapi_mcp.server.request_state import needs_shared_keys, request_state_security
from runapi_mcp.settings import Settings, SettingsError

KEY_A = "a" * 32
KEY_B = "b" * 40


def _load(**env: str) -> Settings:
    return Settings.load({"HOME": "/nonexistent", **env})


def test_the_default_drain_outlasts_the_wait_budget_and_the_setting_overrides_it() -> None:
    assert drain_seconds(_load()) == _load().wait_seconds + DRAIN_MARGIN_SECONDS
    assert drain_seconds(_load(RUNAPI_MCP_WAIT_SECONDS="120")) == 120 + DRAIN_MARGIN_SECONDS
    assert drain_seconds(_load(RUNAPI_MCP_DRAIN_SECONDS="5")) == 5


@pytest.mark.parametrize("raw", ["soon", "-1", "99999"])
def test_a_bad_drain_budget_is_refused_with_the_variable_named(raw: str) -> None:
    with pytest.raises(SettingsError, match="RUNAPI_MCP_DRAIN_SECONDS"):
        _load(RUNAPI_MCP_DRAIN_SECONDS=raw)


def test_state_keys_seal_on_one_replica_and_open_on_another_never_shown_in_the_settings() -> None:
    first = _load(RUNAPI_MCP_STATE_KEYS=f"{KEY_A},{KEY_B}")
    rotated = _load(RUNAPI_MCP_STATE_KEYS=f"{KEY_B},{KEY_A}")
    sealing, opening = request_state_security(first), request_state_security(rotated)
    assert sealing is not None and opening is not None
    assert opening.codec.unseal(sealing.codec.seal(b"state")) == b"state"
    assert KEY_A not in repr(first) and KEY_A not in str(first.model_dump())


def test_a_short_state_key_is_refused_before_the_server_starts() -> None:
    with pytest.raises(SettingsError, match="32"):
        _load(RUNAPI_MCP_STATE_KEYS=f"{KEY_A},short")


def test_only_stateless_http_without_keys_is_told_to_share_them() -> None:
    assert request_state_security(_load()) is None  # the SDK's per-process key
    assert needs_shared_keys(_load(RUNAPI_MCP_STATELESS="true").model_copy(update={"transport": "http"}))
    assert not needs_shared_keys(_load(RUNAPI_MCP_STATELESS="true"))  # stdio
    with_keys = _load(RUNAPI_MCP_STATELESS="true", RUNAPI_MCP_STATE_KEYS=KEY_A)
    assert not needs_shared_keys(with_keys.model_copy(update={"transport": "http"}))
