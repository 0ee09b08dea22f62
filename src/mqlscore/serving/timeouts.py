"""How long the service waits for a slow or silent client.

Each open connection holds a socket and a little memory in a worker; a client
that opens connections and never finishes its requests (slowloris) must not be
able to keep them forever. Three clocks, from the first byte to the last:

- **request head** (:data:`HEADER_SECONDS`): a connection must send a complete
  request line and headers within this time of opening, or of the end of the
  previous response; else it gets ``408`` (when it had sent part of a request)
  and is closed. uvicorn has no such clock (a connection that sends nothing, or
  half its headers, stays open forever), so :func:`install_header_timeout` adds
  one to uvicorn's HTTP protocol in the worker;
- **body** (:data:`BODY_IDLE_SECONDS`, :data:`BODY_TOTAL_SECONDS`): the guard
  answers ``408`` and closes the connection when the body stalls for longer than
  the first or is not complete after the second (``serving.guard.read_body``);
- **keep-alive** (:data:`KEEP_ALIVE_SECONDS`): an idle connection between
  requests is closed by uvicorn (``bentoml serve --timeout-keep-alive``).

The request itself is bounded by BentoML's ``traffic.timeout`` (60 s: 504), and a
shutdown waits at most :data:`GRACEFUL_SHUTDOWN_SECONDS` for requests in flight
(``bentoml serve --timeout-graceful-shutdown``). The size of the request head is
bounded by h11 (16 KiB: ``400`` beyond).
"""

from __future__ import annotations

import asyncio
from typing import Any

HEADER_SECONDS = 10.0
BODY_IDLE_SECONDS = 10.0
BODY_TOTAL_SECONDS = 30.0
KEEP_ALIVE_SECONDS = 5
GRACEFUL_SHUTDOWN_SECONDS = 30

_TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                     b"content-length: 27\r\nconnection: close\r\n\r\nrequest head not completed\n")


def serve_options() -> list[str]:
    """The ``bentoml serve`` options that set uvicorn's keep-alive and shutdown clocks."""
    return ["--timeout-keep-alive", str(KEEP_ALIVE_SECONDS),
            "--timeout-graceful-shutdown", str(GRACEFUL_SHUTDOWN_SECONDS)]


def install_header_timeout(seconds: float = HEADER_SECONDS) -> bool:
    """Give uvicorn's HTTP protocol (the one ``http="auto"`` picks, as BentoML's
    workers use) a request-head clock of ``seconds``. Called when the service is
    imported, before the worker starts uvicorn; returns False when uvicorn is
    missing or laid out differently (then only a proxy in front bounds slow heads)."""
    try:
        from uvicorn.protocols.http import auto
    except ImportError:
        return False
    base = getattr(auto, "AutoHTTPProtocol", None)
    if base is None:
        return False
    if getattr(base, "mqlscore_header_seconds", None) is not None:
        base.mqlscore_header_seconds = seconds
        return True
    needed = ("connection_made", "data_received", "on_response_complete", "connection_lost")
    if not all(hasattr(base, name) for name in needed):
        return False

    class HeadTimedProtocol(base):  # type: ignore[misc, valid-type]
        """uvicorn's protocol with a clock on the request head."""

        mqlscore_header_seconds = seconds

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._head_timer: asyncio.TimerHandle | None = None
            self._head_started = False
            self._arm_head_timer()

        def data_received(self, data: bytes) -> None:
            cycle = getattr(self, "cycle", None)
            super().data_received(data)
            if getattr(self, "cycle", None) is not cycle:  # a complete request head arrived
                self._cancel_head_timer()
            elif data:
                self._head_started = True

        def on_response_complete(self) -> None:
            super().on_response_complete()
            cycle = getattr(self, "cycle", None)
            if cycle is None or getattr(cycle, "response_complete", True):  # idle again (no pipelined request)
                self._head_started = False
                self._arm_head_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head_timer()
            super().connection_lost(exc)

        def _arm_head_timer(self) -> None:
            self._cancel_head_timer()
            if not self.transport.is_closing():
                self._head_timer = self.loop.call_later(type(self).mqlscore_header_seconds, self._head_timed_out)

        def _cancel_head_timer(self) -> None:
            timer = getattr(self, "_head_timer", None)
            if timer is not None:
                timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            cycle = getattr(self, "cycle", None)
            if cycle is not None and not getattr(cycle, "response_complete", True):
                return  # a request is being served: the body and traffic clocks apply
            if self.transport.is_closing():
                return
            if self._head_started:
                self.transport.write(_TIMEOUT_RESPONSE)
            self.transport.close()

    HeadTimedProtocol.__name__ = HeadTimedProtocol.__qualname__ = base.__name__
    auto.AutoHTTPProtocol = HeadTimedProtocol
    return True
