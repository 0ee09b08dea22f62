"""Refit the chosen champion on every labelled snapshot, with honest calibration.

Training chooses the champion and its settings on a time split: the model is
fitted on the older snapshots and judged on the most recent fully labelled
period, and a purge gap between them is left out. That model never sees its
validation period nor the gap, which on a one-year export is most of the
recent history. Once the choice is made, :func:`refit_champion` fits the same
kind of model with the same settings on *every* labelled snapshot.

Its calibration cannot be fitted on rows the model was fitted on (the model
would look surer than it is), so it is **cross-fitted by time**. The
calibration is fitted on the most recent period (the validation period, whose
base rate the score scale uses), so only its rows need out-of-fold log-odds:
the buying groups (an account's leads, or a lead without an account) with a
snapshot in that period are cut into ``folds`` blocks in the order they first
appear; for each block a model with the same settings is fitted on every other
labelled snapshot (older groups included) and predicts the block's validation
rows. Platt scaling is fitted on those out-of-fold log-odds and applied to the
model refitted on everything. With two folds each of those models sees about
80 % of what the final one sees, so their log-odds are close in sharpness to
its own, and the refit costs three fits.

The figures reported for the champion remain those of the model as chosen, on
a period it never saw. The out-of-fold figures returned here describe the
refitted pipeline's calibration data; they are cross-fitted, not a forward
test, and are labelled so wherever they appear.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from mqlscore.features import TrainingSet
from mqlscore.features.account import buying_groups
from mqlscore.models.calibration import PlattCalibrator

Progress = Callable[[str], None]
DEFAULT_FOLDS = 2


@dataclass
class RefitSummary:
    """What the refit saw and how it was calibrated (no personal data)."""

    rows: int  # snapshots the refitted model was fitted on
    leads: int
    positives: int
    chosen_rows: int  # snapshots the model as chosen was fitted on
    chosen_leads: int
    last_snapshot: str  # the latest snapshot time fitted on
    chosen_last_snapshot: str
    folds: int
    calibration_rows: int  # out-of-fold rows of the validation period the calibration was fitted on
    cross_fitted: dict[str, float]  # out-of-fold figures on those rows: roc_auc, pr_auc, log_loss
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)

    def sentence(self) -> str:
        """One line for the summary, the report and the model card."""
        return (f"Refitted on all {self.rows:,} labelled snapshots of {self.leads:,} leads up to "
                f"{self.last_snapshot[:10]} (the model as chosen was fitted on {self.chosen_rows:,} snapshots of "
                f"{self.chosen_leads:,} leads up to {self.chosen_last_snapshot[:10]}); calibration cross-fitted by "
                f"time in {self.folds} folds. Validation figures are those of the model as chosen.")


def snapshot_groups(snapshots: pd.DataFrame, leads: pd.DataFrame) -> np.ndarray:
    """Each snapshot's buying group (``mqlscore.features.account.buying_groups``):
    colleagues' outcomes are correlated, so they are held out together."""
    lead_ids = snapshots["lead_id"].astype(str).to_numpy()
    if "account_id" not in leads.columns:
        return buying_groups(lead_ids, None)
    account = pd.Series(leads["account_id"].to_numpy(), index=leads["lead_id"].astype(str).to_numpy())
    account = account[~account.index.duplicated()]
    return buying_groups(lead_ids, account.reindex(lead_ids).to_numpy(dtype=object))


def time_folds(times: pd.Series | np.ndarray, groups: np.ndarray, folds: int = DEFAULT_FOLDS) -> np.ndarray:
    """A fold number (0..folds-1) per row: buying groups in the order of their
    first snapshot, cut into ``folds`` contiguous blocks of about equal rows.
    A group is never split; the last block holds the newest groups."""
    if folds < 2:
        raise ValueError("cross-fitting needs at least 2 folds")
    frame = pd.DataFrame({"t": pd.to_datetime(pd.Series(times)).to_numpy(), "g": groups})
    first = frame.groupby("g", sort=False)["t"].min()
    sizes = frame.groupby("g", sort=False).size().reindex(first.index)
    order = np.lexsort((first.index.to_numpy().astype(str), first.to_numpy()))
    cumulative = np.cumsum(sizes.to_numpy()[order])
    block = np.minimum((cumulative - 1) * folds // max(int(cumulative[-1]), 1), folds - 1)
    fold_of_group = pd.Series(block, index=first.index[order])
    return fold_of_group.reindex(frame["g"]).to_numpy(np.int64)


def refit_champion(ts: TrainingSet, leads: pd.DataFrame, chosen: Any, is_fit: np.ndarray, is_val: np.ndarray,
                   *, max_rows: int, seed: int, folds: int = DEFAULT_FOLDS,
                   say: Progress = lambda message: None) -> tuple[Any, PlattCalibrator, RefitSummary]:
    """The chosen model's kind and settings (its ``refit(X, y)``) fitted on every
    labelled snapshot (a random sample of at most ``max_rows``), and its Platt
    calibration cross-fitted by time (see the module docstring). Raises
    ``ValueError`` when the out-of-fold rows cannot be calibrated (one outcome only)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    started = time.perf_counter()
    rows = np.arange(len(ts.snapshots))
    if len(rows) > max_rows:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(rows, max_rows, replace=False))
    snaps = ts.snapshots.iloc[rows]
    X, y = ts.X.iloc[rows], ts.y[rows]
    recent = is_val[rows]
    groups = snapshot_groups(snaps, leads)
    if not recent.any():
        raise ValueError("no snapshot of the validation period to calibrate on")
    recent_groups = pd.unique(groups[recent])
    fold = np.full(len(rows), -1)  # groups never seen in the validation period stay in every fit
    in_recent = pd.Index(recent_groups).get_indexer(groups) >= 0
    fold[in_recent] = time_folds(snaps["as_of"].to_numpy()[in_recent], groups[in_recent], folds)
    raw_oof = np.full(len(rows), np.nan)
    for k in range(folds):
        held = fold == k
        if not (held & recent).any():
            continue
        say(f"refitting: cross-fitting the calibration, fold {k + 1} of {folds}")
        if len(np.unique(y[~held])) < 2:
            raise ValueError(f"fold {k + 1} of {folds} leaves only one outcome to fit on")
        predict = held & recent
        raw_oof[predict] = chosen.refit(X[~held], y[~held]).decision_function(X[predict])
    calibrator = PlattCalibrator().fit(raw_oof[recent], y[recent])
    say(f"refitting the champion on all {len(rows):,} labelled snapshots")
    model = chosen.refit(X, y)
    p = np.clip(calibrator.proba(raw_oof[recent]), 1e-9, 1 - 1e-9)
    yr = y[recent]
    figures = {"roc_auc": float(roc_auc_score(yr, raw_oof[recent])),
               "pr_auc": float(average_precision_score(yr, raw_oof[recent])),
               "log_loss": float(-np.mean(yr * np.log(p) + (1 - yr) * np.log(1 - p)))}
    fit_snaps = ts.snapshots[is_fit]
    summary = RefitSummary(
        rows=len(rows), leads=int(snaps["lead_id"].nunique()), positives=int(y.sum()),
        chosen_rows=int(is_fit.sum()), chosen_leads=int(fit_snaps["lead_id"].nunique()),
        last_snapshot=str(snaps["as_of"].max()), chosen_last_snapshot=str(fit_snaps["as_of"].max()),
        folds=folds, calibration_rows=int(recent.sum()), cross_fitted=figures,
        seconds=time.perf_counter() - started)
    return model, calibrator, summary
