"""Evaluation: metrics, tables, plots and a model card for each trained model.

``evaluate_model`` turns one model's validation predictions into a
:class:`ModelEvaluation`: threshold-free metrics (ROC-AUC, PR-AUC, log loss,
Brier), metrics at the MQL threshold, a reliability table, cumulative gains and
lift, and the SQL rate per tier and per score band. ``write_report`` writes the
evaluations of all models (typically the scorecard, LightGBM and the hand-set
25 %-per-quarter baseline) into one folder: CSV tables, four PNG charts, a
markdown report and a model card. The trainer logs that folder to MLflow and
copies it to ``models/``.

Only aggregates are ever written: the functions receive arrays of labels,
probabilities, scores and tiers (never lead ids, emails, names or titles), and
every table has a fixed, small number of rows (10 calibration bins, 11 gains
rows, the tiers A-D plus one "other" row, 10 score bands). A tier value outside
A-D is counted in the "other" row and never written out.

Ties in the predicted probability are handled as random tie-breaking in
expectation: a constant model has a lift of exactly 1 at every depth, and the
result does not depend on the order of the rows.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

TIERS = ("A", "B", "C", "D")
OTHER_TIER = "other"
GAINS_SHARES = (0.01, 0.02, 0.05, 0.10, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.90, 1.00)
N_CALIBRATION_BINS = 10
LOG_LOSS_EPS = 1e-15
QUARTER_DAYS = 365.25 / 4
DPI = 110

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


@dataclass
class ReportFiles:
    """What ``write_report`` wrote."""

    folder: Path
    report_md: Path
    model_card_md: Path
    pngs: list[Path]
    csvs: list[Path]


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


def _metrics(y: np.ndarray, p: np.ndarray, is_mql: np.ndarray) -> tuple[dict[str, float], list[str]]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    n, positives = len(y), int(y.sum())
    notes: list[str] = []
    one_class = positives in (0, n)
    if one_class:
        roc_auc = pr_auc = float("nan")
        notes.append(f"Only {'SQLs' if positives else 'non-SQLs'} among the {n:,} validation rows: "
                     "ROC-AUC and PR-AUC are undefined.")
    else:
        roc_auc = float(roc_auc_score(y, p))
        pr_auc = float(average_precision_score(y, p))
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
                   is_mql: np.ndarray) -> ModelEvaluation:
    """Evaluate one model on validation rows.

    ``y`` 0/1 SQL within the horizon; ``p`` calibrated probabilities; ``score`` 0-100;
    ``tier`` "A".."D" (anything else counts as "other"); ``is_mql`` above the MQL threshold.
    Empty or inconsistent input raises ``ValueError``; a single class in ``y`` gives NaN
    AUCs, ``metrics["one_class"] == 1`` and a note, never an exception.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError("a model evaluation needs a name")
    y_arr, p_arr, score_arr, tier_arr, mql_arr = _as_arrays(y, p, score, tier, is_mql)
    metrics, notes = _metrics(y_arr, p_arr, mql_arr)
    if score_arr.min() < 0 or score_arr.max() > 100:
        notes.append("Some scores lie outside 0-100; they are counted in the end bands.")
    return ModelEvaluation(
        name=name.strip(),
        metrics=metrics,
        calibration=_calibration(y_arr, p_arr),
        gains=_gains(y_arr, p_arr),
        tiers=_tiers(y_arr, p_arr, tier_arr),
        score_bands=_score_bands(y_arr, score_arr),
        notes=notes,
    )


# --------------------------------------------------------------------------- formatting


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _num(value: Any, digits: int = 3) -> str:
    if _is_missing(value):
        return "n/a"
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def _pct(value: Any, digits: int = 1) -> str:
    if _is_missing(value):
        return "n/a"
    try:
        return f"{100 * float(value):.{digits}f} %"
    except (TypeError, ValueError):
        return str(value)


def _count(value: Any) -> str:
    if _is_missing(value):
        return "n/a"
    try:
        return f"{float(value):,.0f}"
    except (TypeError, ValueError):
        return str(value)


