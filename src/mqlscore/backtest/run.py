"""Rolling-origin evaluation: at each origin, train on what was known then, score
the leads open then and compare with what happened within the horizon after it.

:func:`backtest` writes nothing; ``mqlscore.backtest.report`` writes the table,
the JSON and the plot. At each origin ``T``:

1. the export cut at ``T`` (:func:`mqlscore.backtest.cut.known_at`): nothing
   created, done or decided at or after ``T``;
2. ``mqlscore.training.train`` on it with the given settings (the same code as
   ``mqlscore train``: leak guard, champion, threshold, refit), without the
   half-life estimate, which only feeds the report; a refusal (too little data,
   leaking columns) skips the origin with the reason;
3. the leads open at ``T`` in the cut scored by the trained champion (as it
   would have been registered) and by the hand-set 25 %-per-quarter baseline,
   whose Platt mapping is the one training fitted at ``T``;
4. their outcome from the full export: an SQL within ``horizon_days`` after
   ``T`` (the training label's rule); a lead closed otherwise, or still open,
   is a negative. An origin whose horizon runs past the export's as-of time is
   refused before any work (:class:`~mqlscore.backtest.origins.CensoredOrigin`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from mqlscore.backtest.cut import known_at
from mqlscore.backtest.origins import CensoredOrigin, latest_origin
from mqlscore.config import Settings
from mqlscore.contract import Dataset
from mqlscore.contract.schema import HISTORY_FIELDS
from mqlscore.features import open_leads_at
from mqlscore.features.snapshots import look_back

Progress = Callable[[str], None]
# The per-origin figures, in the order of the table and the CSV file.
FIGURES = ("origin", "status", "champion", "open_leads", "sqls", "sql_rate", "roc_auc", "average_precision",
           "log_loss", "baseline_roc_auc", "baseline_average_precision", "baseline_log_loss", "mqls",
           "mql_sql_rate", "promised_mql_sql_rate", "share_of_sqls_captured", "promised_share_of_sqls",
           "validation_roc_auc", "validation_average_precision", "train_leads", "train_sqls", "refitted",
           "train_seconds", "score_seconds", "reason")


@dataclass
class OriginResult:
    """One origin: its figures (see :data:`FIGURES`) and, when trained, the scored
    open leads (``lead_id``, ``sql_within_horizon``, ``probability``, ``is_mql``,
    ``baseline_points``, ``baseline_probability``) and the champion's
    ``ScoringModel`` (as it would have been registered at the origin)."""

    origin: pd.Timestamp
    status: str  # "ok" or "skipped"
    reason: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    scored: pd.DataFrame | None = None
    model: Any = None

    def row(self) -> dict[str, Any]:
        """The origin's figures as one row (missing figures are NaN, text empty)."""
        base: dict[str, Any] = {name: math.nan for name in FIGURES}
        base.update(champion="", refitted=None)
        base.update(self.figures)
        base.update(origin=_iso(self.origin), status=self.status, reason=self.reason)
        return base


@dataclass
class BacktestResult:
    """Every origin's result, with what the backtest was run on."""

    origins: list[OriginResult]
    horizon_days: int
    export_as_of: pd.Timestamp
    settings: dict[str, Any]
    seconds: float = 0.0

    def table(self) -> pd.DataFrame:
        """One row per origin, the columns of :data:`FIGURES`."""
        return pd.DataFrame([o.row() for o in self.origins], columns=list(FIGURES))

    def trained(self) -> list[OriginResult]:
        """The origins where a model was trained and scored."""
        return [o for o in self.origins if o.status == "ok"]

    def summary(self) -> dict[str, Any]:
        """Means over the trained origins: the champion's and the baseline's ROC-AUC and AP."""
        table = self.table()
        ok = table[table["status"] == "ok"]
        keys = ("roc_auc", "average_precision", "baseline_roc_auc", "baseline_average_precision", "log_loss",
                "mql_sql_rate", "share_of_sqls_captured", "train_seconds")
        out: dict[str, Any] = {"origins": len(table), "trained": len(ok), "skipped": int((table["status"] != "ok").sum())}
        out.update({f"mean_{k}": (float(ok[k].mean()) if len(ok) and ok[k].notna().any() else None) for k in keys})
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what was run, the summary and every origin's figures."""
        rows = [{k: _plain(v) for k, v in row.items()} for row in self.table().to_dict(orient="records")]
        return {"horizon_days": self.horizon_days, "export_as_of": _iso(self.export_as_of),
                "seconds": round(self.seconds, 2), "settings": self.settings,
                "summary": {k: _plain(v) for k, v in self.summary().items()},
                "origins": rows}


