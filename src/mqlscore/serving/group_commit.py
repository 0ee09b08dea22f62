"""Group commit of ``POST /events``: one writer thread per worker takes the requests
waiting, checks them by the contract and writes them together, in one pass and one
transaction, and answers each.

The fixed cost of the contract's check and of a transaction is most of a small
request's, so a worker answering hundreds of one-event requests a second would
otherwise spend its time on it. Requests queue here from the event loop
(:meth:`GroupCommit.submit_async`, no thread of their own while they wait) or from
any thread (:meth:`GroupCommit.submit`); the writer answers an event loop's requests
of one group with one wake-up of that loop.

While requests stream in concurrently (the oldest waiting arrived while another was
in flight) the writer waits a little for more before it writes: until the queue holds
``group_target_events`` or its oldest request has waited ``group_linger_ms``. A lone
request, or a sender's next request after its last answer, is written at once (a
sender posting one request after another is never slowed), and no request waits
longer than that for others.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from mqlscore.config import StoreConfig

# What the writer does with a group: each request's answer, or the exception it ends with.
WriteGroup = Callable[[list[list[Any]]], Sequence[Any]]


class GroupCommit:
    """The queue of one worker's ``POST /events`` requests and the thread writing them."""

    def __init__(self, write_group: WriteGroup, config: StoreConfig) -> None:
        self.write_group = write_group
        self.config = config
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._waiting: deque[_Pending] = deque()
        self._waiting_events = 0
        self._writer_idle = False  # the writer waits for a request (not lingering)
        self._in_flight = 0  # requests queued or being written
        self._thread: threading.Thread | None = None
        self._closing = False

    def submit(self, events: list[Any]) -> Any:
        """Queue one request's events and wait for its answer (raises its refusal)."""
        request = _Pending(events)
        self._enqueue(request)
        request.done.wait()
        return request.outcome()

    async def submit_async(self, events: list[Any]) -> Any:
        """:meth:`submit` for the event loop: the request waits without a thread."""
        loop = asyncio.get_running_loop()
        request = _Pending(events, loop)
        self._enqueue(request)
        return await request.future

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the writer."""
        with self._lock:
            self._closing = True
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    # -- the queue ------------------------------------------------------------------
    def _enqueue(self, request: _Pending) -> None:
        with self._lock:
            if self._closing:
                raise RuntimeError("the lead store is closing")
            request.arrived = time.monotonic()
            request.concurrent = self._in_flight > 0
            self._in_flight += 1
            self._waiting.append(request)
            self._waiting_events += len(request.events)
            # Woken only when it matters: a writer lingering for a fuller group is not
            # woken by every arrival, only once the group is full.
            if self._writer_idle or self._waiting_events >= self.config.group_target_events:
                self._changed.notify()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="mqlscore-events-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            group = self._next_group()
            if group is None:
                return
            self._write(group)

    def _next_group(self) -> list[_Pending] | None:
        """The requests at the head of the queue, up to ``max_events_per_request`` events
        (the first always), after lingering; None once closed and drained."""
        with self._lock:
            while not self._waiting:
                if self._closing:
                    return None
                self._writer_idle = True
                self._changed.wait()
                self._writer_idle = False
            self._linger()
            group = [self._waiting.popleft()]
            total = len(group[0].events)
            while self._waiting and total + len(self._waiting[0].events) <= self.config.max_events_per_request:
                total += len(self._waiting[0].events)
                group.append(self._waiting.popleft())
            self._waiting_events -= total
            return group

    def _linger(self) -> None:
        """With the lock held: when the oldest request came while another was in flight,
        wait until the queue holds ``group_target_events`` or that request has waited
        ``group_linger_ms``."""
        linger = self.config.group_linger_ms / 1000
        if linger <= 0 or not self._waiting[0].concurrent:
            return
        deadline = self._waiting[0].arrived + linger
        while self._waiting_events < self.config.group_target_events and not self._closing:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._changed.wait(left)

    def _write(self, group: list[_Pending]) -> None:
        try:
            outcomes = list(self.write_group([r.events for r in group]))
        except BaseException as exc:  # noqa: BLE001 - the database failed: the whole group fails with it
            outcomes = [exc] * len(group)
        with self._lock:
            self._in_flight -= len(group)
        loops: dict[asyncio.AbstractEventLoop, list[tuple[_Pending, Any]]] = {}
        for request, outcome in zip(group, outcomes, strict=True):
            if request.loop is None:
                request.settle(outcome)
            else:
                loops.setdefault(request.loop, []).append((request, outcome))
        for loop, settled in loops.items():
            try:
                loop.call_soon_threadsafe(_settle_all, settled)
            except RuntimeError:  # that event loop has closed: nobody waits for these answers
                pass


class _Pending:
    """One request in the queue: its events, then its answer (or the exception it ends with)."""

    __slots__ = ("arrived", "concurrent", "done", "events", "future", "loop", "outcome_")

    def __init__(self, events: list[Any], loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.events = events
        self.arrived = 0.0
        self.concurrent = False  # it arrived while another request was in flight
        self.loop = loop
        self.future: asyncio.Future[Any] | None = loop.create_future() if loop is not None else None
        self.done = threading.Event() if loop is None else None
        self.outcome_: Any = None

    def settle(self, outcome: Any) -> None:
        """Its answer or exception, from the writer thread (a thread's request)."""
        self.outcome_ = outcome
        assert self.done is not None
        self.done.set()

    def outcome(self) -> Any:
        if isinstance(self.outcome_, BaseException):
            raise self.outcome_
        return self.outcome_


def _settle_all(settled: list[tuple[_Pending, Any]]) -> None:
    """On the event loop: each waiting request's answer or exception (a request whose
    client went away was cancelled and needs none)."""
    for request, outcome in settled:
        future = request.future
        if future is None or future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
