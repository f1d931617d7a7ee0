"""Browser sessions and CSRF tokens.

There are no passwords in customhouse: a person signs in with the API token an administrator gave them,
so the web and the API know the same users, roles and revocations. The session cookie holds that token
encrypted and authenticated with Fernet (AES-128-CBC + HMAC-SHA256, with a timestamp that bounds the
session's age); every request authenticates the token again, so a revoked token ends its sessions at
once. CSRF: a signed double-submit cookie (OWASP): a random nonce in an HttpOnly cookie, and in each
form the HMAC of that nonce under the server's key, which a cross-site page can neither read nor forge.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from customhouse import keys

SESSION_COOKIE = "ch_session"
CSRF_COOKIE = "ch_csrf"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True, slots=True)
class Sessions:
    key: bytes  # a Fernet key (urlsafe base64 of 32 bytes)
    max_age: int = 8 * 3600  # seconds a sign-in lasts

    @classmethod
    def from_file(cls, path: Path, *, max_age: int = 8 * 3600) -> Sessions:
        return cls(keys.load_or_create(path, Fernet.generate_key).strip(), max_age)

    def seal(self, token: str) -> str:
        """The cookie value for a signed-in API token."""
        return Fernet(self.key).encrypt(token.encode()).decode()

    def open(self, cookie: str | None) -> str | None:
        """The API token in a session cookie, or None if it is absent, altered or too old."""
        if not cookie:
            return None
        try:
            return Fernet(self.key).decrypt(cookie.encode(), ttl=self.max_age).decode()
        except (InvalidToken, ValueError):
            return None

    def csrf_token(self, nonce: str) -> str:
        return hmac.new(self.key, b"csrf:" + nonce.encode(), hashlib.sha256).hexdigest()

    def csrf_valid(self, nonce: str | None, token: str | None) -> bool:
        if not nonce or not token:
            return False
        return hmac.compare_digest(self.csrf_token(nonce), token)


def new_nonce() -> str:
    return secrets.token_urlsafe(32)
