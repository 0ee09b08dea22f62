"""``monitor()``: a registered model judged on a newer export of the same CRM.

It writes nothing and logs nothing: it returns a :class:`MonitorResult`. The
report (``report.write_report``) and the MLflow history
(``history.log_monitoring``) are separate steps, as training's are.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from mqlscore.config import Settings
from mqlscore.contract import Dataset
from mqlscore.features import build_snapshots
from mqlscore.monitoring.drift import (Distribution, SignalDrift, points_shift, score_drift, signal_drift,
                                       signal_importance)
from mqlscore.monitoring.inflow import Inflow, inflow
from mqlscore.features.account import buying_groups
from mqlscore.monitoring.intervals import GroupBootstrap
from mqlscore.monitoring.performance import Figures, calibration_by_band, figures_by_period, figures_on
from mqlscore.monitoring.relationships import SignalCheck, segments, signal_checks
from mqlscore.monitoring.verdict import Reason, judge, promise_sentence, verdict_of
from mqlscore.monitoring.windows import MonitorWindows, monitor_windows, period_labels

Progress = Callable[[str], None]
# Importance (share of points per signal) is measured on a sample of the training window.
IMPORTANCE_ROWS = 20_000
FORMAT = "mqlscore-monitor/1"


@dataclass
class MonitorResult:
    """Everything one monitoring found (aggregates only: no lead id, email, name or title)."""

    verdict: str
    reasons: list[Reason]
    model: dict[str, Any]  # uri, name, version, kind, trained_at, data window, horizon
    windows: MonitorWindows
    promise: dict[str, Any]  # the threshold's promise (ThresholdChoice.to_dict) and the validation metrics
    promise_line: str  # the MQL promise against what happened, in words
    realised: Figures | None  # the realised window (None: no completed horizon yet)
    training: Figures | None  # the same figures on the training window, scored now (in-sample for a refit)
    by_period: list[dict[str, Any]]
    calibration: dict[str, pd.DataFrame]  # "training" and "realised": per score band
    signal_checks: list[SignalCheck]
    drifts: list[SignalDrift]
    score: Distribution | None
    inflow: Inflow | None
    counts: dict[str, int]
    settings: dict[str, Any]  # the monitor section used
    judged: bool  # whether the realised figures had enough SQLs to weigh in the verdict
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def drifted_signals(self) -> list[str]:
        """The signals named by a reason at watch or retrain level, most severe first."""
        seen: list[str] = []
        for r in self.reasons:
            if r.level != "info" and r.signal and r.signal not in seen:
                seen.append(r.signal)
        return seen

    def metrics(self) -> dict[str, float]:
        """Flat figures for MLflow (finite numbers only)."""
        out: dict[str, float] = {"verdict_level": float(["healthy", "watch", "retrain"].index(self.verdict))}
        for prefix, figures in (("realised", self.realised), ("training", self.training)):
            if figures is None:
                continue
            for key, value in figures.to_dict().items():
                if isinstance(value, dict):
                    for part, number in value.items():
                        if number is not None:
                            out[f"{prefix}.{key}" + ("" if part == "value" else f".{part}")] = float(number)
                elif isinstance(value, (int, float)) and value is not None:
                    out[f"{prefix}.{key}"] = float(value)
        if self.score is not None:
            out["psi.score"] = self.score.psi
        for d in self.drifts:
            out[f"psi.{_metric_name(d.signal)}"] = d.psi
            out[f"points_shift.{_metric_name(d.signal)}"] = d.points_shift
        for c in self.signal_checks:
            if c.status != "too few SQLs" and math.isfinite(c.change.value):
                name = _metric_name(c.signal + (f".{c.level}" if c.level else ""))
                out[f"signal_change.{name}"] = c.change.value
        if self.inflow is not None:
            for v in self.inflow.new_leads:
                if v.field == "all" and math.isfinite(v.per_week_now):
                    out["new_leads_per_week.recent"] = v.per_week_now
                    out["new_leads_per_week.training"] = v.per_week_then
            for k, v in self.inflow.mix_psi.items():
                out[f"psi.new_leads.{k}"] = v
        out.update({f"counts.{k}": float(v) for k, v in self.counts.items()})
        return {k: v for k, v in out.items() if math.isfinite(v)}

    def to_dict(self) -> dict[str, Any]:
        """The content of ``monitor.json``."""
        def table(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
                    for row in frame.to_dict("records")]

        return {
            "format": FORMAT, "verdict": self.verdict, "reasons": [r.to_dict() for r in self.reasons],
            "promise_check": self.promise_line, "drifted_signals": self.drifted_signals, "model": self.model,
            "windows": self.windows.to_dict(), "promise": self.promise,
            "performance": {
                "judged": self.judged,
                "realised": self.realised.to_dict() if self.realised is not None else None,
                "training_window": self.training.to_dict() if self.training is not None else None,
                "by_period": self.by_period,
                "calibration": {k: table(v) for k, v in self.calibration.items()},
            },
            "signal_checks": [c.to_dict() for c in self.signal_checks],
            "drift": {"score": self.score.to_dict() if self.score is not None else None,
                      "signals": [d.to_dict() for d in self.drifts]},
            "inflow": self.inflow.to_dict() if self.inflow is not None else None,
            "counts": self.counts, "settings": self.settings,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def _metric_name(text: str) -> str:
    # MLflow metric names: letters, digits, _ - . space / only
    return "".join(ch if ch.isalnum() or ch in "_-./" else "_" for ch in text)


def _sample(rows: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    return rows if len(rows) <= limit else np.sort(rng.choice(rows, limit, replace=False))


def monitor(dataset: Dataset, model: Any, settings: Settings, *, model_uri: str = "",
            say: Progress = lambda message: None) -> MonitorResult:
    """Judge ``model`` (a ``ScoringModel`` with its training metadata) on ``dataset``, a
    newer export of the same CRM: realised performance where outcomes are known, drift
    of its inputs and score, new leads and activities, and a verdict with reasons.
    Raises ``MonitorError`` when they cannot be compared. Writes nothing."""
    cfg = settings.monitor
    t0 = time.perf_counter()
    seconds: dict[str, float] = {}
    meta = model.metadata
    windows = monitor_windows(meta, dataset.as_of, validation_days=settings.train.validation_days,
                              recent_weeks=cfg.recent_weeks)
    horizon = windows.horizon_days
    snapshot_config = settings.snapshots.model_copy(update={"horizon_days": horizon})
    say("building snapshots")
    rows = build_snapshots(dataset.leads, dataset.activities, dataset.outcomes, dataset.as_of, snapshot_config)
    times = pd.DatetimeIndex(rows["as_of"])
    labelled = rows["labelled"].to_numpy(bool)
    rng = np.random.default_rng(cfg.seed)
    limit = cfg.max_rows_per_window
    ref_rows = _sample(np.flatnonzero(windows.reference.mask(times) & labelled), limit, rng)
    real_rows = (_sample(np.flatnonzero(windows.realised.mask(times) & labelled), limit, rng)
                 if windows.realised is not None else np.empty(0, np.int64))
    recent_rows = _sample(np.flatnonzero(windows.recent.mask(times)), limit, rng)
    chosen = np.unique(np.concatenate([ref_rows, real_rows, recent_rows]))  # sorted: positions by searchsorted
    frame = rows.iloc[chosen].reset_index(drop=True)
    ref_i, real_i, recent_i = (np.searchsorted(chosen, r).astype(np.int64) for r in (ref_rows, real_rows, recent_rows))
    seconds["snapshots"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    say(f"computing the features of {len(frame):,} snapshots")
    X = model.builder.transform(dataset.leads, dataset.activities, frame[["lead_id", "as_of"]])
    say("scoring")
    scored = model.score_features(X, reasons=False)
    p = scored["probability"].to_numpy(float)
    score = scored["score"].to_numpy(float)
    is_mql = scored["is_mql"].to_numpy(bool)
    y = frame["label"].to_numpy(np.int8)
    importance: dict[str, float] = {}
    moved: dict[str, float] = {}
    if len(ref_i) and len(recent_i):
        # the model's own view of each signal: its points, on a sample of each window
        then = model.attribution(model.model_input(X.iloc[_sample(ref_i, IMPORTANCE_ROWS, rng)]))
        now = model.attribution(model.model_input(X.iloc[_sample(recent_i, IMPORTANCE_ROWS, rng)]))
        importance = signal_importance(then.points, then.signals)
        moved = points_shift(then.points, now.points, then.signals)
    seconds["features_and_scores"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    say("realised performance")
    accounts = (frame["lead_id"].map(dataset.leads.set_index("lead_id")["account_id"])
                if "account_id" in dataset.leads else None)
    boot = GroupBootstrap(buying_groups(frame["lead_id"].to_numpy(), accounts), cfg.bootstrap, cfg.seed)
    leads, _ = pd.factorize(frame["lead_id"].to_numpy(object))
    notes: list[str] = []
    realised = training = None
    by_period: list[dict[str, Any]] = []
    calibration: dict[str, pd.DataFrame] = {}
    if len(ref_i):
        training = figures_on(y, p, is_mql, leads, ref_i, boot, days=windows.reference.days, confidence=cfg.confidence)
        calibration["training"] = calibration_by_band(y, p, score, ref_i, boot, cfg.confidence)
    else:
        notes.append(f"The export holds no snapshot of the model's training window ({windows.reference.text()}): "
                     "the training window is rebuilt from the new export, which must still hold that history")
    if len(real_i):
        realised = figures_on(y, p, is_mql, leads, real_i, boot, days=windows.realised.days, confidence=cfg.confidence)
        calibration["realised"] = calibration_by_band(y, p, score, real_i, boot, cfg.confidence)
        labels = period_labels(frame["as_of"], cfg.period)
        days_of = _period_days(labels[real_i], frame["as_of"].iloc[real_i], windows, cfg.period)
        by_period = figures_by_period(y, p, is_mql, leads, real_i, labels, boot, days_of=days_of, confidence=cfg.confidence)
    else:
        notes.append(_no_labels_note(windows))
    judged = realised is not None and min(realised.sqls, realised.rows - realised.sqls) >= cfg.min_sqls
    if realised is not None and not judged:
        notes.append(f"Only {realised.sqls:,} SQL snapshots among the {realised.rows:,} with a completed horizon "
                     f"since the model's data (fewer than monitor.min_sqls = {cfg.min_sqls}): the realised figures "
                     "are shown but not judged; judged on drift")
    checks: list[SignalCheck] = []
    if len(real_i) and len(ref_i):
        segs = segments(X, model.builder.specs_, cfg.signal_active_days)
        checks = signal_checks(y, p, leads, ref_i, real_i, segs, boot, factor=cfg.signal_factor,
                               confidence=cfg.signal_confidence, min_sql_leads=cfg.min_signal_sql_leads)
    seconds["performance"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    say("drift")
    drifts: list[SignalDrift] = []
    score_shift = None
    if len(ref_i) and len(recent_i):
        drifts = signal_drift(X.iloc[ref_i], X.iloc[recent_i], model.builder.specs_, importance, moved,
                              n_bins=cfg.psi_bins, watch=cfg.psi_watch, retrain=cfg.psi_retrain,
                              min_importance=cfg.min_importance, min_points_shift=cfg.min_points_shift)
        score_shift = score_drift(score[ref_i], score[recent_i], cfg.psi_bins)
    flow = inflow(dataset.leads, dataset.activities, dataset.outcomes, model.builder, windows,
                  factor=cfg.volume_factor, min_weekly=cfg.min_weekly_count, confidence=cfg.confidence)
    seconds["drift"] = time.perf_counter() - t3

    promise = {"threshold": dict(meta.get("threshold") or {}),
               "validation_metrics": {k: v for k, v in (meta.get("validation_metrics") or {}).items()
                                      if isinstance(v, (int, float))}}
    reasons = judge(figures=realised, promise=promise["threshold"], promised_metrics=promise["validation_metrics"],
                    checks=checks, drifts=drifts, score=score_shift, inflow=flow, notes=notes, cfg=cfg,
                    horizon_days=horizon, recent_weeks=cfg.recent_weeks, judged=judged)
    why_not = "" if realised is not None else _no_labels_note(windows) + "."
    line = promise_sentence(realised, promise["threshold"], horizon, cfg.confidence, why_not=why_not)
    if realised is not None and not judged:
        line += " (Too few SQLs yet to judge.)"
    counts = {"snapshots_training": int(len(ref_i)), "snapshots_realised": int(len(real_i)),
              "snapshots_recent": int(len(recent_i)), "leads": int(len(dataset.leads)),
              "leads_scored": int(leads.max(initial=-1) + 1)}
    model_info = {
        "uri": model_uri, "name": meta.get("model_name"), "version": str(meta.get("model_version", "")),
        "kind": model.kind, "trained_at": meta.get("trained_at"), "data_window": meta.get("data_window"),
        "horizon_days": horizon, "threshold_probability": float(model.threshold),
    }
    seconds["total"] = time.perf_counter() - t0
    return MonitorResult(verdict_of(reasons), reasons, model_info, windows, promise, line, realised, training,
                         by_period, calibration, checks, drifts, score_shift, flow, counts,
                         cfg.model_dump(mode="json"), judged, seconds)


def _no_labels_note(windows: MonitorWindows) -> str:
    return (f"No snapshot taken after the model's data ({windows.model_as_of:%Y-%m-%d}) has a completed "
            f"{windows.horizon_days}-day horizon by the export's as-of time ({windows.export_as_of:%Y-%m-%d}); the "
            f"first will on {windows.first_completion:%Y-%m-%d}. Realised performance cannot be measured yet: "
            "judged on drift only")


def _period_days(labels: np.ndarray, times: pd.Series, windows: MonitorWindows, period: str) -> dict[str, float]:
    """Days of each period that lie inside the realised window (for MQL leads per week)."""
    assert windows.realised is not None
    out = {}
    start, end = windows.realised.start, windows.realised.end
    for label in set(labels):
        if period == "week":
            lo = pd.Timestamp(label, tz="UTC")
            hi = lo + pd.Timedelta(days=7)
        else:
            lo = pd.Timestamp(f"{label}-01", tz="UTC")
            hi = lo + pd.offsets.MonthBegin(1)
        out[label] = max((min(hi, end) - max(lo, start)) / pd.Timedelta(days=1), 0.0)
    return out