def _text(value: Any) -> str:
    """Any context value as one line of markdown-safe text."""
    if _is_missing(value):
        return "n/a"
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return " to ".join(_text(v) for v in value)
    return " ".join(str(value).split()).replace("|", "\\|")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(re.sub(r"(?<!\\)\|", r"\\|", cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _get(mapping: Any, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None


def _present(mapping: Any, key: str) -> bool:
    return not _is_missing(_get(mapping, key))


def _file_stem(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")
    return stem or "model"


# --------------------------------------------------------------------------- plots


def _colors(names: list[str]) -> dict[str, Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return {name: cmap(i % 10) for i, name in enumerate(names)}


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    try:
        fig.tight_layout()
        fig.savefig(path, dpi=DPI)
    finally:
        plt.close(fig)
    return path


def _plot_calibration(evaluations: list[ModelEvaluation], colors: dict, path: Path) -> Path:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    fig, ax = plt.subplots(figsize=(7, 6))
    top = 0.0
    for ev in evaluations:
        cal = ev.calibration
        ax.plot(cal["mean_predicted"], cal["observed_rate"], marker="o", color=colors[ev.name], label=ev.name)
        top = max(top, float(np.nanmax(cal[["mean_predicted", "observed_rate"]].to_numpy(dtype=float))))
    top = min(1.0, max(top * 1.08, 0.01))
    ax.plot([0, top], [0, top], linestyle="--", color="grey", label="perfectly calibrated")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    decimals = 0 if top >= 0.05 else 1
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=decimals))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=decimals))
    ax.set_xlabel("Predicted probability of SQL (mean per bin)")
    ax.set_ylabel("Observed SQL rate")
    ax.set_title("Calibration on the validation period\n(10 quantile bins of the predicted probability)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return _save(fig, path)


def _plot_gains(evaluations: list[ModelEvaluation], colors: dict, path: Path) -> Path:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    fig, ax = plt.subplots(figsize=(7, 6))
    for ev in evaluations:
        g = ev.gains
        ax.plot(np.r_[0.0, g["share_of_leads"]], np.r_[0.0, g["share_of_sqls_captured"]], marker="o",
                markersize=3, color=colors[ev.name], label=ev.name)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random order")
    base_rates = {round(ev.metrics.get("base_rate", float("nan")), 12) for ev in evaluations}
    if len(base_rates) == 1:
        base = base_rates.pop()
        if 0 < base < 1:
            ax.plot([0, base, 1], [0, 1, 1], linestyle=":", color="black", label="perfect order")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("Share of leads, highest predicted probability first")
    ax.set_ylabel("Share of all SQLs captured")
    ax.set_title("Cumulative gains on the validation period")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return _save(fig, path)


def _plot_lift(evaluations: list[ModelEvaluation], colors: dict, path: Path) -> Path:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator, PercentFormatter

    fig, ax = plt.subplots(figsize=(7, 5))
    for ev in evaluations:
        g = ev.gains
        ax.plot(g["share_of_leads"], g["lift"], marker="o", color=colors[ev.name], label=ev.name)
    ax.axhline(1.0, linestyle="--", color="grey", label="random order (lift 1)")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator([0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylim(bottom=0)
    ax.set_xlabel("Top share of leads by predicted probability (log scale)")
    ax.set_ylabel("Lift (SQL rate in the top share / overall SQL rate)")
    ax.set_title("Lift on the validation period")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    return _save(fig, path)


def _plot_tiers(evaluations: list[ModelEvaluation], colors: dict, path: Path) -> Path:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    labels = list(TIERS) + ([OTHER_TIER] if any(OTHER_TIER in set(ev.tiers["tier"]) for ev in evaluations) else [])
    fig, ax = plt.subplots(figsize=(8, 5))
    width = 0.8 / len(evaluations)
    x = np.arange(len(labels))
    for i, ev in enumerate(evaluations):
        rates = ev.tiers.set_index("tier")["sql_rate"].reindex(labels).to_numpy(dtype=float)
        bars = ax.bar(x + (i - (len(evaluations) - 1) / 2) * width, np.nan_to_num(rates), width,
                      color=colors[ev.name], label=ev.name)
        for bar, rate in zip(bars, rates):
            if np.isfinite(rate):
                ax.annotate(f"{100 * rate:.0f}%", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            ha="center", va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
    base = evaluations[0].metrics.get("base_rate", float("nan"))
    if np.isfinite(base):
        ax.axhline(base, linestyle="--", color="grey", label=f"overall SQL rate ({100 * base:.1f}%)")
    ax.set_xticks(x, [f"tier {t}" if t in TIERS else t for t in labels])
    ax.set_ylim(0, ax.get_ylim()[1] * 1.08)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0 if ax.get_ylim()[1] >= 0.05 else 1))
    ax.set_xlabel("Tier (A = highest score)")
    ax.set_ylabel("SQL rate within the horizon")
    ax.set_title("SQL rate per tier on the validation period")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper right")
    return _save(fig, path)


# --------------------------------------------------------------------------- markdown


def _champion(evaluations: list[ModelEvaluation], context: dict) -> tuple[ModelEvaluation, str | None]:
    """The champion's evaluation, and why it had to be guessed (then the first model stands in)."""
    named = _get(context, "champion")
    by_name = {ev.name: ev for ev in evaluations}
    if isinstance(named, str) and named in by_name:
        return by_name[named], None
    if _is_missing(named):
        return evaluations[0], "No champion was named"
    return evaluations[0], f"The champion `{_text(named)}` is not among the evaluated models"


def _baseline(evaluations: list[ModelEvaluation], champion: ModelEvaluation) -> ModelEvaluation | None:
    for ev in evaluations:
        if ev is not champion and "baseline" in ev.name.lower():
            return ev
    return None


def _oracle_rows(context: dict) -> list[tuple[str, dict]]:
    oracle = _get(context, "oracle")
    if not isinstance(oracle, dict):
        return []
    if oracle and all(not isinstance(v, dict) for v in oracle.values()):  # a single metrics dict
        return [("oracle (true probabilities)", oracle)]
    return [(f"{name} (true probabilities)" if name != "oracle" else "oracle (true probabilities)", m)
            for name, m in oracle.items() if isinstance(m, dict)]


def _metrics_table(rows: list[tuple[str, dict]]) -> str:
    headers = ["model", "ROC-AUC", "PR-AUC", "log loss", "Brier", "base rate", "rows", "SQLs"]
    body = [[_text(name), _num(_get(m, "roc_auc")), _num(_get(m, "pr_auc")), _num(_get(m, "log_loss"), 4),
             _num(_get(m, "brier"), 4), _pct(_get(m, "base_rate")), _count(_get(m, "n")),
             _count(_get(m, "positives"))] for name, m in rows]
    return _table(headers, body)


def _threshold_table(evaluations: list[ModelEvaluation]) -> str:
    headers = ["model", "share of rows that are MQLs", "SQL rate among MQLs (precision)",
               "share of all SQLs captured (recall)"]
    body = [[_text(ev.name), _pct(ev.metrics.get("mql_share")), _pct(ev.metrics.get("precision_at_threshold")),
             _pct(ev.metrics.get("recall_at_threshold"))] for ev in evaluations]
    return _table(headers, body)


def _tiers_table(ev: ModelEvaluation) -> str:
    headers = ["tier", "rows", "share of rows", "SQLs", "SQL rate", "share of SQLs", "lift", "mean predicted"]
    body = [[_text(r["tier"]), _count(r["n"]), _pct(r["share_of_leads"]), _count(r["sqls"]), _pct(r["sql_rate"]),
             _pct(r["share_of_sqls"]), _num(r["lift"], 2), _pct(r.get("mean_predicted"))]
            for r in ev.tiers.to_dict("records")]
    return _table(headers, body)


def _bands_table(ev: ModelEvaluation) -> str:
    headers = ["score", "rows", "share of rows", "SQLs", "SQL rate", "share of SQLs"]
    body = [[_text(r["band"]), _count(r["n"]), _pct(r["share_of_leads"]), _count(r["sqls"]), _pct(r["sql_rate"]),
             _pct(r["share_of_sqls"])] for r in ev.score_bands.to_dict("records")]
    return _table(headers, body)


def _threshold_lines(context: dict) -> list[str]:
    t = _get(context, "threshold")
    if not isinstance(t, dict) or not t:
        return []
    lines = []
    if _present(t, "policy"):
        lines.append(f"- Policy: {_text(t['policy'])}")
    if _present(t, "value") and _present(t, "score"):
        lines.append(f"- Threshold: probability of SQL >= {_num(t['value'], 3)} (score >= {_num(t['score'], 0)})")
    elif _present(t, "value"):
        lines.append(f"- Threshold: probability of SQL >= {_num(t['value'], 3)}")
    elif _present(t, "score"):
        lines.append(f"- Threshold: score >= {_num(t['score'], 0)}")
    if _present(t, "mqls_per_week"):
        volume = t["mqls_per_week"]
        digits = 1 if isinstance(volume, (int, float)) and abs(volume) < 10 else 0
        lines.append(f"- Expected MQL volume: about {_num(volume, digits)} per week")
    if _present(t, "sql_rate"):
        lines.append(f"- SQL rate among MQLs: {_pct(t['sql_rate'])}")
    if _present(t, "share_of_sqls"):
        lines.append(f"- Share of all SQLs captured by the MQLs: {_pct(t['share_of_sqls'])}")
    return lines


def _half_life_records(context: dict) -> list[dict]:
    raw = _get(context, "half_lives")
    if raw is None:
        return []
    if isinstance(raw, pd.DataFrame):
        raw = raw.to_dict("records")
    records = []
    try:
        for item in raw:
            if is_dataclass(item) and not isinstance(item, type):
                item = asdict(item)
            if isinstance(item, dict):
                records.append(item)
    except TypeError:
        return []
    return records


def _quarterly_loss(half_life: float) -> float:
    return 1 - 0.5 ** (QUARTER_DAYS / half_life)


def _half_lives_section(context: dict) -> list[str]:
    records = _half_life_records(context)
    rule = _get(context, "rule_of_thumb_half_life")
    if not records and _is_missing(rule):
        return []
    lines = ["## Learned half-lives", ""]
    rule_value = None
    try:
        rule_value = float(rule) if not _is_missing(rule) and float(rule) > 0 else None
    except (TypeError, ValueError):
        rule_value = None
    if rule_value:
        lines += [f"The common practice of decaying hand-set points 20-30 % per quarter means a half-life of about "
                  f"{rule_value:.0f} days for every signal (25 % lost per quarter). "
                  "What the data says, per signal:", ""]
    headers = ["signal", "half-life (days)", "95 % interval (days)", "lost per quarter", "identified"]
    if rule_value:
        headers.append("vs rule of thumb")
    body = []
    for r in records:
        identified = bool(r.get("identified")) if not _is_missing(r.get("identified")) else False
        interval = (f"{_num(r.get('low_days'), 0)}-{_num(r.get('high_days'), 0)}"
                    if identified and _present(r, "low_days") and _present(r, "high_days") else "not identified")
        row = [_text(r.get("family")), _num(r.get("half_life_days"), 0), interval, _pct(r.get("lost_per_quarter"), 0),
               "yes" if identified else "no"]
        if rule_value:
            try:
                ratio = float(r.get("half_life_days")) / rule_value
                comparison = f"fades {1 / ratio:.1f}x faster" if ratio < 1 else f"fades {ratio:.1f}x slower"
            except (TypeError, ValueError, ZeroDivisionError):
                comparison = "n/a"
            row.append(comparison if identified else "n/a")
        body.append(row)
    if rule_value:
        row = ["rule of thumb (25 %/quarter)", f"{rule_value:.0f}", "-", _pct(_quarterly_loss(rule_value), 0), "-",
               "-"]
        body.append(row)
    lines += [_table(headers, body), ""]
    if records:
        lines += ["A half-life is *identified* when its 95 % interval spans at most about a factor of two each way "
                  "and the signal's weight is clearly non-zero; for the others the data cannot say how fast they "
                  "fade.", ""]
    return lines


def _fit_intent_lines(context: dict) -> list[str]:
    share = _get(context, "fit_intent_share")
    if not isinstance(share, dict) or not share:
        return []
    parts = [f"{_text(k)} {_pct(v)}" for k, v in share.items()]
    return ["## Fit versus intent", "",
            "Share of the champion's explanation (attributions summed over the validation rows) coming from each "
            "feature group: " + ", ".join(parts) + ".", ""]


def _notes(context: dict) -> list[str]:
    notes = _get(context, "notes")
    if isinstance(notes, str):
        return [notes]
    if isinstance(notes, (list, tuple)):
        return [str(n) for n in notes if not _is_missing(n)]
    return []


def _counts_sentence(evaluations: list[ModelEvaluation]) -> str:
    counts = {(ev.metrics.get("n"), ev.metrics.get("positives")) for ev in evaluations}
    if len(counts) == 1:
        n, pos = counts.pop()
        return (f"{_count(n)} validation rows (snapshots of open leads), of which {_count(pos)} became SQLs within "
                f"the horizon (base rate {_pct(evaluations[0].metrics.get('base_rate'))}).")
    return "Validation rows per model: " + "; ".join(
        f"`{_text(ev.name)}` {_count(ev.metrics.get('n'))} rows, {_count(ev.metrics.get('positives'))} SQLs"
        for ev in evaluations) + "."


def _header_lines(context: dict) -> list[str]:
    lines = []
    for key, label in (("model_name", "Model"), ("model_version", "Version"), ("trained_at", "Trained at")):
        if _present(context, key):
            lines.append(f"- {label}: {_text(context[key])}")
    window = _get(context, "data_window")
    if isinstance(window, dict):
        for key, label in (("first", "First timestamp"), ("last", "Last timestamp"), ("as_of", "As-of time")):
            if _present(window, key):
                lines.append(f"- {label}: {_text(window[key])}")
    if _present(context, "horizon_days"):
        lines.append(f"- Horizon: SQL within {_num(context['horizon_days'], 0)} days")
    return lines


def _report_md(evaluations: list[ModelEvaluation], context: dict, pngs: list[Path], csvs: list[Path]) -> str:
    champion, champion_note = _champion(evaluations, context)
    lines = ["# Evaluation report", ""]
    header = _header_lines(context)
    if header:
        lines += header + [""]
    lines += ["## Models side by side", "",
              "Validation period, threshold-free metrics (higher ROC-AUC and PR-AUC are better; lower log loss and "
              "Brier are better).", "",
              _metrics_table([(ev.name, ev.metrics) for ev in evaluations] + _oracle_rows(context)), ""]
    if _oracle_rows(context):
        lines += ["The oracle row scores the synthetic data with its true probabilities: the best any model could "
                  "do on these rows.", ""]
    lines += ["At each model's own MQL threshold:", "", _threshold_table(evaluations), ""]

    lines += ["## Champion", ""]
    if champion_note:
        lines += [f"{champion_note}; the tables below are for `{_text(champion.name)}`.", ""]
    else:
        reason = _get(context, "champion_reason")
        because = f": {_text(reason).rstrip('.')}." if not _is_missing(reason) else "."
        lines += [f"The champion is **{_text(champion.name)}**{because}", ""]

    threshold = _threshold_lines(context)
    if threshold:
        lines += ["## MQL threshold", ""] + threshold + [""]

    lines += [f"## Tiers ({_text(champion.name)})", "", _tiers_table(champion), "",
              f"## Score bands ({_text(champion.name)})", "", _bands_table(champion), ""]

    lines += ["## Charts", ""]
    titles = {"calibration.png": "Calibration", "gains.png": "Cumulative gains", "lift.png": "Lift",
              "tiers.png": "SQL rate per tier"}
    for png in pngs:
        lines += [f"![{titles.get(png.name, png.stem)}]({png.name})", ""]

    lines += _half_lives_section(context)
    lines += _fit_intent_lines(context)

    model_notes = [f"`{_text(ev.name)}`: {note}" for ev in evaluations for note in ev.notes]
    notes = _notes(context) + model_notes
    if notes:
        lines += ["## Notes", ""] + [f"- {_text(n)}" for n in notes] + [""]

    lines += ["## Honesty", "",
              "These are validation-period figures on fully labelled snapshots: " + _counts_sentence(evaluations),
              "",
              "- Validation is by time: the models were fitted only on snapshots whose whole horizon ended before the "
              "validation period began, and scored on the most recent fully labelled period.",
              "- Snapshots whose horizon reaches past the as-of time have no known label yet (censored); they are "
              "left out, never counted as non-SQLs.",
              "- A row is a snapshot of an open lead at one moment, and a lead can appear more than once: the "
              "\"share of leads\" in the gains and tier tables is a share of these rows.",
              "- Sampling error: the approximate 95 % intervals of the ROC-AUC (Hanley & McNeil, taking rows as "
              "independent, so somewhat too narrow) are " + "; ".join(
                  f"`{_text(ev.name)}` {_num(ev.metrics.get('roc_auc_low'))}-{_num(ev.metrics.get('roc_auc_high'))}"
                  for ev in evaluations) + ".",
              "- The future differs from the validation period (campaigns, products, markets, CRM practice change): "
              "re-evaluate after each retraining and watch the SQL rate of new MQLs.",
              ""]
    lines += ["## Files", "", "Tables: " + ", ".join(f"[{c.name}]({c.name})" for c in csvs) + ".", ""]
    return "\n".join(lines)


def _model_card_md(evaluations: list[ModelEvaluation], context: dict) -> str:
    champion, champion_note = _champion(evaluations, context)
    baseline = _baseline(evaluations, champion)
    name = _get(context, "model_name")
    name = _text(name) if not _is_missing(name) else _text(champion.name)
    version = _get(context, "model_version")
    lines = [f"# Model card: {name}", "", "## Model details", "",
             f"- Name: {name}",
             f"- Version: {_text(version) if not _is_missing(version) else 'unregistered'}",
             f"- Model: {_text(champion.name)}" + (f" (champion: {_text(context['champion_reason'])})"
                                                   if _present(context, "champion_reason") and not champion_note
                                                   else "")]
    if champion_note:
        lines.append(f"- {champion_note}; this card describes `{_text(champion.name)}`, the first evaluated model.")
    if _present(context, "trained_at"):
        lines.append(f"- Trained at: {_text(context['trained_at'])}")
    lines += ["- Output: a probability that the lead becomes a sales qualified lead (SQL) within the horizon, a "
              "0-100 score, a tier A-D, the MQL flag and the reasons.", ""]

    lines += ["## Intended use", "",
              "Prioritising marketing qualified leads (MQLs) for sales follow-up at digital-health and telehealth "
              "vendors: routing, ordering and flagging B2B leads so that sales reps call the most promising first. "
              "The output is a probability of SQL within the horizon"
              + (f" ({_num(context['horizon_days'], 0)} days)" if _present(context, "horizon_days") else "")
              + ", estimated from this organisation's own historical MQL to SQL conversions.", "",
              "## Not intended for", "",
              "- Any decision about patients: care, eligibility, coverage or clinical priority.",
              "- Decisions about credit, insurance, employment or housing of any person.",
              "- Anything outside B2B lead routing and prioritisation, and use on another organisation's leads "
              "without retraining on its data.", ""]

    lines += ["## Data", ""]
    window = _get(context, "data_window")
    data_lines = []
    if isinstance(window, dict):
        for key, label in (("first", "First timestamp"), ("last", "Last timestamp"), ("as_of", "As-of time")):
            if _present(window, key):
                data_lines.append(f"- {label}: {_text(window[key])}")
    if _present(context, "horizon_days"):
        data_lines.append(f"- Horizon: an SQL within {_num(context['horizon_days'], 0)} days of the snapshot")
    lines += (data_lines or ["- Data window not recorded."]) + [""]

    fingerprint = _get(context, "fingerprint")
    if isinstance(fingerprint, dict) and fingerprint:
        lines += ["## Training data fingerprint", ""]
        if _present(fingerprint, "rows"):
            lines.append(f"- Rows: {_count(fingerprint['rows'])}")
        if _present(fingerprint, "time_range"):
            lines.append(f"- Time range: {_text(fingerprint['time_range'])}")
        if _present(fingerprint, "sha256"):
            lines.append(f"- Content hash (SHA-256): `{_text(fingerprint['sha256'])}`")
        lines += [""]

    groups = _get(context, "features_by_group")
    if isinstance(groups, dict) and groups:
        descriptions = {"fit": "facts about the lead and its organisation", "intent": "decayed engagement signals",
                        "account": "the buying committee: colleagues in the same account"}
        rows = [[_text(g), _count(n), descriptions.get(str(g), "")] for g, n in groups.items()]
        try:
            rows.append(["total", _count(sum(float(n) for n in groups.values())), ""])
        except (TypeError, ValueError):
            pass
        lines += ["## Features", "", _table(["group", "features", "what"], rows), ""]

    lines += ["## Validation metrics", "",
              "On the most recent fully labelled period, by time: " + _counts_sentence(evaluations), "",
              _metrics_table([(ev.name, ev.metrics) for ev in (champion, baseline) if ev is not None]
                             + _oracle_rows(context)), ""]

    threshold = _threshold_lines(context)
    lines += ["## Threshold and policy", ""] + (threshold or ["- No MQL threshold recorded."]) + [""]

    lines += ["## Limits", ""]
    lines += [f"- {_text(n)}" for n in _notes(context)]
    lines += ["- Censoring: snapshots whose horizon had not ended by the as-of time have unknown labels and were "
              "left out; leads that convert slowly are under-represented in the most recent data.",
              "- Drift: campaigns, products, pricing, markets and CRM practice change; so does what predicts an SQL. "
              "Watch the SQL rate of new MQLs and retrain when it moves.",
              "- The label is what sales accepted as an SQL: the model learns this organisation's past qualification "
              "practice, including its habits and biases.",
              "- Figures come from one validation period and carry sampling error (see the evaluation report); "
              "rows are snapshots, and a lead may contribute several.",
              "- Personal data: no emails, names or job titles are used or stored; only derived features are "
              "(free-mail or corporate address, persona and seniority parsed from the title). "
              "This card and the evaluation hold "
              "aggregates only, never lead ids.", ""]

    retrain = _get(context, "retrain_command")
    lines += ["## How to retrain", "",
              "1. Export a fresh folder of leads, activities and outcomes from the CRM (map it with "
              "`mqlscore import` if needed) and check it with `mqlscore validate DIR`.",
              "2. Run training on it" + (f" (`{_text(retrain)}`)" if not _is_missing(retrain) else "")
              + ": it builds point-in-time snapshots, fits the models, validates them by time on the most recent "
              "fully labelled period, logs everything to MLflow and writes a new evaluation report and model card.",
              "3. Promote the new model only if it beats the current champion on the validation period, and "
              "compare the SQL rate among MQLs at the new threshold.", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- write


def write_report(folder: Path, evaluations: list[ModelEvaluation], context: dict | None = None) -> ReportFiles:
    """Write CSV tables, PNG charts, ``report.md`` and ``model_card.md`` for the evaluated models."""
    import matplotlib

    matplotlib.use("Agg")

    if not evaluations:
        raise ValueError("no model evaluations to report")
    names = [ev.name for ev in evaluations]
    stems = [_file_stem(n) for n in names]
    if len(set(stems)) != len(stems):
        raise ValueError(f"model names must be distinct (as file names): {names}")
    context = context if isinstance(context, dict) else {}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    csvs: list[Path] = []
    metrics = pd.DataFrame([{"model": ev.name, **ev.metrics} for ev in evaluations])
    csvs.append(folder / "metrics.csv")
    metrics.to_csv(csvs[-1], index=False)
    for ev, stem in zip(evaluations, stems):
        for kind, table in (("calibration", ev.calibration), ("gains", ev.gains), ("tiers", ev.tiers),
                            ("score_bands", ev.score_bands)):
            csvs.append(folder / f"{kind}_{stem}.csv")
            table.to_csv(csvs[-1], index=False)

    colors = _colors(names)
    pngs = [
        _plot_calibration(evaluations, colors, folder / "calibration.png"),
        _plot_gains(evaluations, colors, folder / "gains.png"),
        _plot_lift(evaluations, colors, folder / "lift.png"),
        _plot_tiers(evaluations, colors, folder / "tiers.png"),
    ]

    report_md = folder / "report.md"
    report_md.write_text(_report_md(evaluations, context, pngs, csvs), encoding="utf-8")
    model_card_md = folder / "model_card.md"
    model_card_md.write_text(_model_card_md(evaluations, context), encoding="utf-8")
    return ReportFiles(folder=folder, report_md=report_md, model_card_md=model_card_md, pngs=pngs, csvs=csvs)
