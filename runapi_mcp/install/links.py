"""One-click install links for hosts that have them."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

from runapi_mcp.install.launch import SERVER_NAME, ServerLaunch, default_launch
from runapi_mcp.install.targets import TARGETS, KeyPlan


def _cursor_config(launch: ServerLaunch | None) -> str:
    entry = TARGETS["cursor"].entry(launch or default_launch(), KeyPlan("forward"))
    raw = json.dumps(entry, separators=(",", ":")).encode()
    # Percent-encoded: a raw `+` in a query string is read back as a space.
    return quote(base64.b64encode(raw).decode("ascii"), safe="")


def cursor_deeplink(launch: ServerLaunch | None = None) -> str:
    """`cursor://` link that opens Cursor's install prompt for the runapi server (user-wide mcp.json)."""
    return f"cursor://anysphere.cursor-deeplink/mcp/install?name={SERVER_NAME}&config={_cursor_config(launch)}"


def cursor_install_url(launch: ServerLaunch | None = None) -> str:
    """The https form of the deeplink, for READMEs: GitHub drops links with a `cursor://` scheme."""
    return f"https://cursor.com/en/install-mcp?name={SERVER_NAME}&config={_cursor_config(launch)}"
