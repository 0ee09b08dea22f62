"""Evaluation: the validation figures of one trained model.

``evaluate_model`` turns one model's validation predictions into a
:class:`ModelEvaluation`: threshold-free metrics (ROC-AUC, PR-AUC, log loss,
Brier), metrics at the MQL threshold, a reliability table, cumulative gains and
lift, and the SQL rate per tier and per score band. Training evaluates every
candidate (typically the scorecard, LightGBM and the hand-set 25 %-per-quarter
baseline); ``mqlscore.reporting`` writes the evaluations out as tables, charts,
a report and a model card.

Only aggregates come out: the functions receive arrays of labels,
probabilities, scores and tiers (never lead ids, emails, names or titles), and
every table has a fixed, small number of rows (10 calibration bins, 13 gains
rows, the tiers A-D plus one "other" row, 10 score bands). A tier value outside
A-D is counted in the "other" row and never named.

Ties in the predicted probability are handled as random tie-breaking in
expectation: a constant model has a lift of exactly 1 at every depth, and the
result does not depend on the order of the rows.

Ranking figures (ROC-AUC, PR-AUC, gains) come from the model's own ordering
(``rank``) when one is given. Training passes it because its probabilities are
cross-fitted: each half of the validation leads is calibrated by a map fitted on
the other half, and two maps disagree on tied or near-tied rows. A model that
scores every lead the same then looked worse than chance (ROC-AUC 0.474 on an
export without activities) although it cannot rank at all; by its own ordering
it gets exactly 0.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd

from mqlscore.contract.schema import TIERS

OTHER_TIER = "other"
GAINS_SHARES = (0.01, 0.02, 0.05, 0.10, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.90, 1.00)
N_CALIBRATION_BINS = 10
LOG_LOSS_EPS = 1e-15

METRIC_KEYS = ("n", "positives", "base_rate", "roc_auc", "pr_auc", "log_loss", "brier",
               "recall_at_threshold", "precision_at_threshold", "mql_share")


@dataclass
class ModelEvaluation:
    """One model's validation figures: metrics and aggregate tables."""

    name: str  # "scorecard", "lightgbm", "baseline_25pct_quarter", ...
    metrics: dict[str, float]  # METRIC_KEYS, plus roc_auc_low/high and the one_class flag
    calibration: pd.DataFrame  # bin, n, mean_predicted, observed_rate, p_min, p_max
    gains: pd.DataFrame  # share_of_leads, n, sqls_captured, share_of_sqls_captured, lift, sql_rate
    tiers: pd.DataFrame  # tier, n, share_of_leads, sqls, sql_rate, share_of_sqls, lift, mean_predicted
    score_bands: pd.DataFrame  # band, score_low, score_high, n, share_of_leads, sqls, sql_rate, share_of_sqls
    notes: list[str] = field(default_factory=list)  # e.g. why an AUC is undefined


# --------------------------------------------------------------------------- metrics


def _as_arrays(y: Any, p: Any, score: Any, tier: Any, is_mql: Any
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    y_arr = np.asarray(y).ravel()
    p_arr = np.asarray(p, dtype=float).ravel()
    score_arr = np.asarray(score, dtype=float).ravel()
    tier_arr = np.asarray(tier, dtype=object).ravel()
    mql_arr = np.asarray(is_mql).ravel()
    n = len(y_arr)
    if n == 0:
        raise ValueError("cannot evaluate a model on no rows (the validation set is empty)")
    lengths = {"y": n, "p": len(p_arr), "score": len(score_arr), "tier": len(tier_arr), "is_mql": len(mql_arr)}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"inputs differ in length: {lengths}")
    try:
        y_num = y_arr.astype(float)
    except (TypeError, ValueError):
        raise ValueError("y must hold 0/1 labels") from None
    if not np.all(np.isin(y_num, (0.0, 1.0))):
        raise ValueError("y must hold 0/1 labels only (no missing labels: censored rows are left out beforehand)")
    if not np.all(np.isfinite(p_arr)) or p_arr.min() < 0 or p_arr.max() > 1:
        raise ValueError("p must hold probabilities in [0, 1] without missing values")
    if not np.all(np.isfinite(score_arr)):
        raise ValueError("score must hold numbers 0-100 without missing values")
    if mql_arr.dtype == object:  # missing counts as "not an MQL"
        mql_bool = np.array([False if _is_missing(v) else bool(v) for v in mql_arr], dtype=bool)
    else:
        mql_bool = np.nan_to_num(mql_arr.astype(float)).astype(bool) if mql_arr.dtype.kind == "f" \
            else mql_arr.astype(bool)
    return y_num.astype(np.int8), p_arr, score_arr, tier_arr, mql_bool


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else float("nan")