def backtest(dataset: Dataset, settings: Settings, origins: list[pd.Timestamp], *,
             say: Progress = lambda message: None,
             on_origin: Callable[[int, OriginResult], None] = lambda i, result: None) -> BacktestResult:
    """Train, score and compare at each origin (see the module docstring). Writes
    nothing. ``say`` receives progress within an origin, ``on_origin`` each
    origin's result as it is done (with its position). Raises
    :class:`~mqlscore.backtest.origins.CensoredOrigin` before any work when an
    origin's horizon runs past the export's as-of time."""
    horizon = settings.snapshots.horizon_days
    latest = latest_origin(dataset, horizon)
    origins = [pd.Timestamp(t) for t in origins]
    late = [t for t in origins if t > latest]
    if late:
        raise CensoredOrigin(
            f"{len(late)} origin(s) would be censored, the first at {_iso(late[0])}: a {horizon}-day horizon after "
            f"them runs past the export's as-of time {_iso(dataset.as_of)}. The latest origin is {_iso(latest)}.")
    # Half-lives only feed the report, and cost most of a training's time.
    settings = settings.model_copy(update={"train": settings.train.model_copy(update={"estimate_half_lives": False})})
    started = time.perf_counter()
    results = []
    for i, t in enumerate(origins):
        result = run_origin(dataset, settings, t, say=say)
        results.append(result)
        on_origin(i, result)
    return BacktestResult(results, horizon, dataset.as_of, _settings_record(settings),
                          time.perf_counter() - started)


def run_origin(dataset: Dataset, settings: Settings, t: pd.Timestamp, *,
               say: Progress = lambda message: None) -> OriginResult:
    """One origin: train on the export cut at ``t``, score the leads open at ``t``
    and compare with the outcomes within the horizon after ``t`` in ``dataset``."""
    from mqlscore.leakguard import LeakingColumns
    from mqlscore.training import NotEnoughData, train

    t = pd.Timestamp(t)
    horizon = settings.snapshots.horizon_days
    say(f"cutting the export at {_iso(t)}")
    known = known_at(dataset, t)
    t0 = time.perf_counter()
    skipped = {"train_leads": len(known.leads), "train_sqls": known.report.n_sql}
    unlabelled = _no_labelled_snapshot(known, settings)
    if unlabelled:
        return OriginResult(t, "skipped", reason=unlabelled, figures=skipped)
    try:
        trained = train(known, settings, say=say)
    except (NotEnoughData, LeakingColumns) as exc:
        return OriginResult(t, "skipped", reason=str(exc),
                            figures={"train_seconds": time.perf_counter() - t0, **skipped})
    train_seconds = time.perf_counter() - t0
    say("scoring the leads open then")
    t1 = time.perf_counter()
    scored = score_open_leads(trained, known, dataset, horizon)
    figures = origin_figures(scored, trained)
    figures.update(train_seconds=train_seconds, score_seconds=time.perf_counter() - t1,
                   train_leads=len(known.leads), train_sqls=known.report.n_sql)
    return OriginResult(t, "ok", figures=figures, scored=scored, model=trained.scoring_model)


def _no_labelled_snapshot(known: Dataset, settings: Settings) -> str:
    """Why nothing can be learned at the cut's as-of time when no lead's first snapshot
    has a complete horizon before it (training needs labelled snapshots); else ""."""
    horizon = settings.snapshots.horizon_days
    first_snapshot = known.leads["created_at"].min() + pd.Timedelta(hours=settings.snapshots.first_after_hours)
    if first_snapshot + pd.Timedelta(days=horizon) <= known.as_of:
        return ""
    return (f"Not enough data to train: no snapshot's {horizon}-day horizon had ended by {_iso(known.as_of)} (the "
            f"first lead was created {_iso(known.leads['created_at'].min())}), so no outcome was known yet.")


