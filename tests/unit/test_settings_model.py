"""Settings as a validated model: bounds on the fields, rules across fields, one-line errors that name the
variable (or flag), and copies that are validated like a fresh load."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from runapi_mcp.settings import Settings, SettingsError

BASE_ENV = {"HOME": "/nonexistent"}


def load(**env: str) -> Settings:
    return Settings.load(env={**BASE_ENV, **env})


def refusal(**env: str) -> str:
    with pytest.raises(SettingsError) as caught:
        load(**env)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message and "pydantic" not in message.lower()
    return message


def test_poll_start_past_the_poll_cap_is_refused_naming_both_variables() -> None:
    # Loaded fine before, and then every generate failed with a bare "Error executing tool generate_image".
    message = refusal(RUNAPI_MCP_POLL_INITIAL_SECONDS="10", RUNAPI_MCP_POLL_MAX_SECONDS="1")
    assert "RUNAPI_MCP_POLL_INITIAL_SECONDS (10)" in message and "RUNAPI_MCP_POLL_MAX_SECONDS (1)" in message
    assert load(RUNAPI_MCP_POLL_INITIAL_SECONDS="1", RUNAPI_MCP_POLL_MAX_SECONDS="1").poll_max_seconds == 1


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"RUNAPI_MCP_LOG_LEVEL": "LOUD"}, "RUNAPI_MCP_LOG_LEVEL must be one of: DEBUG, INFO, WARNING, ERROR"),
        ({"RUNAPI_MCP_PORT": "99999"}, "RUNAPI_MCP_PORT must be a whole number between 0 and 65535, not '99999'."),
        ({"RUNAPI_MCP_PORT": "80.5"}, "RUNAPI_MCP_PORT must be a whole number between 0 and 65535"),
        ({"RUNAPI_MCP_WAIT_SECONDS": "nan"}, "RUNAPI_MCP_WAIT_SECONDS must be a number between 0 and 600, not 'nan'"),
        ({"RUNAPI_MCP_TIMEOUT": "0.5"}, "RUNAPI_MCP_TIMEOUT must be a number between 1 and 600"),
        ({"RUNAPI_MCP_MAX_RETRIES": "11"}, "RUNAPI_MCP_MAX_RETRIES must be a whole number between 0 and 10"),
        ({"RUNAPI_MCP_SANDBOX_LATENCY": "-1"}, "RUNAPI_MCP_SANDBOX_LATENCY must be a number between 0 and 600"),
        ({"RUNAPI_MCP_MAX_INPUT_MB": "2000"}, "RUNAPI_MCP_MAX_INPUT_MB must be more than 0 and at most 1024"),
        ({"RUNAPI_MCP_MAX_DOWNLOAD_MB": "lots"}, "RUNAPI_MCP_MAX_DOWNLOAD_MB must be a size in megabytes"),
        ({"RUNAPI_MCP_PREVIEW": "10"}, "RUNAPI_MCP_PREVIEW must be off or a size between 64 and 2048 pixels"),
        ({"RUNAPI_MCP_PREVIEW": "4096"}, "RUNAPI_MCP_PREVIEW must be a whole number between 0 and 2048"),
        ({"RUNAPI_MCP_SANDBOX": "maybe"}, "RUNAPI_MCP_SANDBOX must be true or false, not 'maybe'"),
        ({"RUNAPI_MCP_HOST": "http://0.0.0.0"}, "RUNAPI_MCP_HOST must be a host name or IP address"),
        ({"RUNAPI_MCP_ALLOWED_HOSTS": "https://a.example"}, "RUNAPI_MCP_ALLOWED_HOSTS takes host names"),
        ({"RUNAPI_MCP_ALLOWED_ORIGINS": "app.example"}, "RUNAPI_MCP_ALLOWED_ORIGINS takes origins such as https://"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable_and_what_it_accepts(env: dict[str, str], expected: str) -> None:
    assert expected in refusal(**env)


@pytest.mark.parametrize(
    "url", ["notaurl", "runapi.ai", "ftp://runapi.ai", "https://", "http://:8080", "https://runapi.ai:99999"]
)
def test_a_base_url_without_http_scheme_and_host_is_refused_at_load(url: str) -> None:
    message = refusal(RUNAPI_BASE_URL=url)
    assert message.startswith("RUNAPI_BASE_URL must be") and "https://runapi.ai" in message


def test_a_base_url_with_credentials_is_never_echoed_in_its_refusal() -> None:
    message = refusal(RUNAPI_BASE_URL="https://me:hunter2@gw.example:8443/v1?token=tok-123")
    assert "hunter2" not in message and "tok-123" not in message and "me:" not in message
    assert "https://gw.example:8443/v1" in message  # the display form: scheme, host, port, path


def test_a_base_url_with_userinfo_is_accepted_and_its_trailing_slash_dropped() -> None:
    assert load(RUNAPI_BASE_URL="https://me:pw@gw.example:8443/v1/").base_url == "https://me:pw@gw.example:8443/v1"


def test_a_base_url_from_the_config_file_is_named_by_its_file(tmp_path: Path) -> None:
    config = tmp_path / "runapi" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text('{"baseUrl": "notaurl"}')
    with pytest.raises(SettingsError, match=r"^baseUrl in .*config\.json must be an http"):
        Settings.load(env={"XDG_CONFIG_HOME": str(tmp_path)})


def test_secrets_are_never_shown_in_a_refusal() -> None:
    settings = load(RUNAPI_API_KEY="sk-live-secret")
    with pytest.raises(SettingsError) as caught:
        settings.replace(http_token=12345)
    assert "RUNAPI_MCP_HTTP_TOKEN" in str(caught.value) and "12345" not in str(caught.value)


def test_a_flag_is_validated_like_its_variable_and_named_in_the_message() -> None:
    with pytest.raises(SettingsError, match=r"^--port must be a whole number between 0 and 65535, not '99999'\.$"):
        Settings.load(env=BASE_ENV, http_port="99999")
    with pytest.raises(SettingsError, match=r"^--host must be a host name"):
        Settings.load(env=BASE_ENV, http_host="0.0.0.0:8000/mcp")
    assert Settings.load(env={**BASE_ENV, "RUNAPI_MCP_PORT": "1"}, http_port="8123").http_port == 8123


def test_http_token_mode_needs_a_token_and_a_public_bind_needs_auth() -> None:
    with pytest.raises(SettingsError, match="RUNAPI_MCP_HTTP_AUTH=token needs RUNAPI_MCP_HTTP_TOKEN"):
        Settings.load(env={**BASE_ENV, "RUNAPI_MCP_HTTP_AUTH": "token"}, transport="http")
    with pytest.raises(SettingsError, match=r"Refusing to serve on 0\.0\.0\.0 without auth"):
        Settings.load(env=BASE_ENV, transport="http", http_host="0.0.0.0")
    public = Settings.load(
        env={**BASE_ENV, "RUNAPI_MCP_HTTP_AUTH": "token", "RUNAPI_MCP_HTTP_TOKEN": "t" * 24},
        transport="http",
        http_host="0.0.0.0",
    )
    assert public.http_auth == "token"
    # On stdio the HTTP settings are not used, so they do not stop the server.
    stdio = Settings.load(env={**BASE_ENV, "RUNAPI_MCP_HTTP_AUTH": "token", "RUNAPI_MCP_HOST": "0.0.0.0"})
    assert stdio.transport == "stdio"


def test_replace_validates_every_field_and_every_rule_unlike_model_copy() -> None:
    settings = load()
    for changes, words in [
        ({"poll_initial_seconds": 50.0}, "RUNAPI_MCP_POLL_INITIAL_SECONDS (50) must not be more"),
        ({"http_port": 70000}, "RUNAPI_MCP_PORT must be a whole number between 0 and 65535"),
        ({"base_url": "ftp://x"}, "RUNAPI_BASE_URL must be an http"),
        ({"transport": "http", "http_host": "10.0.0.5"}, "Refusing to serve on 10.0.0.5 without auth"),
        ({"no_such_setting": 1}, "no_such_setting is not a setting"),
    ]:
        with pytest.raises(SettingsError) as caught:
            settings.replace(**changes)
        assert words in str(caught.value)
    moved = settings.replace(base_url="http://127.0.0.1:9/", api_key=SecretStr("sandbox-key"))
    assert moved.base_url == "http://127.0.0.1:9" and settings.base_url == "https://runapi.ai"
    assert moved.api_key is not None and moved.api_key.get_secret_value() == "sandbox-key"
    assert moved.replace() == moved


def test_text_values_are_parsed_once_by_the_model() -> None:
    settings = load(
        RUNAPI_MCP_MAX_INPUT_MB="1.5",
        RUNAPI_MCP_PREVIEW="384px",
        RUNAPI_MCP_STRUCTURED_OUTPUT="off",
        RUNAPI_MCP_LOG_LEVEL="warn",
        RUNAPI_MCP_ALLOWED_HOSTS=" mcp.example.com , b.example:8443,",
        RUNAPI_MCP_ALLOWED_ORIGINS="https://app.example.com",
        RUNAPI_MCP_OUTPUT_DIR="~/pics",
    )
    assert settings.max_input_bytes == int(1.5 * 1024 * 1024) and settings.preview_max_side == 384
    assert settings.structured_output is False and settings.log_level == "WARNING"
    assert settings.http_allowed_hosts == ("mcp.example.com", "b.example:8443")
    assert settings.http_allowed_origins == ("https://app.example.com",)
    assert settings.output_dir is not None and "~" not in str(settings.output_dir)
    assert load(RUNAPI_MCP_PREVIEW="off").preview_max_side == 0


def test_an_empty_variable_counts_as_unset() -> None:
    settings = load(RUNAPI_MCP_PORT="", RUNAPI_MCP_STRUCTURED_OUTPUT=" ", RUNAPI_MCP_LOG_LEVEL="", RUNAPI_BASE_URL="")
    assert settings.http_port == 8000 and settings.structured_output == "auto"
    assert settings.log_level == "INFO" and settings.base_url == "https://runapi.ai"


def test_several_bad_values_report_the_first_and_count_the_rest() -> None:
    message = refusal(RUNAPI_MCP_PORT="x", RUNAPI_MCP_TIMEOUT="y", RUNAPI_MCP_LOG_LEVEL="z")
    assert message.endswith("(and 2 more problems in the settings)")


def test_a_database_url_must_be_postgresql_and_is_never_shown() -> None:
    message = refusal(RUNAPI_MCP_DATABASE_URL="mysql://root:s3cret-db-pass@db/x")
    assert "RUNAPI_MCP_DATABASE_URL" in message and "postgresql://" in message
    assert "s3cret-db-pass" not in message
    url = load(RUNAPI_MCP_DATABASE_URL="postgresql://u:p@127.0.0.1/db").database_url
    assert url is not None and url.get_secret_value() == "postgresql://u:p@127.0.0.1/db"


def test_structured_output_takes_auto_true_or_false() -> None:
    assert load(RUNAPI_MCP_STRUCTURED_OUTPUT="AUTO").structured_output == "auto"
    assert load(RUNAPI_MCP_STRUCTURED_OUTPUT="on").structured_output is True
    assert load(RUNAPI_MCP_STRUCTURED_OUTPUT="0").structured_output is False
    assert "must be auto, true or false" in refusal(RUNAPI_MCP_STRUCTURED_OUTPUT="sometimes")
