"""Realised performance: how the model did on snapshots whose outcome is now known.

On the realised window's snapshots (their horizon completed after the model was
trained) :func:`realised_figures` computes ROC-AUC, average precision, log loss,
the realised SQL rate against the mean predicted probability and the MQL
threshold's promise (SQL rate among MQL snapshots, share of SQL snapshots above
the threshold, distinct MQL leads per week), each with an interval that resamples
buying groups (:class:`~mqlscore.monitoring.intervals.GroupBootstrap`: a lead's
snapshots, and an account's leads, stay together); MQL leads per week get
Garwood's exact Poisson interval. :func:`calibration_by_band` is the realised
SQL rate against the predicted one per 10-point score band, and
:func:`figures_by_period` the same figures per week or month.

ROC-AUC and average precision follow scikit-learn's definitions exactly (ties:
half credit; precision at each distinct score), weighted by each row's
multiplicity in a resample; with unit weights they equal
``sklearn.metrics.roc_auc_score`` and ``average_precision_score``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mqlscore.features.account import buying_groups
from mqlscore.monitoring.intervals import (NAN_INTERVAL, GroupBootstrap, Interval,
                                           percentile_interval, poisson_rate_interval, ratio_interval)

LOG_LOSS_EPS = 1e-15
BOOT_CHUNK = 50  # resamples weighted at once (rows x chunk floats)
BAND_EDGES = tuple(range(10, 100, 10))  # 10-point score bands, as the evaluation report's
BAND_LABELS = tuple(f"{lo}-{lo + 9}" if lo < 90 else "90-100" for lo in range(0, 100, 10))


def _tie_groups(y: np.ndarray, s: np.ndarray, W: np.ndarray, descending: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per group of tied scores (in score order), the weight of positives and of negatives."""
    order = np.argsort(-s if descending else s, kind="mergesort")
    s_sorted = s[order]
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    Ws = W[order]
    ys = y[order].astype(W.dtype)[:, None]
    return np.add.reduceat(Ws * ys, starts, axis=0), np.add.reduceat(Ws * (1 - ys), starts, axis=0)


