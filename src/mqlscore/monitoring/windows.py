"""Which snapshots and weeks ``mqlscore monitor`` compares.

A model's metadata names its data window (``data_window.as_of``: the export it
was trained on) and its horizon. On a newer export of the same CRM:

* the **training window** is the model's validation period, computed exactly as
  training computed it (``features.training_set.split_by_time``): snapshots from
  ``as_of - horizon - validation_days`` whose horizon ended by ``as_of``. The new
  export still holds that history, so it is rebuilt from it;
* the **realised window** holds the snapshots taken after the model's ``as_of``
  whose horizon has completed by the new export's as-of time: the model never saw
  them, and their outcome is known (empty when the export is not that much newer);
* the **recent window** is the last ``monitor.recent_weeks`` weeks before the new
  export's as-of time: drift needs no labels, so it looks at the newest snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


class MonitorError(ValueError):
    """The model and the export cannot be compared; the message says why (no personal data)."""


@dataclass(frozen=True)
class Window:
    """Snapshots with ``start <= as_of <= end`` (``end_inclusive``) or ``< end``."""

    name: str
    start: pd.Timestamp
    end: pd.Timestamp
    end_inclusive: bool = True
    start_inclusive: bool = True

    def mask(self, times: pd.Series | pd.DatetimeIndex) -> np.ndarray:
        """Which of ``times`` fall in the window."""
        t = pd.DatetimeIndex(times)
        lower = (t >= self.start) if self.start_inclusive else (t > self.start)
        upper = (t <= self.end) if self.end_inclusive else (t < self.end)
        return np.asarray(lower & upper)

    @property
    def days(self) -> float:
        """Length in days."""
        return max((self.end - self.start) / pd.Timedelta(days=1), 0.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "days": round(self.days, 3)}

    def text(self) -> str:
        """``2025-11-02 to 2026-01-31``."""
        return f"{self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}"


@dataclass(frozen=True)
class MonitorWindows:
    """The three windows of one monitoring, and what defined them."""

    model_as_of: pd.Timestamp
    export_as_of: pd.Timestamp
    horizon_days: int
    validation_days: int
    reference: Window
    realised: Window | None
    recent: Window

    @property
    def first_completion(self) -> pd.Timestamp:
        """When the first snapshot taken after the model's data will have a completed horizon."""
        return self.model_as_of + pd.Timedelta(days=self.horizon_days)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "model_as_of": self.model_as_of.isoformat(), "export_as_of": self.export_as_of.isoformat(),
            "horizon_days": self.horizon_days, "validation_days": self.validation_days,
            "training": self.reference.to_dict(),
            "realised": self.realised.to_dict() if self.realised is not None else None,
            "recent": self.recent.to_dict(),
        }


def model_as_of(metadata: dict[str, Any]) -> pd.Timestamp:
    """The as-of time of the export a model was trained on (``metadata['data_window']['as_of']``)."""
    raw = (metadata.get("data_window") or {}).get("as_of")
    if not raw:
        raise MonitorError("the model's metadata names no data window (data_window.as_of): it cannot be monitored")
    stamp = pd.Timestamp(raw)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def monitor_windows(metadata: dict[str, Any], export_as_of: pd.Timestamp, *, validation_days: int,
                    recent_weeks: int) -> MonitorWindows:
    """The windows for a model (its metadata) and an export as of ``export_as_of``.

    ``validation_days`` is the training setting the model's validation period was cut
    with (``train.validation_days``). Raises :class:`MonitorError` when the export is
    not newer than the model's data."""
    trained = model_as_of(metadata)
    horizon = int(metadata.get("horizon_days") or 0)
    if horizon <= 0:
        raise MonitorError("the model's metadata names no horizon (horizon_days): it cannot be monitored")
    export_as_of = pd.Timestamp(export_as_of)
    if export_as_of <= trained:
        raise MonitorError(f"the export's as-of time {export_as_of:%Y-%m-%d %H:%M} is not after the model's data "
                           f"({trained:%Y-%m-%d %H:%M}): monitor it on a newer export of the same CRM")
    h = pd.Timedelta(days=horizon)
    reference = Window("training", trained - h - pd.Timedelta(days=validation_days), trained - h)
    realised = None
    if export_as_of - h > trained:
        realised = Window("realised", trained, export_as_of - h, start_inclusive=False)
    recent = Window("recent", export_as_of - pd.Timedelta(weeks=recent_weeks), export_as_of, end_inclusive=False)
    return MonitorWindows(trained, export_as_of, horizon, validation_days, reference, realised, recent)


def period_labels(times: pd.Series | pd.DatetimeIndex, period: str) -> np.ndarray:
    """The calendar month (``2026-05``) or the week, by its Monday (``2026-05-04``), of each time."""
    t = pd.DatetimeIndex(times).tz_convert("UTC").tz_localize(None)
    if period == "week":
        monday = t.normalize() - pd.to_timedelta(t.day_of_week, unit="D")
        return np.asarray(monday.strftime("%Y-%m-%d"), dtype=object)
    return np.asarray(t.strftime("%Y-%m"), dtype=object)

