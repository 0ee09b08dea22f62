"""Activity events as the feature code sees them, and point-in-time look-ups.

Every look-up answers "what happened strictly before time t" for many
(entity, t) queries at once, with sorted arrays and binary search: the same
code serves one lead in a service request and a million training snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Time is counted in int64 microseconds since 1970 (UTC), whatever unit a column
# comes in (s, ms, us or ns: Parquet files and pandas keep a column's unit). It is
# the contract's unit, exact for its values, and no difference of two times can
# overflow it. In nanoseconds a difference overflows past 292 years, less than the
# 300 years the contract takes (1900-2199): a lead created in 1900 scored as of
# 2199 wrapped the event keys around and erased every other lead's activity.
US_PER_DAY = 86_400 * 10**6
US_PER_MS = 1_000
# Bounds the memory of (query, event) pair expansions: about 100 MB per million pairs.
MAX_PAIRS_PER_CHUNK = 6_000_000


def to_us(values: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Timestamps of any unit (s, ms, us, ns) as int64 microseconds since 1970 UTC;
    naive values are read as UTC. Sub-microsecond digits are dropped, as the contract drops them."""
    ts = pd.DatetimeIndex(values)
    if ts.tz is None:
        ts = ts.tz_localize("UTC")
    return ts.tz_convert("UTC").as_unit("us").asi8.copy()


def instant_us(value: pd.Timestamp | str) -> int:
    """One timestamp (naive = UTC) as int64 microseconds since 1970 UTC."""
    return int(to_us(pd.DatetimeIndex([pd.Timestamp(value)]))[0])


def utc_times(us: np.ndarray) -> pd.Series:
    """int64 microseconds since 1970 as ``datetime64[us, UTC]`` values (the contract's dtype)."""
    return pd.Series(np.asarray(us, np.int64).astype("datetime64[us]")).dt.tz_localize("UTC")



@dataclass
class SortedEvents:
    """Events sorted by (entity, time), with composite keys for binary search.

    ``entity`` is a small non-negative integer (a lead's or an account's code).
    The key orders by entity first, then by time, so "events of entity e before
    t" is the key range [key(e, -inf), key(e, t)).
    """

    entity: np.ndarray  # int64
    us: np.ndarray  # int64 microseconds (see to_us)
    payload: np.ndarray  # int64 (e.g. the signal family), same order
    keys: np.ndarray  # int64 composite
    base_us: int
    span: int

    @classmethod
    def build(cls, entity: np.ndarray, us: np.ndarray, payload: np.ndarray | None, base_us: int,
              span: int) -> SortedEvents:
        """Sort events and compute their keys; ``base_us``/``span`` must cover every
        time that will be queried (see :func:`time_frame`)."""
        entity = np.asarray(entity, dtype=np.int64)
        us = np.asarray(us, dtype=np.int64)
        payload = np.zeros(len(entity), dtype=np.int64) if payload is None else np.asarray(payload, np.int64)
        keys = composite_keys(entity, us, base_us, span)
        order = np.argsort(keys, kind="stable")
        return cls(entity[order], us[order], payload[order], keys[order], base_us, span)

    def count_before(self, entity: np.ndarray, us: np.ndarray) -> np.ndarray:
        """Index one past the last event of ``entity`` strictly before ``us``."""
        return np.searchsorted(self.keys, composite_keys(entity, us, self.base_us, self.span), side="left")

    def start_of(self, entity: np.ndarray) -> np.ndarray:
        """Index of the first event of ``entity`` (or where it would be)."""
        return np.searchsorted(self.keys, np.asarray(entity, np.int64) * self.span, side="left")

    def count_in_window(self, entity: np.ndarray, us: np.ndarray, window_us: int) -> np.ndarray:
        """Events of ``entity`` in [us - window, us)."""
        lo = np.maximum(us - window_us, self.base_us)
        return self.count_before(entity, us) - self.count_before(entity, lo)

    def __len__(self) -> int:
        return len(self.keys)


def composite_keys(entity: np.ndarray, us: np.ndarray, base_us: int, span: int) -> np.ndarray:
    """``entity * span + offset`` where offset is the time in milliseconds since
    ``base_us``, rounded up so that an event in the same millisecond as a query
    but before it is still "before" only when its key is smaller."""
    offset = (np.asarray(us, np.int64) - base_us + US_PER_MS - 1) // US_PER_MS
    return np.asarray(entity, np.int64) * span + np.clip(offset, 0, span - 1)


def time_frame(*us_arrays: np.ndarray, n_entities: int) -> tuple[int, int]:
    """``base_us`` and ``span`` (in ms) covering all given times, with margin."""
    present = [a for a in us_arrays if len(a)]
    if not present:
        return 0, 2
    lo = min(int(a.min()) for a in present) - 400 * US_PER_DAY
    # On the whole-millisecond grid, so that rounding to keys (and so which events
    # count as "before") does not depend on which other rows are in the frame.
    lo -= lo % US_PER_MS
    hi = max(int(a.max()) for a in present) + US_PER_DAY
    span = (hi - lo) // US_PER_MS + 2
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
