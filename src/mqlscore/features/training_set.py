"""The point-in-time training set: snapshots, their features and labels."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mqlscore.config import FeatureConfig, SnapshotConfig
from mqlscore.contract import Dataset
from mqlscore.features.builder import FeatureBuilder
from mqlscore.features.snapshots import build_snapshots


@dataclass
class TrainingSet:
    """Labelled snapshots with their features.

    ``snapshots`` has ``lead_id``, ``as_of``, ``kind``, ``label``; ``X`` has the
    builder's features in the same row order. Censored snapshots (whose horizon
    reaches past the folder's as-of time) are counted, never used as negatives.
    """

    snapshots: pd.DataFrame
    X: pd.DataFrame
    builder: FeatureBuilder
    as_of: pd.Timestamp
    horizon_days: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def y(self) -> np.ndarray:
        """The labels: 1 when the lead became an SQL within the horizon."""
        return self.snapshots["label"].to_numpy(np.int8)


def build_training_set(dataset: Dataset, features: FeatureConfig | None = None,
                       snapshots: SnapshotConfig | None = None, builder: FeatureBuilder | None = None,
                       as_of: pd.Timestamp | None = None) -> TrainingSet:
    """Snapshot every lead while open, keep the fully labelled snapshots and
    compute their features. ``builder`` is fitted here unless given fitted."""
    snapshots = snapshots if snapshots is not None else SnapshotConfig()
    as_of = pd.Timestamp(as_of) if as_of is not None else dataset.as_of
    rows = build_snapshots(dataset.leads, dataset.activities, dataset.outcomes, as_of, snapshots)
    labelled = rows[rows["labelled"]].drop(columns="labelled").reset_index(drop=True)
    if builder is None:
        # fit on what existed at as_of: neither later activities nor later leads
        known = dataset.leads[dataset.leads["created_at"] <= as_of]
        builder = FeatureBuilder(features).fit(known, _before(dataset.activities, as_of))
    X = builder.transform(dataset.leads, dataset.activities, labelled)
    counts = {
        "leads": len(dataset.leads),
        "snapshots": len(rows),
        "censored": int((~rows["labelled"]).sum()),
        "labelled": len(labelled),
        "positives": int(labelled["label"].sum()),
        "leads_with_rows": int(labelled["lead_id"].nunique()),
    }
    return TrainingSet(labelled, X, builder, as_of, snapshots.horizon_days, counts)


def _before(activities: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    if not len(activities):
        return activities
    return activities[activities["occurred_at"] < as_of]


def split_by_time(snapshots: pd.DataFrame, as_of: pd.Timestamp, horizon_days: int,
                  validation_days: int = 90) -> tuple[np.ndarray, np.ndarray]:
    """(is_fit, is_validation) masks: validate on the most recent fully labelled
    ``validation_days``; fit on snapshots whose whole horizon ended before the
    validation period began (the rows in between are left out, so that no
    outcome seen in fitting happens during validation)."""
    t = pd.DatetimeIndex(snapshots["as_of"])
    horizon = pd.Timedelta(days=horizon_days)
    val_start = pd.Timestamp(as_of) - horizon - pd.Timedelta(days=validation_days)
    is_validation = np.asarray((t >= val_start) & (t + horizon <= pd.Timestamp(as_of)))
    is_fit = np.asarray(t + horizon <= val_start)
    return is_fit, is_validation
