"""Posting hand-offs to a webhook: signed, one at a time, in cursor order, retried forever.

Every hand-off the store numbers is POSTed to the target URL as JSON (the
hand-off with ``at``/``recorded_at`` as ISO-8601 UTC text and its ``cursor``),
with the headers

- ``X-MQLScore-Cursor``: the hand-off's cursor (a receiver drops one it has seen);
- ``X-MQLScore-Timestamp``: the Unix seconds the request was signed at;
- ``X-MQLScore-Signature``: ``sha256=`` and the hex HMAC-SHA256, keyed with
  ``MQLSCORE_WEBHOOK_SECRET``, of ``"<timestamp>.<body bytes>"``
  (check it with :func:`verify_signature`).

A 2xx answer means delivered; anything else (another status, a redirect, a
refused or dropped connection, a timeout) is retried, the SAME hand-off again,
after 1 s, 2 s, 4 s, ... up to ``webhook_max_backoff_seconds``, for as long as
it takes: a hand-off is never skipped, and the next one waits for it.

How far a target has been delivered (``delivered_through``) lives in the store's
``deliveries`` row for the target (its URL without credentials or query), written
in a transaction of its own after each 2xx, so a restarted worker resumes after
the last acknowledged cursor. Several workers may run a sender for one target:
only the holder of the row's lease sends (``lease_until``, wall-clock
microseconds, taken and renewed by compare-and-set on the value the holder wrote
last), so two workers never send the same cursor at the same time, and a killed
worker's lease runs out and another worker takes over. The lease lasts
``lease_seconds``, and at least twice the request timeout plus a second, and is
renewed before a request whenever less than the timeout plus a second is left, so
a request ends inside the lease that covered its start. (The timeout bounds each
socket operation: a receiver that trickles its answer byte by byte can stretch a
request beyond it; the workers' clocks are assumed to agree to well within a
lease.)

Delivery is **at least once**, not exactly once: a worker that dies (or loses
the database) after the receiver answered 2xx but before the progress is written
leaves that cursor to be sent again by whoever sends next. The repeat carries the
same ``X-MQLScore-Cursor``, so a receiver that keeps the highest cursor it has
processed (cursors only grow) drops it.

Failures are logged on ``mqlscore.store``, one line each, with the cursor and the
reason (a status code or an exception's class name); never the body, the URL's
query or its credentials.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from mqlscore.config import StoreConfig
from mqlscore.store.database import Cursor
from mqlscore.store.repository import LeadStore, stamp, wall_us

log = logging.getLogger("mqlscore.store")

CURSOR_HEADER = "X-MQLScore-Cursor"
TIMESTAMP_HEADER = "X-MQLScore-Timestamp"
SIGNATURE_HEADER = "X-MQLScore-Signature"
SIGNATURE_PREFIX = "sha256="
USER_AGENT = "mqlscore-webhook"
PAGE = 100  # hand-offs read from the store at a time
MARGIN_SECONDS = 1.0  # lease left over a request's timeout before it may start
NO_LEASE = -1  # never a stored lease_until (they are 0 or a wall-clock time)


def sign(secret: str | bytes, timestamp: int | str, body: bytes) -> str:
    """The ``X-MQLScore-Signature`` value of a body sent at ``timestamp`` (Unix seconds)."""
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    digest = hmac.new(key, f"{timestamp}.".encode() + bytes(body), hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify_signature(secret: str | bytes, timestamp: int | str, body: bytes, signature: str,
                     max_age_seconds: float | None = None, now: float | None = None) -> bool:
    """Whether ``signature`` (the ``X-MQLScore-Signature`` header) signs ``body`` sent at
    ``timestamp`` (the ``X-MQLScore-Timestamp`` header) with ``secret``; compared in
    constant time. With ``max_age_seconds``, a timestamp further than that from ``now``
    (default: the machine's time) is refused too, so a captured request cannot be replayed
    later. Receivers should verify the raw body bytes, before parsing them."""
    if not secret or not isinstance(signature, str) or not signature.startswith(SIGNATURE_PREFIX):
        return False
    try:
        seconds = int(str(timestamp).strip())
    except ValueError:
        return False
    if max_age_seconds is not None:
        moment = time.time() if now is None else now
        if abs(moment - seconds) > max_age_seconds:
            return False
    expected = sign(secret, str(timestamp).strip(), body)
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


def backoff_seconds(failures: int, cap: float) -> float:
    """The wait after the ``failures``-th failure in a row: 1 s, 2 s, 4 s, ... at most ``cap``."""
    if failures <= 0:
        return 0.0
    return float(min(cap, 2.0 ** min(failures - 1, 62)))


def target_of(url: str) -> str:
    """A webhook URL as its delivery target: without credentials, query or fragment
    (the key of its ``deliveries`` row, and what logs and status show)."""
    parts = urlsplit(url.strip())
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme.lower(), host.lower(), parts.path or "/", "", ""))


def payload(handoff: dict[str, Any]) -> bytes:
    """The JSON body of one hand-off: its fields, times as ISO-8601 UTC text ending in ``Z``."""
    out = {key: _plain(value) for key, value in handoff.items()}
    for key in ("at", "recorded_at"):
        if out.get(key) is not None:
            out[key] = stamp(int(out[key])).isoformat().replace("+00:00", "Z")
    return json.dumps(out, separators=(",", ":"), allow_nan=False).encode()


def _plain(value: Any) -> Any:
    """JSON-safe: a non-finite number becomes null (a receiver's parser may refuse NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is not an acknowledgement: urllib would turn the POST into a GET of
    the new location and take that GET's 2xx for delivery."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


class WebhookSender:
    """Sends a store's hand-offs to one webhook URL, in a daemon thread
    (:meth:`start` / :meth:`stop`) or a pass at a time (:meth:`deliver_once`).

    ``secret`` signs every request (ValueError without one). ``wait(event, seconds)``
    is how the thread pauses between passes (default ``event.wait``: :meth:`stop` and
    :meth:`wake` end the pause at once); tests may pass their own. A worker holding the
    lease writes its ``deliveries`` row once per pass (at most every ``scan_seconds``
    while idle) to keep it."""

    def __init__(self, store: LeadStore, url: str, secret: str, config: StoreConfig | None = None,
                 wait: Callable[[threading.Event, float], Any] | None = None) -> None:
        if not secret or not secret.strip():
            raise ValueError("a webhook without MQLSCORE_WEBHOOK_SECRET is unsigned: set the secret the receiver "
                             "checks X-MQLScore-Signature with")
        parts = urlsplit(url.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not a webhook URL: {target_of(url)!r} (http:// or https://)")
        self.store = store
        self.config = config or store.config
        self.target = target_of(url)
        self._secret = secret.encode()
        # The request goes to the URL as given (its query included) but without userinfo,
        # which urllib cannot send: credentials in it become a Basic Authorization header.
        self._request_url = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path or "/",
                                        parts.query, ""))
        self._auth = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            self._auth = "Basic " + base64.b64encode(pair).decode()
        self._opener = urllib.request.build_opener(_NoRedirects())
        self.timeout = float(self.config.webhook_timeout_seconds)
        self.lease_us = int(max(self.config.lease_seconds, 2 * self.timeout + MARGIN_SECONDS) * 1e6)
        self._wait = wait or (lambda event, seconds: event.wait(seconds))
        self._token = NO_LEASE  # the lease_until this sender wrote last
        self._through = 0  # delivered_through as of our last look at the row
        self._attempts = 0  # failures in a row of the next hand-off
        self._last_error: str | None = None
        self._retry_at = 0.0  # monotonic time before which the next hand-off is not due
        self._lock = threading.Lock()  # one pass at a time per sender
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.loop_error: str | None = None  # the last error of the loop itself (the database), if any

    def __repr__(self) -> str:
        return f"WebhookSender({self.target!r})"

    # -- the thread ------------------------------------------------------------------
    def start(self) -> WebhookSender:
        """Start delivering in a daemon thread; returns self."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="mqlscore-webhook", daemon=True)
            self._thread.start()
        return self

    def wake(self) -> None:
        """Look for new hand-offs now rather than at the next scan."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (a request in flight is let finish, up to ``timeout``) and give
        the lease back, so another worker takes over at once."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                self._release()

    @property
    def running(self) -> bool:
        """Whether the delivery thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_once()
                self.loop_error = None
            except Exception as exc:  # noqa: BLE001 - a database hiccup must not end delivery for good
                self.loop_error = type(exc).__name__
                log.warning("webhook %s: delivery pass failed (%s); trying again in %.1f s", self.target,
                            self.loop_error, self.config.scan_seconds)
            self._wait(self._wake, self._pause())
            self._wake.clear()

    def _pause(self) -> float:
        """How long the loop may sleep: until the next retry is due, a scan has passed,
        or the lease needs renewing, whichever comes first."""
        pause = float(self.config.scan_seconds)
        if self._token != NO_LEASE:
            left = (self._token - wall_us()) / 1e6 - self.timeout - MARGIN_SECONDS
            pause = min(pause, max(left, 0.05))
            if self._retry_at:
                pause = min(pause, max(self._retry_at - time.monotonic(), 0.0))
        return max(pause, 0.01)

    # -- one pass --------------------------------------------------------------------
    def deliver_once(self) -> int:
        """Send what is due now, in cursor order, while this sender holds the target's
        lease; how many hand-offs were delivered (answered 2xx, progress stored). Stops
        at the first failure, which is retried after its backoff by a later pass."""
        with self._lock:
            if self._stop.is_set() or not self._hold(force=True):  # a stopped sender has given its lease back
                return 0
            if time.monotonic() < self._retry_at:
                return 0
            delivered = 0
            while not self._stop.is_set():
                page = self.store.handoffs_after(self._through, PAGE)
                if not page:
                    break
                for handoff in page:
                    if self._stop.is_set() or not self._hold():
                        return delivered
                    if int(handoff["cursor"]) <= self._through:  # another holder got further meanwhile
                        continue
                    if not self._send(handoff):
                        return delivered
                    delivered += 1
            return delivered

    def _send(self, handoff: dict[str, Any]) -> bool:
        """POST one hand-off; True once it is acknowledged and its progress stored."""
        cursor = int(handoff["cursor"])
        body = payload(handoff)
        stamp_s = int(time.time())
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, CURSOR_HEADER: str(cursor),
                   TIMESTAMP_HEADER: str(stamp_s), SIGNATURE_HEADER: sign(self._secret, stamp_s, body)}
        if self._auth is not None:
            headers["Authorization"] = self._auth
        request = urllib.request.Request(self._request_url, data=body, headers=headers, method="POST")
        reason = None
        try:
            # The opener raises HTTPError for any status outside 2xx (redirects included, see above).
            with self._opener.open(request, timeout=self.timeout):
                pass
        except urllib.error.HTTPError as exc:
            reason = f"HTTP {exc.code}"
            exc.close()
        except urllib.error.URLError as exc:
            # The cause's class (ConnectionRefusedError, TimeoutError, ...): its text may hold the host.
            cause = exc.reason
            reason = type(cause).__name__ if isinstance(cause, BaseException) else type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - a dropped connection, a timeout reading the answer, ...
            reason = type(exc).__name__
        if reason is None:
            token = self.store.db.run(self._progress, cursor)
            if token is not None:
                self._token = token  # only once committed: the local lease never outlasts the stored one
                self._through, self._attempts, self._last_error, self._retry_at = cursor, 0, None, 0.0
                return True
            # Acknowledged, but our lease was gone: the new holder will send it again (at least once).
            log.warning("webhook %s: hand-off %d acknowledged after this worker's lease ran out; "
                        "it will be sent again", self.target, cursor)
            self._token = NO_LEASE
            return False
        row = self.store.db.run(self._failure, reason)
        if row is None:
            self._token = NO_LEASE
            attempts = self._attempts + 1
        else:
            attempts, self._token = row
        self._attempts, self._last_error = attempts, reason
        delay = backoff_seconds(attempts, self.config.webhook_max_backoff_seconds)
        self._retry_at = time.monotonic() + delay
        log.warning("webhook %s: hand-off %d not delivered (%s, attempt %d); retrying in %.1f s", self.target,
                    cursor, reason, attempts, delay)
        return False

    # -- the deliveries row --------------------------------------------------------------
    def _hold(self, force: bool = False) -> bool:
        """Whether this sender holds the target's lease, taking or renewing it when it
        is free or running short (``force``: look at the row whatever is left)."""
        if not force and self._token != NO_LEASE \
                and self._token - wall_us() >= (self.timeout + MARGIN_SECONDS) * 1e6:
            return True
        row = self.store.db.run(self._take)
        if row is None:
            if self._token != NO_LEASE:
                log.info("webhook %s: another worker is sending now", self.target)
            self._token = NO_LEASE
            return False
        through, attempts = int(row[0]), int(row[1])
        if through != self._through or self._token == NO_LEASE:
            self._retry_at = 0.0  # new ground (taken over, or another worker moved on): due now
        self._through, self._attempts = through, attempts
        self._token = int(row[2])
        return True

    def _take(self, cur: Cursor) -> tuple | None:
        """Take the lease if it is free, expired or ours (compare-and-set on the value we
        wrote last); (delivered_through, attempts, the new lease), or None: another holds it."""
        now = wall_us()
        until = max(now + self.lease_us, self._token + 1)  # a new value each time: it is our token
        cur.execute("INSERT INTO deliveries (target, delivered_through, lease_until, attempts) VALUES (?, 0, 0, 0) "
                    "ON CONFLICT (target) DO NOTHING", (self.target,))
        cur.execute("UPDATE deliveries SET lease_until = ? WHERE target = ? AND (lease_until = ? OR lease_until < ?) "
                    "RETURNING delivered_through, attempts, lease_until", (until, self.target, self._token, now))
        return cur.fetchone()

    def _progress(self, cur: Cursor, cursor: int) -> int | None:
        """Store ``cursor`` as delivered and renew the lease, if it is still ours; the new lease."""
        until = max(wall_us() + self.lease_us, self._token + 1)
        cur.execute("UPDATE deliveries SET delivered_through = ?, attempts = 0, last_error = NULL, lease_until = ? "
                    "WHERE target = ? AND lease_until = ? AND delivered_through < ? RETURNING lease_until",
                    (cursor, until, self.target, self._token, cursor))
        row = cur.fetchone()
        return None if row is None else int(row[0])

    def _failure(self, cur: Cursor, reason: str) -> tuple[int, int] | None:
        """Count a failed attempt and renew the lease, if it is still ours; (attempts, the new lease)."""
        until = max(wall_us() + self.lease_us, self._token + 1)
        cur.execute("UPDATE deliveries SET attempts = attempts + 1, last_error = ?, lease_until = ? "
                    "WHERE target = ? AND lease_until = ? RETURNING attempts, lease_until",
                    (reason, until, self.target, self._token))
        row = cur.fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def _release(self) -> None:
        if self._token == NO_LEASE:
            return
        token = self._token
        try:
            self.store.db.run(lambda cur: cur.execute(
                "UPDATE deliveries SET lease_until = 0 WHERE target = ? AND lease_until = ?", (self.target, token)))
        except Exception as exc:  # noqa: BLE001 - the lease then simply runs out
            log.warning("webhook %s: could not give the lease back (%s); it runs out by itself", self.target,
                        type(exc).__name__)
        self._token = NO_LEASE

    # -- what it has done ----------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The target (no credentials, no query), how far it has been delivered, the
        failures in a row of the next hand-off and the last one's reason, whichever
        worker is sending; never the secret or a body."""
        out = {"target": self.target, "delivered_through": self._through, "attempts": self._attempts,
               "last_error": self._last_error, "sending": self._token != NO_LEASE and self._token > wall_us(),
               "running": self.running, "loop_error": self.loop_error}
        try:
            with self.store.db.read() as cur:
                cur.execute("SELECT delivered_through, attempts, last_error FROM deliveries WHERE target = ?",
                            (self.target,))
                row = cur.fetchone()
            if row is not None:
                out.update(delivered_through=int(row[0]), attempts=int(row[1]), last_error=row[2])
        except Exception as exc:  # noqa: BLE001 - status must answer while the database is away
            out["loop_error"] = type(exc).__name__
        return out