def score_open_leads(trained: Any, known: Dataset, full: Dataset, horizon_days: int) -> pd.DataFrame:
    """The leads open at the cut's as-of time, scored by ``trained``'s champion (its
    registered model) and by its hand-set baseline, with whether each became an SQL
    within the horizon after it (from ``full``). ``trained`` is a ``TrainResult``."""
    from mqlscore.training import BASELINE

    rows = open_leads_at(known.leads, known.outcomes, known.as_of)
    became = look_back(full.leads, full.outcomes, rows, horizon_days, full.as_of)[HISTORY_FIELDS[1]]
    if became.isna().any():  # the caller refuses such origins first
        raise CensoredOrigin(f"the outcome of {int(became.isna().sum()):,} lead(s) within the horizon after "
                             f"{_iso(known.as_of)} is not known")
    out = pd.DataFrame({"lead_id": rows["lead_id"].to_numpy(),
                        "sql_within_horizon": became.to_numpy(bool)})
    if rows.empty:
        return out.assign(probability=np.empty(0), is_mql=np.empty(0, bool), baseline_points=np.empty(0),
                          baseline_probability=np.empty(0))
    champion = trained.scoring_model
    X = champion.builder.transform(known.leads, known.activities, rows)
    scores = champion.score_features(X, reasons=False)
    baseline = trained.candidates[BASELINE]
    points = baseline.model.points(champion.builder, known.leads, known.activities, rows, X)["total"].to_numpy(float)
    return out.assign(probability=scores["probability"].to_numpy(float), is_mql=scores["is_mql"].to_numpy(bool),
                      baseline_points=points, baseline_probability=baseline.calibrator.proba(points))


def origin_figures(scored: pd.DataFrame, trained: Any) -> dict[str, Any]:
    """The figures of one origin from its scored open leads (see :func:`score_open_leads`)
    and the ``TrainResult`` (what training promised). Ranking figures need both
    outcomes among the open leads (else NaN); the baseline is ranked by its points."""
    from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

    y = scored["sql_within_horizon"].to_numpy(bool)
    p, mql = scored["probability"].to_numpy(float), scored["is_mql"].to_numpy(bool)
    both = 0 < y.sum() < len(y)

    def ranked(fn: Callable, values: np.ndarray) -> float:
        return float(fn(y, values)) if both else math.nan

    def loss(values: np.ndarray) -> float:
        return float(log_loss(y, np.clip(values, 1e-9, 1 - 1e-9), labels=[False, True])) if len(y) else math.nan

    validation = trained.metrics()[trained.champion]
    n_sql, n_mql, hits = int(y.sum()), int(mql.sum()), int((y & mql).sum())
    return {
        "champion": trained.champion, "refitted": trained.refit is not None, "open_leads": len(y), "sqls": n_sql,
        "sql_rate": n_sql / len(y) if len(y) else math.nan,
        "roc_auc": ranked(roc_auc_score, p), "average_precision": ranked(average_precision_score, p),
        "log_loss": loss(p),
        "baseline_roc_auc": ranked(roc_auc_score, scored["baseline_points"].to_numpy(float)),
        "baseline_average_precision": ranked(average_precision_score, scored["baseline_points"].to_numpy(float)),
        "baseline_log_loss": loss(scored["baseline_probability"].to_numpy(float)),
        "mqls": n_mql, "mql_sql_rate": hits / n_mql if n_mql else math.nan,
        "promised_mql_sql_rate": float(trained.threshold.sql_rate),
        "share_of_sqls_captured": hits / n_sql if n_sql else math.nan,
        "promised_share_of_sqls": float(trained.threshold.share_of_sqls),
        "validation_roc_auc": float(validation["roc_auc"]),
        "validation_average_precision": float(validation["pr_auc"]),
    }


def _settings_record(settings: Settings) -> dict[str, Any]:
    """The settings that shape a backtest's models, JSON-ready (no personal data in any)."""
    dumped = settings.model_dump(mode="json")
    return {k: dumped[k] for k in ("features", "snapshots", "scoring", "train")}


def _iso(t: Any) -> str:
    return pd.Timestamp(t).isoformat().replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(value) else round(float(value), 6)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