def _auc_interval(auc: float, positives: int, negatives: int) -> tuple[float, float]:
    """Approximate 95 % interval of a ROC-AUC (Hanley & McNeil, 1982), rows taken as independent."""
    if not np.isfinite(auc) or positives == 0 or negatives == 0:
        return float("nan"), float("nan")
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)) \
        / (positives * negatives)
    se = math.sqrt(max(var, 0.0))
    return max(0.0, auc - 1.96 * se), min(1.0, auc + 1.96 * se)


def _metrics(y: np.ndarray, p: np.ndarray, is_mql: np.ndarray, rank: np.ndarray
             ) -> tuple[dict[str, float], list[str]]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    n, positives = len(y), int(y.sum())
    notes: list[str] = []
    one_class = positives in (0, n)
    if one_class:
        roc_auc = pr_auc = float("nan")
        notes.append(f"Only {'SQLs' if positives else 'non-SQLs'} among the {n:,} validation rows: "
                     "ROC-AUC and PR-AUC are undefined.")
    else:
        roc_auc = float(roc_auc_score(y, rank))
        pr_auc = float(average_precision_score(y, rank))
    q = np.clip(p, LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    log_loss = float(-np.mean(y * np.log(q) + (1 - y) * np.log1p(-q)))
    hits = int((y.astype(bool) & is_mql).sum())
    mqls = int(is_mql.sum())
    if mqls == 0:
        notes.append("No row is above the MQL threshold: precision at the threshold is undefined.")
    low, high = _auc_interval(roc_auc, positives, n - positives)
    metrics = {
        "n": float(n),
        "positives": float(positives),
        "base_rate": positives / n,
        "roc_auc": roc_auc,
        "pr_auc": pr_auc,
        "log_loss": log_loss,
        "brier": float(np.mean((p - y) ** 2)),
        "recall_at_threshold": _ratio(hits, positives),
        "precision_at_threshold": _ratio(hits, mqls),
        "mql_share": mqls / n,
        "roc_auc_low": low,
        "roc_auc_high": high,
        "one_class": float(one_class),
    }
    return metrics, notes


def _calibration(y: np.ndarray, p: np.ndarray, bins: int = N_CALIBRATION_BINS) -> pd.DataFrame:
    """Quantile bins of p (fewer when p has heavy ties): predicted vs observed SQL rate."""
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    index = np.searchsorted(edges[1:-1], p, side="right")
    frame = pd.DataFrame({"bin": index, "p": p, "y": y})
    table = frame.groupby("bin", sort=True).agg(n=("y", "size"), mean_predicted=("p", "mean"),
                                                observed_rate=("y", "mean"), p_min=("p", "min"),
                                                p_max=("p", "max")).reset_index(drop=True)
    table.insert(0, "bin", np.arange(1, len(table) + 1))
    table["n"] = table["n"].astype(int)
    return table


def _cumulative_gain(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative (rows, SQLs) at the end of each group of tied p, highest p first, from (0, 0)."""
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    ends = np.flatnonzero(np.r_[p_sorted[1:] != p_sorted[:-1], True]) + 1
    cum_y = np.r_[0, np.cumsum(y_sorted)]
    return np.r_[0, ends].astype(float), cum_y[np.r_[0, ends]].astype(float)


def _gains(y: np.ndarray, p: np.ndarray, shares: Iterable[float] = GAINS_SHARES) -> pd.DataFrame:
    """SQLs captured in the top share of rows by p; ties split in proportion (random tie-breaking)."""
    n, positives = len(y), int(y.sum())
    rows_at, sqls_at = _cumulative_gain(y, p)
    shares = np.asarray(list(shares), dtype=float)
    captured = np.interp(shares * n, rows_at, sqls_at)
    share_captured = captured / positives if positives else np.full(len(shares), np.nan)
    return pd.DataFrame({
        "share_of_leads": shares,
        "n": np.round(shares * n).astype(int),
        "sqls_captured": captured,
        "share_of_sqls_captured": share_captured,
        "lift": share_captured / shares if positives else np.full(len(shares), np.nan),
        "sql_rate": captured / (shares * n),
    })


def _group_table(keys: np.ndarray, labels: list[str], y: np.ndarray, p: np.ndarray | None,
                 key_name: str) -> pd.DataFrame:
    n, positives = len(y), int(y.sum())
    base_rate = positives / n
    rows = []
    for label in labels:
        mask = keys == label
        count, sqls = int(mask.sum()), int(y[mask].sum())
        rate = _ratio(sqls, count)
        row = {key_name: label, "n": count, "share_of_leads": count / n, "sqls": sqls, "sql_rate": rate,
               "share_of_sqls": _ratio(sqls, positives), "lift": _ratio(rate, base_rate) if count else np.nan}
        if p is not None:
            row["mean_predicted"] = float(p[mask].mean()) if count else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _tiers(y: np.ndarray, p: np.ndarray, tier: np.ndarray) -> pd.DataFrame:
    """Rows per tier A-D; any other value (missing, unexpected) is counted as "other", never named."""
    keys = np.array([str(t).strip().upper() if isinstance(t, str) else "" for t in tier], dtype=object)
    keys[~np.isin(keys, TIERS)] = OTHER_TIER
    labels = list(TIERS) + ([OTHER_TIER] if (keys == OTHER_TIER).any() else [])
    return _group_table(keys, labels, y, p, "tier")


def _score_bands(y: np.ndarray, score: np.ndarray) -> pd.DataFrame:
    """Bands of 10 points: 0-9, ..., 80-89, 90-100 (scores outside 0-100 go to the end bands)."""
    band = np.clip(np.floor(score / 10), 0, 9).astype(int)
    labels = [f"{10 * b}-{10 * b + 9}" if b < 9 else "90-100" for b in range(10)]
    keys = np.array(labels, dtype=object)[band]
    table = _group_table(keys, labels, y, None, "band")
    table.insert(1, "score_low", [10 * b for b in range(10)])
    table.insert(2, "score_high", [10 * b + 9 if b < 9 else 100 for b in range(10)])
    return table


def evaluate_model(name: str, y: np.ndarray, p: np.ndarray, score: np.ndarray, tier: np.ndarray,
                   is_mql: np.ndarray, rank: np.ndarray | None = None) -> ModelEvaluation:
    """Evaluate one model on validation rows.

    ``y`` 0/1 SQL within the horizon; ``p`` calibrated probabilities; ``score`` 0-100;
    ``tier`` "A".."D" (anything else counts as "other"); ``is_mql`` above the MQL threshold;
    ``rank`` the model's own ordering of the rows (any increasing function of its
    calibrated log-odds) for ROC-AUC, PR-AUC and the gains table, when ``p`` was
    calibrated in folds (default: ``p``).
    Empty or inconsistent input raises ``ValueError``; a single class in ``y`` gives NaN
    AUCs, ``metrics["one_class"] == 1`` and a note, never an exception.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError("a model evaluation needs a name")
    y_arr, p_arr, score_arr, tier_arr, mql_arr = _as_arrays(y, p, score, tier, is_mql)
    rank_arr = p_arr if rank is None else np.asarray(rank, dtype=float).ravel()
    if len(rank_arr) != len(y_arr) or not np.all(np.isfinite(rank_arr)):
        raise ValueError("rank must hold one finite number per row")
    metrics, notes = _metrics(y_arr, p_arr, mql_arr, rank_arr)
    if score_arr.min() < 0 or score_arr.max() > 100:
        notes.append("Some scores lie outside 0-100; they are counted in the end bands.")
    return ModelEvaluation(
        name=name.strip(),
        metrics=metrics,
        calibration=_calibration(y_arr, p_arr),
        gains=_gains(y_arr, rank_arr),
        tiers=_tiers(y_arr, p_arr, tier_arr),
        score_bands=_score_bands(y_arr, score_arr),
        notes=notes,
    )


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
