"""`runapi-mcp login`, `logout` and `whoami`: sign in through the browser and manage the saved key.

Every failure is one line on stderr and a non-zero exit; no line ever carries the key.
"""

from __future__ import annotations

import argparse
import sys
import webbrowser
from collections.abc import Callable

import anyio
import anyio.to_thread
import httpx2

from runapi_mcp import __version__
from runapi_mcp.login.background import background_tasks
from runapi_mcp.login.config_file import remove_api_key
from runapi_mcp.login.errors import LoginError
from runapi_mcp.login.flow import DEFAULT_TIMEOUT, BrowserLogin, LoginOutcome
from runapi_mcp.runapi.client import RetryPolicy, RunAPIClient
from runapi_mcp.runapi.errors import AuthenticationError, RunAPIError
from runapi_mcp.runapi.models import Balance
from runapi_mcp.settings import Settings, SettingsError
from runapi_mcp.urls import display_url

ENV_KEY = "RUNAPI_API_KEY"
DESCRIPTIONS = {
    "login": "Sign in to RunAPI in the browser and save the key to RunAPI's shared config file.",
    "logout": "Remove the saved RunAPI key from the shared config file.",
    "whoami": "Show which RunAPI account the configured key belongs to (never the key).",
}


def add_arguments(command: str, parser: argparse.ArgumentParser) -> None:
    if command == "login":
        parser.add_argument(
            "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds to wait for approval (default 300)"
        )
        parser.add_argument("--no-browser", action="store_true", help="print the sign-in URL instead of opening it")


def run(command: str, args: argparse.Namespace) -> int:
    try:
        settings = Settings.load()
    except SettingsError as exc:
        return _fail(str(exc), 2)
    try:
        if command == "logout":
            return _logout(settings)
        if command == "whoami":
            return anyio.run(_whoami, settings)
        if not 1 <= args.timeout <= 3600:
            return _fail("--timeout must be between 1 and 3600 seconds.", 2)
        opener: Callable[[str], bool] = (lambda _url: False) if args.no_browser else webbrowser.open
        return anyio.run(_login, settings, args.timeout, opener, not args.no_browser)
    except LoginError as exc:
        return _fail(str(exc), 1)
    except KeyboardInterrupt:
        return _fail("Stopped; nothing was saved." if command == "login" else "Stopped.", 130)


def _fail(message: str, code: int) -> int:
    print(f"runapi-mcp: {message}", file=sys.stderr)
    return code


def _client(http: httpx2.AsyncClient, settings: Settings, *, with_key: bool) -> RunAPIClient:
    return RunAPIClient(
        http,
        base_url=settings.base_url,
        api_key=settings.api_key if with_key else None,
        retry=RetryPolicy(max_retries=settings.max_retries),
        user_agent=f"runapi-mcp/{__version__}",
    )


def _http(settings: Settings) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(timeout=httpx2.Timeout(settings.request_timeout, connect=10.0), follow_redirects=False)


async def _login(settings: Settings, wait_seconds: float, opener: Callable[[str], bool], try_browser: bool) -> int:
    async with (
        _http(settings) as http,
        BrowserLogin(_client(http, settings, with_key=False), settings.config_file) as login,
    ):
        print(f"Sign in to RunAPI in your browser; check that the page shows the code {login.display_code}.")
        print(f"If no browser opens, visit this URL on this machine:\n  {login.authorize_url}", flush=True)
        outcome = await _wait_with_browser(login, wait_seconds, opener, try_browser)
    _report_login(outcome, settings)
    return 0


async def _wait_with_browser(
    login: BrowserLogin, wait_seconds: float, opener: Callable[[str], bool], try_browser: bool
) -> LoginOutcome:
    async with background_tasks() as group:  # a browser command still running at the end is not waited for
        group.start_soon(_open_browser, opener, login.authorize_url, try_browser)
        print(f"Waiting up to {wait_seconds:g} s for approval (Ctrl-C to stop)...", flush=True)
        return await login.finish(wait_seconds)


async def _open_browser(opener: Callable[[str], bool], url: str, try_browser: bool) -> None:
    # In a thread: a browser command may not return until the browser does, while the listener must answer it.
    opened = await anyio.to_thread.run_sync(opener, url, abandon_on_cancel=True)
    if try_browser and not opened:
        print("No browser could be opened: open the URL above in a browser on this machine.", file=sys.stderr)


def _report_login(outcome: LoginOutcome, settings: Settings) -> None:
    key_name = f' (key "{outcome.key_name}")' if outcome.key_name else ""
    print(f"Signed in as {outcome.account}{key_name}. Key saved to {outcome.config_file}; it is not shown.")
    if outcome.balance is not None:
        print(f"Balance: {_usd(outcome.balance)}.")
    else:
        print(f"Could not check the balance yet ({outcome.check_failed}); the key is saved.", file=sys.stderr)
    if settings.api_key_source == f"environment variable {ENV_KEY}":
        print(f"Note: {ENV_KEY} is set here and takes precedence over the saved key.", file=sys.stderr)


def _logout(settings: Settings) -> int:
    path = settings.config_file
    if remove_api_key(path):
        print(f"Signed out: removed the RunAPI key from {path}.")
    else:
        print(f"No RunAPI key is saved in {path}; nothing to remove.")
    if settings.api_key_source == f"environment variable {ENV_KEY}":
        print(f"{ENV_KEY} is still set in this environment; unset it to stop using that key.", file=sys.stderr)
    return 0


async def _whoami(settings: Settings) -> int:
    if settings.api_key is None:
        return _fail(f"Not signed in: no key in {ENV_KEY} or {settings.config_file}. Run: runapi-mcp login", 1)
    source = settings.api_key_source or "an unknown source"
    async with _http(settings) as http:
        client = _client(http, settings, with_key=True)
        try:
            me = await client.me()
            balance = await client.balance()
        except AuthenticationError as exc:
            return _fail(f"RunAPI rejects the key from {source} ({exc.message.rstrip('.')}). Run: runapi-mcp login", 1)
        except RunAPIError as exc:
            shown = display_url(settings.base_url)
            return _fail(f"Could not ask RunAPI at {shown} who this is: {exc.message.rstrip('.')}.", 1)
    who = " ".join(p for p in (me.name, f"<{me.email}>" if me.email else None) if p) or "an unnamed account"
    print(f"Signed in to {display_url(settings.base_url)} as {who}, with the key {_masked(settings)} from {source}.")
    print(f"Balance: {_usd(balance)}.")
    return 0


def _masked(settings: Settings) -> str:
    key = settings.api_key.get_secret_value() if settings.api_key else ""
    # The last four characters tell two keys apart; with fewer than 16 in all, show none.
    return "…" + key[-4:] if len(key) >= 16 else "…"


def _usd(balance: Balance) -> str:
    def usd(cents: float | None) -> str:
        return "unknown" if cents is None else f"${cents / 100:.2f}"

    return f"{usd(balance.balance_cents)}, spent today {usd(balance.spent_cents_today)}"
