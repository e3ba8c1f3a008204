"""A scripted browser: GET the authorize page, submit its form, follow the redirect to the loopback listener.

Used in-process (`visit`) and as the `BROWSER` command Python's webbrowser module runs
(`python -m tests.login.browser %s`), so `runapi-mcp login` opens it exactly as it would open a real one.
SCRIPTED_BROWSER_MODE: approve (default), deny, or wrong-state-first (a foreign state, then approve);
SCRIPTED_BROWSER_LOG: a file that gets one line per callback answer ("<status> <url path>").
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx2


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.buttons: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = a.get("action", "")
        elif tag == "input" and a.get("type") == "hidden":
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "button":
            self.buttons.append((a.get("name", ""), a.get("value", "")))


@dataclass
class Visit:
    page_status: int
    page: str
    callback_answers: list[tuple[int, str]] = field(default_factory=list[tuple[int, str]])


def visit(url: str, mode: str = "approve") -> Visit:
    with httpx2.Client(timeout=10, follow_redirects=False) as http:
        page = http.get(url)
        result = Visit(page.status_code, page.text)
        if page.status_code != 200:
            return result
        form = _Form()
        form.feed(page.text)
        decision = "deny" if mode == "deny" else "approve"
        assert ("decision", decision) in form.buttons, form.buttons
        submitted = http.post(
            urljoin(url, form.action),
            content=urlencode({**form.fields, "decision": decision}),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert submitted.status_code == 303, submitted.status_code
        location = submitted.headers["location"]
        if mode == "wrong-state-first":
            result.callback_answers.append(_follow(http, _with_state(location, "someone-elses-state-0123456789")))
        result.callback_answers.append(_follow(http, location))
        return result


def _follow(http: httpx2.Client, location: str) -> tuple[int, str]:
    answer = http.get(location)
    return answer.status_code, urlsplit(location).path


def _with_state(location: str, state: str) -> str:
    parts = urlsplit(location)
    query = [(k, state if k == "state" else v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def main() -> int:
    result = visit(sys.argv[1], os.environ.get("SCRIPTED_BROWSER_MODE", "approve"))
    if log := os.environ.get("SCRIPTED_BROWSER_LOG"):
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"page {result.page_status}\n")
            out.writelines(f"{status} {path}\n" for status, path in result.callback_answers)
    return 0 if result.page_status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
