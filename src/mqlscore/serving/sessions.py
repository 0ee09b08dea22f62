"""The lead card's sign-in sessions: signed tokens that expire, a revocation list
that every worker sees, and a brake on repeated wrong keys.

The service runs several worker processes that share no memory, and a browser's
requests land on any of them. So a session is not kept in a worker's memory: the
cookie carries it, signed. It holds a random session id, the time of sign-in and
the time it was last renewed, with an HMAC-SHA256 over them under a key derived
from the API key (never the key itself; a new key ends every session). Any worker
checks it alone, in constant time. What a signed token cannot say by itself is
"signed out": sign-out writes the session id into a small SQLite file that all
workers of the machine read (:class:`SessionStore`, WAL mode), kept only until the
session would have expired anyway. The same file counts wrong keys per client
address, so the brake holds across workers.

- a session ends after :attr:`LeadCardConfig.session_idle_hours` without a request
  (the cookie is renewed at most every :data:`RENEW_SECONDS` while in use) and
  :attr:`LeadCardConfig.session_max_hours` after sign-in, whatever happens;
- :attr:`LeadCardConfig.sign_in_attempts` wrong keys from one address within
  :attr:`LeadCardConfig.sign_in_window_seconds` lock sign-in from that address
  (``429`` with ``Retry-After``) until the oldest of them is a window old.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from mqlscore.config import LeadCardConfig

SESSIONS_DB_ENV = "MQLSCORE_UI_SESSIONS_DB"  # the shared SQLite file (default: in the BentoML home)
SESSIONS_DB_NAME = "ui-sessions.sqlite"
RENEW_SECONDS = 300  # a session in use gets a fresh cookie (new "last seen") at most this often
_VERSION = "s1"
_KEY_LABEL = b"mqlscore lead card session key v1"


def lead_card_config(service_config: object | None) -> LeadCardConfig:
    """The lead card's settings of a service configuration (its ``lead_card``), else the defaults."""
    found = getattr(service_config, "lead_card", None)
    return found if isinstance(found, LeadCardConfig) else LeadCardConfig()


class SessionStoreError(RuntimeError):
    """The shared session file cannot be read or written."""


