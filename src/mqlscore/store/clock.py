"""The store's sense of time: what "now" is when decay is applied.

The service asks a clock, never the system directly, so tests can advance time
by hand (:class:`ManualClock`) and a replayed export can run from its own export
time (:class:`ShiftedClock`). Times are UTC ``pandas.Timestamp`` in microseconds.
"""

from __future__ import annotations

import threading
from typing import Protocol

import pandas as pd


def utc(value: str | pd.Timestamp) -> pd.Timestamp:
    """A moment as a UTC timestamp in microseconds (a naive one is read as UTC)."""
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.as_unit("us")


class Clock(Protocol):
    """Anything that says what time it is."""

    def now(self) -> pd.Timestamp:
        """The current moment (UTC, microseconds)."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> pd.Timestamp:
        """The current moment (UTC, microseconds)."""
        return pd.Timestamp.now(tz="UTC").as_unit("us")

    def __repr__(self) -> str:
        return "SystemClock()"


class ShiftedClock:
    """Real time, shifted so that it read ``start`` when the clock was made: for
    serving a store loaded from an export as if the export were being made now."""

    def __init__(self, start: str | pd.Timestamp, anchor: str | pd.Timestamp | None = None) -> None:
        self.start = utc(start)
        # ``anchor``: the real moment at which the clock read ``start`` (default: now), so a
        # process started later (the scorer beside the workers) keeps the same time.
        self.anchor = SystemClock().now() if anchor is None else utc(anchor)
        self._offset = self.start - self.anchor

    def now(self) -> pd.Timestamp:
        """The current moment, shifted (UTC, microseconds)."""
        return SystemClock().now() + self._offset

    def __repr__(self) -> str:
        return f"ShiftedClock(start={self.start.isoformat()})"


class ManualClock:
    """A clock that moves only when told to (tests)."""

    def __init__(self, start: str | pd.Timestamp) -> None:
        self._now = utc(start)
        self._lock = threading.Lock()

    def now(self) -> pd.Timestamp:
        """The moment the clock was last set to."""
        with self._lock:
            return self._now

    def set(self, when: str | pd.Timestamp) -> None:
        """Move the clock to ``when`` (never backwards)."""
        when = utc(when)
        with self._lock:
            if when < self._now:
                raise ValueError(f"a clock never goes back: {when} is before {self._now}")
            self._now = when

    def advance(self, delta: str | pd.Timedelta) -> pd.Timestamp:
        """Move the clock forward by ``delta`` ("90min", "3D"); returns the new moment."""
        step = pd.Timedelta(delta)
        with self._lock:
            self._now = self._now + step
            return self._now

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()})"


def clock_from(text: str | None, anchor: str | None = None) -> Clock:
    """The clock named by ``serve --clock-from``: the system's when empty, else real
    time shifted to read ``text`` (an ISO-8601 moment) at start-up (or at ``anchor``,
    a real moment, for a process keeping another's time)."""
    if text is None or not str(text).strip():
        return SystemClock()
    try:
        return ShiftedClock(str(text).strip(), anchor.strip() if anchor and anchor.strip() else None)
    except (ValueError, TypeError):
        raise ValueError(f"not an ISO-8601 moment: {text!r} (e.g. 2026-09-30T00:00:00Z)") from None
