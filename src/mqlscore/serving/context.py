"""What one request's log line will say, reachable from anywhere that request runs
(the guard opens it; the engine, the batcher and the lead card add counts)."""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass, field
from typing import Any


# The service's log channel: one line per request (the guard) and start-up facts.
logger = logging.getLogger("mqlscore.service")


@dataclass
class RequestLog:
    """The request id and counts for the log line (never a value from the body)."""

    request_id: str
    counts: dict[str, Any] = field(default_factory=dict)


_CURRENT: contextvars.ContextVar[RequestLog | None] = contextvars.ContextVar("mqlscore_request", default=None)


def begin(request_id: str) -> tuple[RequestLog, contextvars.Token]:
    """Open the log record of a request; pass the token to :func:`end`."""
    record = RequestLog(request_id)
    return record, _CURRENT.set(record)


def end(token: contextvars.Token) -> None:
    """Close the record opened by :func:`begin`."""
    _CURRENT.reset(token)


def current() -> RequestLog | None:
    """The record of the request being served (None outside a request)."""
    return _CURRENT.get()


def request_id() -> str | None:
    """The id of the request being served."""
    log = _CURRENT.get()
    return log.request_id if log is not None else None


def safe(value: Any, limit: int = 120) -> str:
    """``value`` as one word of a log line: control characters, line and paragraph
    separators and spaces escaped (``\\x0a``), at most ``limit`` characters, so that
    nothing taken from a request can start a line or fake a ``key=value`` of its own."""
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + "..."
    if text.isprintable() and not any(c.isspace() for c in text):
        return text
    out = []
    for c in text:
        if c.isprintable() and not c.isspace():
            out.append(c)
        else:
            code = ord(c)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)


def count(**counts: Any) -> None:
    """Add counts to the request's log line (no-op outside a request)."""
    log = _CURRENT.get()
    if log is not None:
        log.counts.update(counts)
