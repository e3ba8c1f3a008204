"""The secrets of one browser login: the CSRF state, the PKCE pair (S256) and the code shown to the user."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

# No 0/O or 1/I: the user compares this code by eye with the one the authorize page shows.
DISPLAY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def s256_challenge(verifier: str) -> str:
    """RFC 7636's S256: base64url(sha256(verifier)) without padding."""
    return base64url(hashlib.sha256(verifier.encode("ascii")).digest())


def verifier_matches(verifier: str, challenge: str) -> bool:
    if not verifier.isascii():
        return False
    return hmac.compare_digest(s256_challenge(verifier), challenge)


def new_display_code() -> str:
    chars = "".join(secrets.choice(DISPLAY_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


@dataclass(frozen=True)
class LoginSecrets:
    state: str = field(default_factory=lambda: base64url(secrets.token_bytes(32)))
    # 32 random bytes give a 43-character verifier, RFC 7636's minimum length and plenty of entropy.
    code_verifier: str = field(default_factory=lambda: base64url(secrets.token_bytes(32)), repr=False)
    display_code: str = field(default_factory=new_display_code)

    @property
    def code_challenge(self) -> str:
        return s256_challenge(self.code_verifier)
