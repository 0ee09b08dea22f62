"""Activity events as the feature code sees them, and point-in-time look-ups.

Every look-up answers "what happened strictly before time t" for many
(entity, t) queries at once, with sorted arrays and binary search: the same
code serves one lead in a service request and a million training snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

NS_PER_DAY = 86_400 * 10**9
# Bounds the memory of (query, event) pair expansions: about 100 MB per million pairs.
MAX_PAIRS_PER_CHUNK = 6_000_000


def to_ns(values: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """UTC timestamps as int64 nanoseconds since the epoch."""
    ts = pd.DatetimeIndex(values)
    if ts.tz is None:
        ts = ts.tz_localize("UTC")
    return ts.tz_convert("UTC").as_unit("ns").asi8.copy()


@dataclass
class SortedEvents:
    """Events sorted by (entity, time), with composite keys for binary search.

    ``entity`` is a small non-negative integer (a lead's or an account's code).
    The key orders by entity first, then by time, so "events of entity e before
    t" is the key range [key(e, -inf), key(e, t)).
    """

    entity: np.ndarray  # int64
    ns: np.ndarray  # int64
    payload: np.ndarray  # int64 (e.g. the signal family), same order
    keys: np.ndarray  # int64 composite
    base_ns: int
    span: int

    @classmethod
    def build(cls, entity: np.ndarray, ns: np.ndarray, payload: np.ndarray | None, base_ns: int,
              span: int) -> SortedEvents:
        """Sort events and compute their keys; ``base_ns``/``span`` must cover every
        time that will be queried (see :func:`time_frame`)."""
        entity = np.asarray(entity, dtype=np.int64)
        ns = np.asarray(ns, dtype=np.int64)
        payload = np.zeros(len(entity), dtype=np.int64) if payload is None else np.asarray(payload, np.int64)
        keys = composite_keys(entity, ns, base_ns, span)
        order = np.argsort(keys, kind="stable")
        return cls(entity[order], ns[order], payload[order], keys[order], base_ns, span)

    def count_before(self, entity: np.ndarray, ns: np.ndarray) -> np.ndarray:
        """Index one past the last event of ``entity`` strictly before ``ns``."""
        return np.searchsorted(self.keys, composite_keys(entity, ns, self.base_ns, self.span), side="left")

    def start_of(self, entity: np.ndarray) -> np.ndarray:
        """Index of the first event of ``entity`` (or where it would be)."""
        return np.searchsorted(self.keys, np.asarray(entity, np.int64) * self.span, side="left")

    def count_in_window(self, entity: np.ndarray, ns: np.ndarray, window_ns: int) -> np.ndarray:
        """Events of ``entity`` in [ns - window, ns)."""
        lo = np.maximum(ns - window_ns, self.base_ns)
        return self.count_before(entity, ns) - self.count_before(entity, lo)

    def __len__(self) -> int:
        return len(self.keys)


def composite_keys(entity: np.ndarray, ns: np.ndarray, base_ns: int, span: int) -> np.ndarray:
    """``entity * span + offset`` where offset is the time in milliseconds since
    ``base_ns``, rounded up so that an event in the same millisecond as a query
    but before it is still "before" only when its key is smaller."""
    offset = (np.asarray(ns, np.int64) - base_ns + 999_999) // 1_000_000
    return np.asarray(entity, np.int64) * span + np.clip(offset, 0, span - 1)


def time_frame(*ns_arrays: np.ndarray, n_entities: int) -> tuple[int, int]:
    """``base_ns`` and ``span`` (in ms) covering all given times, with margin."""
    present = [a for a in ns_arrays if len(a)]
    if not present:
        return 0, 2
    lo = min(int(a.min()) for a in present) - 400 * NS_PER_DAY
    # On the whole-millisecond grid, so that rounding to keys (and so which events
    # count as "before") does not depend on which other rows are in the frame.
    lo -= lo % 1_000_000
    hi = max(int(a.max()) for a in present) + NS_PER_DAY
    span = (hi - lo) // 1_000_000 + 2
    if n_entities * span >= 2**62:
        raise ValueError("time range too wide for the event index; split the data by period")
    return lo, span


def chunk_bounds(lengths: np.ndarray, max_pairs: int) -> list[tuple[int, int]]:
    """Split snapshots into consecutive chunks of at most ``max_pairs`` pairs."""
    bounds = [0]
    cum = np.cumsum(lengths)
    while bounds[-1] < len(lengths):
        lo = bounds[-1]
        limit = (cum[lo - 1] if lo else 0) + max_pairs
        hi = int(np.searchsorted(cum, limit, side="right"))
        bounds.append(max(hi, lo + 1))
    return list(zip(bounds[:-1], bounds[1:]))


def expand_ranges(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (snapshot, event) pairs for the given ranges, snapshot-major."""
    lengths = np.maximum(end - start, 0)
    total = int(lengths.sum())
    snap = np.repeat(np.arange(len(start)), lengths)
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    event = np.arange(total) - first + np.repeat(start, lengths)
    return snap, event
