"""One browser login, RunAPI's way: listen on loopback, send the browser to the authorize page, take the
code it brings back, exchange it for a key, save the key, check it against the balance endpoint.

Shared by `runapi-mcp login` and by the server's sign-in from inside a host. The key lives only in the
exchange's `SecretStr` and the config file: it is never logged, printed or put in an error.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlencode

import anyio.to_thread

from runapi_mcp.login.callback import CallbackListener
from runapi_mcp.login.config_file import check_writable, save_api_key
from runapi_mcp.login.errors import LoginError
from runapi_mcp.login.pkce import LoginSecrets
from runapi_mcp.runapi.client import RunAPIClient
from runapi_mcp.runapi.errors import AuthenticationError, ConnectionFailedError, RunAPIError
from runapi_mcp.runapi.models import Balance

DEFAULT_TIMEOUT = 300.0  # as long as RunAPI's own tools wait


@dataclass(frozen=True)
class LoginOutcome:
    email: str | None
    key_name: str | None  # the name RunAPI gave the new key, e.g. the machine's
    config_file: Path
    balance: Balance | None
    check_failed: str | None = None  # why the balance check could not run (the key is saved regardless)

    @property
    def account(self) -> str:
        return self.email or "your RunAPI account"


def this_hostname() -> str:
    """The machine's name as RunAPI shows it next to the key; header-safe ASCII."""
    name = "".join(c for c in socket.gethostname() if c.isascii() and c.isprintable() and not c.isspace())
    return name[:255] or "localhost"


class BrowserLogin:
    """`async with BrowserLogin(...) as login:` listens; open `login.authorize_url`; `await login.finish()`."""

    def __init__(self, client: RunAPIClient, config_file: Path, *, hostname: str | None = None) -> None:
        self._client = client
        self._config_file = config_file
        self._hostname = hostname or this_hostname()
        self._secrets = LoginSecrets()
        self._listener = CallbackListener(self._secrets.state)

    async def __aenter__(self) -> Self:
        await anyio.to_thread.run_sync(check_writable, self._config_file)
        await self._listener.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._listener.__aexit__(exc_type, exc, tb)

    @property
    def display_code(self) -> str:
        return self._secrets.display_code

    @property
    def authorize_url(self) -> str:
        query = urlencode(
            {
                "state": self._secrets.state,
                "code_challenge": self._secrets.code_challenge,
                "code_challenge_method": "S256",
                "redirect_port": self._listener.port,
                "display_code": self._secrets.display_code,
                "hostname": self._hostname,
            }
        )
        return f"{self._client.base_url}/cli/authorize?{query}"

    async def finish(self, wait_seconds: float = DEFAULT_TIMEOUT) -> LoginOutcome:
        """Wait for the browser, exchange the code, save the key, check it. Raises LoginError."""
        code = await self._listener.wait(wait_seconds)
        try:
            # Without whatever key the client may hold: the exchange must stand on the code alone.
            exchange = await self._client.with_api_key(None).cli_exchange(
                code=code,
                code_verifier=self._secrets.code_verifier,
                redirect_port=self._listener.port,
                hostname=self._hostname,
            )
        except ConnectionFailedError as exc:
            reason = exc.message.rstrip(".")
            raise LoginError(f"The sign-in was approved, but {reason[:1].lower()}{reason[1:]}. Try again.") from None
        except RunAPIError as exc:
            status = f"{exc.status}: " if exc.status else ""
            raise LoginError(f"RunAPI refused the sign-in ({status}{exc.message.rstrip('.')}). Try again.") from None
        await anyio.to_thread.run_sync(save_api_key, self._config_file, exchange.key)
        email, key_name = exchange.user.email, exchange.name
        try:
            balance = await self._client.with_api_key(exchange.key).balance()
        except AuthenticationError as exc:
            raise LoginError(
                f"RunAPI issued a key but does not accept it ({exc.message.rstrip('.')}); run the login again."
            ) from None
        except RunAPIError as exc:
            return LoginOutcome(email, key_name, self._config_file, None, check_failed=exc.message.rstrip("."))
        return LoginOutcome(email, key_name, self._config_file, balance)