class SessionStore:
    """Revoked session ids and recent wrong keys, in one SQLite file shared by the
    workers (a connection per process, guarded by a lock for the threads)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> SessionStore:
        """``MQLSCORE_UI_SESSIONS_DB``, else ``<BentoML home>/mqlscore/ui-sessions.sqlite``
        (the folder every worker of the service already reads its model from)."""
        env = environ if environ is not None else os.environ
        given = env.get(SESSIONS_DB_ENV, "").strip()
        if given:
            return cls(given)
        home = env.get("BENTOML_HOME") or str(Path.home() / "bentoml")
        return cls(Path(home) / "mqlscore" / SESSIONS_DB_NAME)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():  # a forked worker opens its own
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                conn = sqlite3.connect(self.path, timeout=5, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("CREATE TABLE IF NOT EXISTS revoked (sid TEXT PRIMARY KEY, until REAL NOT NULL)")
                conn.execute("CREATE TABLE IF NOT EXISTS failures (address TEXT NOT NULL, at REAL NOT NULL)")
                conn.execute("CREATE INDEX IF NOT EXISTS failures_by_address ON failures (address, at)")
            except (OSError, sqlite3.Error) as exc:
                raise SessionStoreError(f"cannot open the lead card's session file {self.path}: {exc}") from None
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def _run(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._connection().execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise SessionStoreError(f"the lead card's session file {self.path} failed: {exc}") from None

    def revoke(self, sid: str, until: float, now: float) -> None:
        """Record that session ``sid`` is over (kept until ``until``, when it expires anyway)."""
        self._run("DELETE FROM revoked WHERE until < ?", (now,))
        self._run("INSERT OR REPLACE INTO revoked (sid, until) VALUES (?, ?)", (sid, until))

    def is_revoked(self, sid: str) -> bool:
        """True when ``sid`` was signed out."""
        return bool(self._run("SELECT 1 FROM revoked WHERE sid = ?", (sid,)))

    def add_failure(self, address: str, now: float, window: float) -> None:
        """Count one wrong key from ``address`` (and forget those older than the window)."""
        self._run("DELETE FROM failures WHERE at < ?", (now - window,))
        self._run("INSERT INTO failures (address, at) VALUES (?, ?)", (address, now))

    def failures(self, address: str, since: float) -> list[float]:
        """The times of wrong keys from ``address`` since ``since``, oldest first."""
        return [row[0] for row in self._run("SELECT at FROM failures WHERE address = ? AND at > ? ORDER BY at",
                                            (address, since))]

    def clear_failures(self, address: str) -> None:
        """Forget the wrong keys of ``address`` (after a right one)."""
        self._run("DELETE FROM failures WHERE address = ?", (address,))


@dataclass(frozen=True)
class Session:
    """A checked session: its id, when it was signed in and last renewed (epoch seconds)."""

    sid: str
    issued: int
    seen: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class LeadCardSessions:
    """Issues and checks the lead card's session cookies for one API key.

    ``clock`` gives the time in epoch seconds (tests move it)."""

    def __init__(self, key: bytes, store: SessionStore, config: LeadCardConfig | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._mac_key = hmac.new(key, _KEY_LABEL, hashlib.sha256).digest()
        self.store = store
        self.config = config or LeadCardConfig()
        self.clock = clock

    @property
    def idle_seconds(self) -> float:
        """How long an unused session lasts."""
        return self.config.session_idle_hours * 3600

    @property
    def max_seconds(self) -> float:
        """How long any session lasts after sign-in."""
        return self.config.session_max_hours * 3600

    def _sign(self, sid: str, issued: int, seen: int) -> str:
        body = f"{_VERSION}.{sid}.{issued}.{seen}"
        mac = hmac.new(self._mac_key, body.encode("ascii"), hashlib.sha256).digest()
        return f"{body}.{_b64(mac)}"

    def issue(self) -> str:
        """A new session's cookie value: a fresh random id, signed."""
        now = int(self.clock())
        return self._sign(_b64(secrets.token_bytes(18)), now, now)

    def renewed(self, session: Session) -> str:
        """The cookie value of ``session`` seen now (same id and sign-in time)."""
        return self._sign(session.sid, session.issued, int(self.clock()))

    def needs_renewal(self, session: Session) -> bool:
        """True when the cookie's "last seen" is old enough to be renewed."""
        return self.clock() - session.seen >= min(RENEW_SECONDS, self.idle_seconds / 4)

    def check(self, token: str | bytes) -> Session | None:
        """The session of a cookie value when its signature is right (constant time),
        it has not expired and was not signed out; None otherwise."""
        try:
            text = token.decode("ascii") if isinstance(token, bytes) else token
            version, sid, issued_text, seen_text, mac = text.strip().split(".")
            if version != _VERSION or not (issued_text.isdigit() and seen_text.isdigit()):
                return None
            issued, seen = int(issued_text), int(seen_text)
        except (ValueError, UnicodeDecodeError):
            return None
        expected = self._sign(sid, issued, seen).rsplit(".", 1)[1]
        if not hmac.compare_digest(mac.encode("ascii"), expected.encode("ascii")):
            return None
        now = self.clock()
        if issued > now + 60 or seen < issued or seen > now + 60:  # signed by us, but not by this clock
            return None
        if now - issued > self.max_seconds or now - seen > self.idle_seconds:
            return None
        if self.store.is_revoked(sid):
            return None
        return Session(sid, issued, seen)

    def check_cookies(self, headers: Iterable[tuple[bytes, bytes]], name: str) -> Session | None:
        """The valid session among the request's cookies called ``name``, if any."""
        wanted = name.encode("ascii")
        for header, value in headers:
            if header.lower() != b"cookie":
                continue
            for part in value.split(b";"):
                cname, _, cvalue = part.strip().partition(b"=")
                if cname == wanted:
                    session = self.check(cvalue)
                    if session is not None:
                        return session
        return None

    def revoke(self, session: Session) -> None:
        """Sign ``session`` out on every worker (SessionStoreError when it cannot be recorded)."""
        self.store.revoke(session.sid, session.issued + self.max_seconds + 60, self.clock())

    def retry_after(self, address: str) -> int:
        """Seconds until ``address`` may try a key again (0: now)."""
        now = self.clock()
        window = self.config.sign_in_window_seconds
        recent = self.store.failures(address, now - window)
        if len(recent) < self.config.sign_in_attempts:
            return 0
        oldest_counted = recent[-self.config.sign_in_attempts]
        return max(1, math.ceil(oldest_counted + window - now))

    def wrong_key(self, address: str) -> None:
        """Count a wrong key from ``address``."""
        self.store.add_failure(address, self.clock(), self.config.sign_in_window_seconds)

    def right_key(self, address: str) -> None:
        """A right key from ``address`` clears its count."""
        self.store.clear_failures(address)
