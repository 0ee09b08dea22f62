"""The hand-off webhook against a real HTTP receiver on 127.0.0.1: every hand-off once, in
cursor order, signed; failures retried with backoff and nothing lost; a restarted sender
resumes where delivery stopped; two senders on one store never send a cursor twice; a
killed worker's lease runs out; an unsigned webhook is refused; no secret in status or logs."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mqlscore.config import StoreConfig
from mqlscore.contract.schema import TIERS
from mqlscore.store import LeadStore
from mqlscore.store.repository import Handoff
from mqlscore.store.webhook import WebhookSender, backoff_seconds, verify_signature

SECRET = "test-webhook-secret-1234"
AT = 1_772_366_400_000_000  # 2026-03-01T12:00:00Z in microseconds
RECORDED = AT + 5_000_000
FAST = StoreConfig(webhook_max_backoff_seconds=0.2, lease_seconds=2, webhook_timeout_seconds=0.5, scan_seconds=0.05)


class Receiver:
    """A webhook receiver: records every request and answers as its script says
    ("ok", "500", "drop" the connection, "slow" past the sender's timeout, "302"), then "ok"."""

    def __init__(self, delay: float = 0.0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[str] = []
        self.delay = delay
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # a followed redirect would arrive here
                with receiver.lock:
                    receiver.requests.append({"method": "GET", "path": self.path, "action": "get"})
                self.send_response(200)
                self.end_headers()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.in_flight += 1
                    receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
                    action = receiver.script.pop(0) if receiver.script else "ok"
                    # self.headers, not a dict of it: header names are case-insensitive.
                    receiver.requests.append({"method": "POST", "path": self.path, "headers": self.headers,
                                              "body": body, "action": action, "t": time.monotonic()})
                try:
                    time.sleep(receiver.delay)
                    if action == "drop":
                        self.close_connection = True
                        return
                    if action == "slow":
                        time.sleep(1.0)
                    if action == "302":
                        self.send_response(302)
                        self.send_header("Location", "/elsewhere")
                        self.end_headers()
                        return
                    self.send_response(200 if action == "ok" else 500)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                finally:
                    with receiver.lock:
                        receiver.in_flight -= 1

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def acked(self) -> list[int]:
        """Cursors of the POSTs answered 2xx, in arrival order."""
        with self.lock:
            return [int(r["headers"]["X-MQLScore-Cursor"]) for r in self.requests
                    if r["method"] == "POST" and r["action"] == "ok"]

    def posts(self) -> list[dict[str, Any]]:
        """Every POST received."""
        with self.lock:
            return [r for r in self.requests if r["method"] == "POST"]

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new store on SQLite, or on PostgreSQL (skipped when it cannot start here)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/s.db"
    return request.getfixturevalue("postgres_db")


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Callable[[str | None], LeadStore]]:
    """Opens LeadStores (each with its own connections, as separate workers have) and closes them."""
    opened: list[LeadStore] = []

    def open_store(url: str | None = None) -> LeadStore:
        store = LeadStore(url or f"sqlite:///{tmp_path}/s.db", FAST)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()


def add_handoffs(store: LeadStore, n: int, first: int = 0) -> list[int]:
    """Record ``n`` hand-offs; their cursors."""
    handoffs = [Handoff(lead_id=f"L{first + i}", account_id="A1", direction="up", cause="event",
                        at=AT + (first + i) * 1_000_000, probability=0.8, score=720.0, tier=TIERS[0], threshold=0.5,
                        model_name="mql", model_version="3", reasons=[{"signal": "pricing_page", "weight": 0.4}])
                for i in range(n)]
    return store.save([], handoffs, RECORDED)


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Poll until ``condition`` holds; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_backoff_doubles_from_one_second_up_to_the_cap() -> None:
    assert [backoff_seconds(n, 300) for n in range(1, 11)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]
    assert backoff_seconds(5, 3.5) == 3.5 and backoff_seconds(10_000, 300) == 300
    assert backoff_seconds(1, 0.2) == 0.2


def test_every_handoff_is_delivered_once_in_cursor_order_and_signed(store_url: str, receiver: Receiver,
                                                                    stores) -> None:
    store = stores(store_url)
    first = add_handoffs(store, 3)
    sender = WebhookSender(store, receiver.url, SECRET, FAST).start()
    try:
        wait_for(lambda: len(receiver.acked()) == 3)
        more = add_handoffs(store, 2, first=3)  # recorded while the sender runs
        sender.wake()
        wait_for(lambda: len(receiver.acked()) == 5)
        time.sleep(0.2)  # nothing more comes
    finally:
        sender.stop()
    cursors = first + more
    assert cursors == [1, 2, 3, 4, 5]
    assert receiver.acked() == cursors and len(receiver.posts()) == 5
    stored = {h["cursor"]: h for h in store.handoffs_after(0, 100)}
    for request in receiver.posts():
        headers, body = request["headers"], request["body"]
        assert headers["Content-Type"] == "application/json"
        assert verify_signature(SECRET, headers["X-MQLScore-Timestamp"], body, headers["X-MQLScore-Signature"],
                                max_age_seconds=60)
        assert not verify_signature("another-secret", headers["X-MQLScore-Timestamp"], body,
                                    headers["X-MQLScore-Signature"])
        assert not verify_signature(SECRET, headers["X-MQLScore-Timestamp"], body.replace(b"L", b"M"),
                                    headers["X-MQLScore-Signature"])
        assert not verify_signature(SECRET, int(headers["X-MQLScore-Timestamp"]) + 1, body,
                                    headers["X-MQLScore-Signature"])
        assert not verify_signature(SECRET, headers["X-MQLScore-Timestamp"], body, headers["X-MQLScore-Signature"],
                                    max_age_seconds=60, now=time.time() + 3600)  # a replay an hour later
        sent = json.loads(body)
        cursor = int(headers["X-MQLScore-Cursor"])
        assert sent["cursor"] == cursor
        want = stored[cursor]
        assert sent["at"] == f"2026-03-01T12:00:0{cursor - 1}Z" and sent["recorded_at"] == "2026-03-01T12:00:05Z"
        assert {k: v for k, v in sent.items() if k not in ("at", "recorded_at")} == \
            {k: v for k, v in want.items() if k not in ("at", "recorded_at")}
    status = sender.status()
    assert status["delivered_through"] == 5 and status["attempts"] == 0 and status["last_error"] is None
    assert not sender.running


def test_failures_are_retried_with_backoff_and_nothing_is_lost(receiver: Receiver, stores,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    store = stores(None)
    add_handoffs(store, 4)
    receiver.script = ["500", "drop", "slow", "500"]
    caplog.set_level(logging.INFO, logger="mqlscore.store")
    sender = WebhookSender(store, receiver.url, SECRET, FAST).start()
    try:
        wait_for(lambda: len(receiver.acked()) == 4)
        time.sleep(0.3)
    finally:
        sender.stop()
    posts = receiver.posts()
    # The first hand-off, sent five times, then each of the others once: never one skipped.
    assert [int(r["headers"]["X-MQLScore-Cursor"]) for r in posts] == [1, 1, 1, 1, 1, 2, 3, 4]
    assert receiver.acked() == [1, 2, 3, 4]
    assert len({r["body"] for r in posts[:5]}) == 1  # the SAME hand-off each time
    gaps = [b["t"] - a["t"] for a, b in zip(posts, posts[1:5])]
    assert all(gap >= 0.19 for gap in gaps), gaps  # the 0.2 s cap of 1 s, 2 s, ...
    failures = [r.getMessage() for r in caplog.records if "not delivered" in r.getMessage()]
    assert len(failures) == 4
    for message, reason in zip(failures, ["HTTP 500", "RemoteDisconnected", "TimeoutError", "HTTP 500"]):
        assert "hand-off 1 " in message and reason in message, message
    text = caplog.text
    assert "L0" not in text and "pricing_page" not in text and SECRET not in text
    assert sender.status()["delivered_through"] == 4 and sender.status()["last_error"] is None


def test_the_backoff_doubles_between_retries_of_a_thread(receiver: Receiver, stores) -> None:
    config = StoreConfig(webhook_max_backoff_seconds=1.5, lease_seconds=2, webhook_timeout_seconds=0.5,
                         scan_seconds=0.05)
    store = stores(None)
    add_handoffs(store, 1)
    receiver.script = ["500", "500"]
    sender = WebhookSender(store, receiver.url, SECRET, config).start()
    try:
        wait_for(lambda: receiver.acked() == [1])
    finally:
        sender.stop()
    t = [r["t"] for r in receiver.posts()]
    assert len(t) == 3
    assert 0.95 <= t[1] - t[0] < 1.45 and t[2] - t[1] >= 1.45, (t[1] - t[0], t[2] - t[1])


def test_a_failure_is_recorded_and_not_retried_before_its_backoff(receiver: Receiver, stores) -> None:
    store = stores(None)
    add_handoffs(store, 2)
    receiver.script = ["500"]
    sender = WebhookSender(store, receiver.url, SECRET, FAST)
    assert sender.deliver_once() == 0
    status = sender.status()
    assert (status["delivered_through"], status["attempts"], status["last_error"]) == (0, 1, "HTTP 500")
    assert sender.deliver_once() == 0 and len(receiver.posts()) == 1  # not due yet
    time.sleep(0.25)
    assert sender.deliver_once() == 2
    assert receiver.acked() == [1, 2]
    status = sender.status()
    assert (status["delivered_through"], status["attempts"], status["last_error"]) == (2, 0, None)
    sender.stop()


def test_a_redirect_is_not_a_delivery(receiver: Receiver, stores) -> None:
    store = stores(None)
    add_handoffs(store, 1)
    receiver.script = ["302"]
    sender = WebhookSender(store, receiver.url, SECRET, FAST)
    assert sender.deliver_once() == 0
    assert sender.status()["last_error"] == "HTTP 302"
    time.sleep(0.25)
    assert sender.deliver_once() == 1
    assert [r["method"] for r in receiver.requests] == ["POST", "POST"]  # the redirect was not followed
    sender.stop()


def test_a_restarted_sender_resumes_after_the_last_delivered_cursor(receiver: Receiver, stores) -> None:
    first = stores(None)
    add_handoffs(first, 3)
    before = WebhookSender(first, receiver.url, SECRET, FAST)
    assert before.deliver_once() == 3
    before.stop()
    first.close()
    # A new process: its own store connections, its own sender object.
    again = stores(None)
    add_handoffs(again, 2, first=3)
    after = WebhookSender(again, receiver.url, SECRET, FAST)
    assert after.status()["delivered_through"] == 3
    assert after.deliver_once() == 2
    assert receiver.acked() == [1, 2, 3, 4, 5] and len(receiver.posts()) == 5
    assert after.deliver_once() == 0
    after.stop()


def test_two_senders_on_one_store_never_send_a_cursor_twice(store_url: str, stores) -> None:
    receiver = Receiver(delay=0.01)
    try:
        a_store, b_store = stores(store_url), stores(store_url)
        add_handoffs(a_store, 10)
        a = WebhookSender(a_store, receiver.url, SECRET, FAST).start()
        b = WebhookSender(b_store, receiver.url, SECRET, FAST).start()
        try:
            for k in range(3):
                add_handoffs(b_store if k % 2 else a_store, 5, first=10 + 5 * k)
                time.sleep(0.05)
            wait_for(lambda: len(receiver.acked()) == 25, seconds=20)
            holder = a if a.status()["sending"] else b
            holder.stop()  # the other takes over at once
            add_handoffs(a_store, 3, first=25)
            wait_for(lambda: len(receiver.acked()) == 28, seconds=20)
            time.sleep(0.2)
        finally:
            a.stop()
            b.stop()
        assert receiver.acked() == list(range(1, 29))
        assert len(receiver.posts()) == 28 and receiver.max_in_flight == 1
    finally:
        receiver.close()


def test_a_killed_workers_lease_runs_out_and_another_takes_over(receiver: Receiver, stores) -> None:
    killed = WebhookSender(stores(None), receiver.url, SECRET, FAST)
    add_handoffs(killed.store, 2)
    assert killed.deliver_once() == 2  # then the worker dies: no stop, its lease is left behind
    taken_at = time.monotonic()
    other = WebhookSender(stores(None), receiver.url, SECRET, FAST)
    add_handoffs(other.store, 2, first=2)
    assert other.deliver_once() == 0 and not other.status()["sending"]
    wait_for(lambda: other.deliver_once() > 0, seconds=6)
    assert time.monotonic() - taken_at >= FAST.lease_seconds - 0.1
    assert killed.deliver_once() == 0  # had it only stalled, it finds its lease gone
    assert receiver.acked() == [1, 2, 3, 4] and len(receiver.posts()) == 4
    other.stop()


def test_an_unsigned_webhook_is_refused(receiver: Receiver, stores) -> None:
    store = stores(None)
    add_handoffs(store, 1)
    for secret in ("", "   "):
        with pytest.raises(ValueError, match="MQLSCORE_WEBHOOK_SECRET"):
            WebhookSender(store, receiver.url, secret, FAST).start()
    time.sleep(0.1)
    assert receiver.requests == []


def test_status_and_logs_show_no_secret_credentials_query_or_body(receiver: Receiver, stores,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    store = stores(None)
    add_handoffs(store, 1)
    receiver.script = ["500"]
    url = f"http://hook-user:hook-pass@127.0.0.1:{receiver.port}/hook?token=tok-123"
    caplog.set_level(logging.DEBUG, logger="mqlscore.store")
    sender = WebhookSender(store, url, SECRET, FAST)
    assert sender.deliver_once() == 0
    status = sender.status()
    assert status["target"] == f"http://127.0.0.1:{receiver.port}/hook"
    assert status["last_error"] == "HTTP 500"
    time.sleep(0.25)
    assert sender.deliver_once() == 1
    shown = json.dumps(sender.status()) + repr(sender) + caplog.text
    for secret in ("hook-user", "hook-pass", "tok-123", SECRET, "L0", "pricing_page"):
        assert secret not in shown, secret
    # The receiver still got the URL's query and its credentials (as Basic authorization).
    request = receiver.posts()[-1]
    assert request["path"] == "/hook?token=tok-123"
    assert base64.b64decode(request["headers"]["Authorization"].split()[1]) == b"hook-user:hook-pass"
    sender.stop()
