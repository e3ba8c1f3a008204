"""One frozen, validated settings object, built from the environment, RunAPI's shared config file and flags.

Precedence: flags > environment > config file > defaults. `Settings.replace` makes validated copies;
`Settings.core_config()` is the narrow view the generation flow needs.
"""

from runapi_mcp.settings.messages import SettingsError
from runapi_mcp.settings.model import DEFAULT_BASE_URL, HttpAuthMode, LogLevel, Settings, Transport

__all__ = ["DEFAULT_BASE_URL", "HttpAuthMode", "LogLevel", "Settings", "SettingsError", "Transport"]