def weighted_roc_auc(y: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC-AUC per column of ``weights`` (rows x k): the weighted chance that an SQL row
    scores above a non-SQL row, ties counting half; NaN for a column with one class."""
    pos, neg = _tie_groups(np.asarray(y), np.asarray(score, float), np.asarray(weights, np.float64), False)
    below = np.cumsum(neg, axis=0) - neg
    num = (pos * (below + 0.5 * neg)).sum(axis=0)
    den = pos.sum(axis=0) * neg.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def weighted_average_precision(y: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Average precision per column of ``weights``: sum over the distinct scores, highest
    first, of (gain in recall) x precision; NaN for a column without an SQL."""
    pos, neg = _tie_groups(np.asarray(y), np.asarray(score, float), np.asarray(weights, np.float64), True)
    tp, fp = np.cumsum(pos, axis=0), np.cumsum(neg, axis=0)
    total = tp[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = tp / total
        gain = np.diff(np.vstack([np.zeros((1, recall.shape[1])), recall]), axis=0)
        return np.where(total > 0, (gain * precision).sum(axis=0), np.nan)


def _row_log_loss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, float), LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    return -(y * np.log(q) + (1 - y) * np.log1p(-q))


@dataclass
class Figures:
    """Realised figures on one set of snapshots (intervals resample buying groups)."""

    rows: int
    leads: int
    sqls: int
    sql_rate: Interval  # realised SQL rate of the snapshots
    mean_predicted: float  # mean predicted probability of the same snapshots
    roc_auc: Interval
    average_precision: Interval
    log_loss: Interval
    mqls: int  # snapshots at or above the MQL threshold
    mql_sql_rate: Interval  # share of MQL snapshots that became an SQL within the horizon
    share_of_sqls: Interval  # share of SQL snapshots that were MQLs
    mql_leads_per_week: Interval  # distinct leads flagged per week (Poisson interval)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if isinstance(value, Interval):
                out[key] = value.to_dict()
            elif isinstance(value, float):
                out[key] = value if math.isfinite(value) else None
            else:
                out[key] = value
        return out


def _boot_metric(fn: Any, y: np.ndarray, s: np.ndarray, rows: np.ndarray, boot: GroupBootstrap) -> np.ndarray:
    out = []
    for start in range(0, boot.n_boot, BOOT_CHUNK):
        out.append(fn(y, s, boot.row_weights(rows, slice(start, start + BOOT_CHUNK)).astype(np.float64)))
    return np.concatenate(out) if out else np.empty(0)


def figures_on(y: np.ndarray, p: np.ndarray, is_mql: np.ndarray, leads: np.ndarray, rows: np.ndarray,
               boot: GroupBootstrap, *, days: float, confidence: float) -> Figures:
    """The realised figures on ``rows`` (indices into ``y``, ``p``, ``is_mql``, ``leads`` (a
    lead code per row) and the rows of ``boot``); ``days`` is the span the rows were taken
    over (for MQL leads per week)."""
    rows = np.asarray(rows, dtype=np.int64)
    y_all = np.asarray(y, dtype=np.int8)
    p_all = np.asarray(p, dtype=float)
    m_all = np.asarray(is_mql, dtype=bool)
    n = len(rows)
    if n == 0:
        return Figures(0, 0, 0, NAN_INTERVAL, float("nan"), NAN_INTERVAL, NAN_INTERVAL, NAN_INTERVAL, 0,
                       NAN_INTERVAL, NAN_INTERVAL, NAN_INTERVAL, ["no snapshot"])
    mask = np.zeros(len(y_all), bool)
    mask[rows] = True
    yv, pv, mv = y_all[rows], p_all[rows], m_all[rows]
    sqls = int(yv.sum())
    notes = []
    ones = np.ones(len(y_all))
    if 0 < sqls < n:
        auc = float(weighted_roc_auc(yv, pv, np.ones((n, 1)))[0])
        ap = float(weighted_average_precision(yv, pv, np.ones((n, 1)))[0])
        roc_auc = percentile_interval(auc, _boot_metric(weighted_roc_auc, yv, pv, rows, boot), confidence)
        average_precision = percentile_interval(
            ap, _boot_metric(weighted_average_precision, yv, pv, rows, boot), confidence)
    else:
        roc_auc = average_precision = NAN_INTERVAL
        notes.append(f"only {'SQLs' if sqls else 'non-SQLs'} among {n:,} snapshots: ROC-AUC and average "
                     "precision are undefined")
    loss = np.zeros(len(y_all))
    loss[rows] = _row_log_loss(yv, pv)
    mql_rows = mask & m_all
    mql_leads = int(pd.unique(np.asarray(leads)[mql_rows]).size)
    weeks = days / 7.0
    return Figures(
        rows=n, leads=int(pd.unique(np.asarray(leads)[rows]).size), sqls=sqls,
        sql_rate=ratio_interval(boot, y_all, ones, mask, confidence), mean_predicted=float(pv.mean()),
        roc_auc=roc_auc, average_precision=average_precision,
        log_loss=ratio_interval(boot, loss, ones, mask, confidence),
        mqls=int(mql_rows.sum()),
        mql_sql_rate=ratio_interval(boot, y_all, ones, mql_rows, confidence),
        share_of_sqls=ratio_interval(boot, m_all.astype(float), ones, mask & (y_all == 1), confidence),
        mql_leads_per_week=poisson_rate_interval(mql_leads, weeks, confidence) if weeks > 0 else NAN_INTERVAL,
        notes=notes,
    )


def realised_figures(y: np.ndarray, p: np.ndarray, is_mql: np.ndarray, lead_ids: np.ndarray, *, days: float,
                     account_ids: np.ndarray | None = None, confidence: float = 0.95, n_boot: int = 200,
                     seed: int = 0) -> Figures:
    """The realised figures of one set of snapshots given as arrays: label (SQL within the
    horizon), predicted probability, MQL flag and lead id per snapshot (and its account, when
    leads have one); ``days`` the span they were taken over. Intervals resample buying
    groups (:func:`~mqlscore.features.account.buying_groups`)."""
    boot = GroupBootstrap(buying_groups(lead_ids, account_ids), n_boot, seed)
    leads, _ = pd.factorize(np.asarray(lead_ids, dtype=object))
    return figures_on(y, p, is_mql, leads, np.arange(len(np.asarray(y))), boot, days=days, confidence=confidence)


def score_bands(score: np.ndarray) -> np.ndarray:
    """The 10-point band (0 for 0-9, ..., 9 for 90-100) of each score."""
    return np.searchsorted(np.asarray(BAND_EDGES, float), np.asarray(score, float), side="right")


def calibration_by_band(y: np.ndarray, p: np.ndarray, score: np.ndarray, rows: np.ndarray, boot: GroupBootstrap,
                        confidence: float) -> pd.DataFrame:
    """Per 10-point score band of ``rows``: snapshots, mean predicted probability and the
    realised SQL rate with its interval (bands without a snapshot are left out)."""
    rows = np.asarray(rows, dtype=np.int64)
    band = score_bands(score)
    y_all = np.asarray(y, float)
    ones = np.ones(len(y_all))
    out = []
    for b, label in enumerate(BAND_LABELS):
        mask = np.zeros(len(y_all), bool)
        mask[rows[band[rows] == b]] = True
        n = int(mask.sum())
        if not n:
            continue
        rate = ratio_interval(boot, y_all, ones, mask, confidence)
        out.append({"band": label, "snapshots": n, "mean_predicted": float(np.asarray(p)[mask].mean()),
                    "sql_rate": rate.value, "sql_rate_low": rate.low, "sql_rate_high": rate.high})
    return pd.DataFrame(out, columns=["band", "snapshots", "mean_predicted", "sql_rate", "sql_rate_low",
                                      "sql_rate_high"])


def figures_by_period(y: np.ndarray, p: np.ndarray, is_mql: np.ndarray, leads: np.ndarray, rows: np.ndarray,
                      labels: np.ndarray, boot: GroupBootstrap, *, days_of: dict[str, float],
                      confidence: float) -> list[dict[str, Any]]:
    """:func:`figures_on` per period label (``labels`` per row, e.g. ``2026-05``), in order."""
    rows = np.asarray(rows, dtype=np.int64)
    out = []
    for label in sorted(set(labels[rows])):
        chosen = rows[labels[rows] == label]
        figures = figures_on(y, p, is_mql, leads, chosen, boot, days=days_of.get(label, 0.0), confidence=confidence)
        out.append({"period": label, **figures.to_dict()})
    return out
