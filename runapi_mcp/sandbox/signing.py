"""The sandbox's own callback signature scheme (RunAPI's is not published; this one is the sandbox's).

Every callback carries `X-Sandbox-Signature: t=<unix seconds>,v1=<hex>` where hex is the HMAC-SHA256,
keyed with the account's callback secret, of the bytes `<t>.<raw request body>`. A receiver checks the
HMAC in constant time and that `t` is recent (within `tolerance` seconds), which stops replays of old
deliveries. The secret is printed by `runapi-mcp sandbox` at start and shown at `GET /_sandbox`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "X-Sandbox-Signature"
DELIVERY_HEADER = "X-Sandbox-Delivery"
DEFAULT_TOLERANCE = 300.0


def new_secret() -> str:
    return "whsec_sbx_" + secrets.token_hex(24)


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value for `body`, signed now (or at `timestamp`)."""
    moment = int(time.time()) if timestamp is None else timestamp
    return f"t={moment},v1={_digest(secret, moment, body)}"


def verify_signature(
    secret: str, header: str | None, body: bytes, *, tolerance: float = DEFAULT_TOLERANCE, now: float | None = None
) -> bool:
    """True when `header` is a valid sandbox signature of `body` made with `secret` within `tolerance` s."""
    if not header:
        return False
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields.setdefault(name, []).append(value)
    stamps = fields.get("t", [])
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = _digest(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in fields.get("v1", []))
