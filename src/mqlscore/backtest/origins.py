"""Which origins a backtest trains at: a start, an end and a step.

Defaults (``backtest.every`` and ``backtest.origins`` in the settings): the
last origin is the export's as-of time minus the horizon (at 00:00 UTC), the
latest whose outcomes are known for the whole horizon; the first is
``backtest.origins - 1`` steps before it, or the earliest origin with enough
history to train when that is later. Origins fall at 00:00 UTC when the first
does (a date given as ``--from`` is 00:00 UTC).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mqlscore.config import EVERY_PATTERN
from mqlscore.contract import Dataset

# At least this many days of snapshots to fit on before the purge gap and the validation period.
MIN_FIT_DAYS = 30
# A step longer than this is a typing mistake (and would overflow pandas' time range).
MAX_STEPS = 1000
_UNITS = {"d": "days", "w": "weeks", "m": "months"}


class OriginError(ValueError):
    """Origins that cannot be used as asked; the message says why and what would work."""


class CensoredOrigin(OriginError):
    """An origin whose horizon runs past the export's as-of time: what happened within it is not known."""


@dataclass(frozen=True)
class Every:
    """A step between origins: ``n`` days, weeks or calendar months."""

    n: int
    unit: str  # "d", "w" or "m"

    def __str__(self) -> str:
        return f"{self.n}{self.unit}"

    def words(self) -> str:
        """The step in words: "30 days", "1 month"."""
        name = _UNITS[self.unit]
        return f"{self.n} {name[:-1] if self.n == 1 else name}"

    def after(self, start: pd.Timestamp, k: int) -> pd.Timestamp:
        """``start`` plus ``k`` steps (months are calendar months, the day clipped to the month's end)."""
        if self.unit == "m":
            return start + pd.DateOffset(months=self.n * k)
        return start + pd.Timedelta(days=self.n * k * (7 if self.unit == "w" else 1))


def parse_every(text: str) -> Every:
    """``30d``, ``4w``, ``1m``: a positive whole number of days, weeks or calendar months.
    Raises :class:`OriginError` with the accepted forms."""
    match = EVERY_PATTERN.match(str(text))
    if not match or int(match.group(1)) < 1:
        raise OriginError(f"{text!r} is not a step between origins: write a positive whole number followed by d "
                          "(days), w (weeks) or m (calendar months), e.g. 30d, 4w or 1m")
    if int(match.group(1)) > MAX_STEPS:
        raise OriginError(f"{text!r} is too long a step between origins (at most {MAX_STEPS} {_UNITS[match.group(2).lower()]})")
    return Every(int(match.group(1)), match.group(2).lower())


def _iso(t: pd.Timestamp) -> str:
    return pd.Timestamp(t).isoformat().replace("+00:00", "Z").replace("T00:00:00Z", "")


def latest_origin(dataset: Dataset, horizon_days: int) -> pd.Timestamp:
    """The latest origin whose whole horizon lies before the export's as-of time."""
    return dataset.as_of - pd.Timedelta(days=horizon_days)


def earliest_origin(dataset: Dataset, horizon_days: int, validation_days: int) -> pd.Timestamp:
    """The earliest origin with enough history to train: the first lead's creation, then
    :data:`MIN_FIT_DAYS` of snapshots to fit on, whose horizon ends before the validation
    period (a purge gap of one horizon), the validation period, and its horizon."""
    first = dataset.leads["created_at"].min()
    return first + pd.Timedelta(days=MIN_FIT_DAYS + 2 * horizon_days + validation_days)


def choose_origins(dataset: Dataset, *, horizon_days: int, validation_days: int, every: Every,
                   start: pd.Timestamp | None = None, end: pd.Timestamp | None = None,
                   count: int = 6) -> list[pd.Timestamp]:
    """Origins ``start``, ``start + every``, ... up to ``end`` (both included).

    ``end`` defaults to :func:`latest_origin` at 00:00 UTC; ``start`` to ``count - 1``
    steps before ``end`` (so ``count`` origins, by default the last as late as the
    export allows), or the earliest origin with enough history
    (:func:`earliest_origin`) when that is later. Raises :class:`CensoredOrigin`
    when ``end`` is later than :func:`latest_origin` (its horizon would run past
    what the export knows) and :class:`OriginError` when no origin is left."""
    latest = latest_origin(dataset, horizon_days)
    if end is not None and end > latest:
        raise CensoredOrigin(
            f"an origin at {_iso(end)} would be censored: its {horizon_days}-day horizon runs past the export's "
            f"as-of time {_iso(dataset.as_of)}, so what happened within it is not known. The latest origin is "
            f"{_iso(latest)} (the as-of time minus the horizon).")
    if end is None:  # 00:00 UTC, unless a later first origin asks for the exact latest one
        end = latest.floor("D") if start is None or start <= latest.floor("D") else latest
    if start is None:
        try:
            start = every.after(end, -(count - 1))
        except (OverflowError, pd.errors.OutOfBoundsDatetime):
            raise OriginError(f"{count} origins {every.words()} apart reach back further than dates go; pass "
                              "--from or a shorter --every") from None
        earliest = earliest_origin(dataset, horizon_days, validation_days)
        if start < earliest:
            start = earliest.ceil("D")
        if start > end:
            raise OriginError(
                f"the export is too short for a backtest with a {horizon_days}-day horizon and a {validation_days}-"
                f"day validation period up to {_iso(end)}: the earliest origin with enough history is "
                f"{_iso(earliest)}. Pass --from to try anyway.")
    if start > end:
        raise OriginError(f"no origin: the first ({_iso(start)}) is after the last ({_iso(end)})")
    first_lead = dataset.leads["created_at"].min()
    if start <= first_lead:
        raise OriginError(f"no lead was created before {_iso(start)} (the first was created {_iso(first_lead)}): "
                          "nothing was known then")
    origins, k = [], 0
    while (t := every.after(start, k)) <= end:
        origins.append(t)
        k += 1
    return origins
