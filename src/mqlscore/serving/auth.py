"""Who may call the service: the API key (``Authorization: Bearer <key>`` or
``X-API-Key``, compared in constant time). The lead card's sign-in sessions,
made from the key, are in :mod:`mqlscore.serving.sessions`.

``MQLSCORE_DEV=1`` (``mqlscore serve --dev``, loopback only) turns
authentication off for local development.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mqlscore.serving.errors import StartupError

API_KEY_ENV = "MQLSCORE_API_KEY"
API_KEY_FILE_ENV = "MQLSCORE_API_KEY_FILE"
DEV_ENV = "MQLSCORE_DEV"  # "1": authentication off (local development only)
MIN_KEY_LENGTH = 16
# The lead card's session: a cookie valid only under /ui, and a header its page sends
# on every POST (a cross-site form cannot send it).
SESSION_COOKIE = "mqlscore_ui_session"
UI_HEADER = "x-requested-with"
UI_HEADER_VALUE = "mqlscore-ui"
SAFE_METHODS = ("GET", "HEAD")
AUTH_SCOPE_KEY = "mqlscore.auth"  # where the guard leaves its ApiKeyAuth for the lead card's sign-in route
SESSIONS_SCOPE_KEY = "mqlscore.sessions"  # ... and its LeadCardSessions (None with authentication off)


def dev_mode(environ: dict[str, str] | None = None) -> bool:
    """True when ``MQLSCORE_DEV`` asks for authentication off."""
    value = (environ if environ is not None else os.environ).get(DEV_ENV, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class ApiKeyAuth:
    """The API key check. ``key=None`` means authentication is off (--dev)."""

    key: bytes | None

    @property
    def enabled(self) -> bool:
        """False only in development mode."""
        return self.key is not None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ApiKeyAuth:
        """The key from ``MQLSCORE_API_KEY`` or the file named by ``MQLSCORE_API_KEY_FILE``;
        with ``MQLSCORE_DEV=1`` authentication is off. Raises StartupError otherwise."""
        env = environ if environ is not None else os.environ
        if dev_mode(env):
            return cls(None)
        key = env.get(API_KEY_ENV, "").strip()
        source = API_KEY_ENV
        if not key and env.get(API_KEY_FILE_ENV):
            path = Path(env[API_KEY_FILE_ENV])
            source = f"{API_KEY_FILE_ENV} ({path})"
            try:
                key = path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise StartupError(f"cannot read the API key file {path}: {exc}") from None
        if not key:
            raise StartupError(
                f"no API key: set {API_KEY_ENV}, or {API_KEY_FILE_ENV} to a file holding the key "
                "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'); "
                "for local development only, start with --dev to turn authentication off")
        if len(key) < MIN_KEY_LENGTH or any(c.isspace() for c in key):
            raise StartupError(f"the API key from {source} must be at least {MIN_KEY_LENGTH} characters "
                               "without spaces")
        return cls(key.encode("utf-8"))

    def allows(self, headers: Iterable[tuple[bytes, bytes]]) -> bool:
        """True when a presented key matches (always True when authentication is off)."""
        if self.key is None:
            return True
        ok = False
        for name, value in headers:
            name = name.lower()
            if name == b"authorization":
                scheme, _, token = value.strip().partition(b" ")
                if scheme.lower() == b"bearer":
                    ok |= hmac.compare_digest(token.strip(), self.key)
            elif name == b"x-api-key":
                ok |= hmac.compare_digest(value.strip(), self.key)
        return ok

    def allows_key(self, key: str) -> bool:
        """True when ``key`` (typed into the lead card's sign-in form) is the service's key."""
        if self.key is None:
            return True
        key = key.strip()
        return bool(key) and self.allows([(b"x-api-key", key.encode("utf-8"))])


def page_marked(headers: Iterable[tuple[bytes, bytes]], method: str | None) -> bool:
    """True for a GET/HEAD, or when the lead card's own ``X-Requested-With`` header is
    there (a form on another site cannot send it): what a POST with only the session
    cookie also needs."""
    if method in SAFE_METHODS:
        return True
    wanted = UI_HEADER.encode("ascii")
    return any(name.lower() == wanted and value.strip() == UI_HEADER_VALUE.encode("ascii")
               for name, value in headers)
