"""``mqlscore train``: learn fit and intent weights from MQL -> SQL conversions.

Builds the point-in-time training set, splits it by time, fits a points
scorecard and LightGBM (and, for comparison only, scores the hand-set
25 %-per-quarter baseline), calibrates each on the validation period by Platt
scaling on the log-odds, picks the champion by validation log loss, chooses the
MQL threshold, writes the evaluation report and model card, and (optionally)
logs everything to MLflow and registers the model.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from mqlscore.config import Settings
from mqlscore.contract import Dataset
from mqlscore.features import TrainingSet, build_training_set
from mqlscore.features.training_set import split_by_time
from mqlscore.models.calibration import PlattCalibrator, cross_fitted_proba
from mqlscore.scoring import ScoreScale, ScoringModel, ThresholdChoice, choose_threshold, logit, tiers_of

BASELINE = "baseline_25pct_quarter"
Progress = Callable[[str], None]


class NotEnoughData(ValueError):
    """Too little history to learn from; the message names the counts."""


@dataclass
class Candidate:
    """A model fitted on the older period and judged on the validation period."""

    name: str
    model: Any
    raw_validation: np.ndarray
    p_validation: np.ndarray  # cross-fitted calibrated probabilities (honest figures)
    calibrator: PlattCalibrator | None = None
    evaluation: Any = None
    threshold: ThresholdChoice | None = None


@dataclass
class TrainResult:
    """What training produced."""

    scoring_model: ScoringModel
    champion: str
    candidates: dict[str, Candidate]
    threshold: ThresholdChoice
    counts: dict[str, int]
    report_dir: Path
    decay: Any = None
    registration: Any = None
    seconds: dict[str, float] = field(default_factory=dict)

    def metrics(self) -> dict[str, dict[str, float]]:
        """Validation metrics per model."""
        return {name: c.evaluation.metrics for name, c in self.candidates.items()}


def data_counts(dataset: Dataset, ts: TrainingSet, is_fit: np.ndarray, is_validation: np.ndarray) -> dict[str, int]:
    """The counts that decide whether there is enough to learn from."""
    y = ts.y
    sql = dataset.outcomes["sql_at"].notna().sum() if len(dataset.outcomes) else 0
    return {
        "leads": len(dataset.leads), "conversions": int(sql), "snapshots": len(ts.snapshots),
        "censored_snapshots": ts.counts.get("censored", 0),
        "fit_rows": int(is_fit.sum()), "fit_positives": int(y[is_fit].sum()),
        "validation_rows": int(is_validation.sum()), "validation_positives": int(y[is_validation].sum()),
        "validation_leads": int(ts.snapshots.loc[is_validation, "lead_id"].nunique()),
    }


def check_enough_data(counts: dict[str, int], settings: Settings, force: bool) -> bool:
    """Refuse clearly when the history is too thin (unless forced); return
    whether LightGBM has enough to learn from (else only the scorecard)."""
    cfg = settings.train
    problems = []
    if counts["leads"] < cfg.min_leads:
        problems.append(f"{counts['leads']:,} leads (need {cfg.min_leads:,})")
    if counts["conversions"] < cfg.min_conversions:
        problems.append(f"{counts['conversions']:,} conversions to SQL (need {cfg.min_conversions:,})")
    if counts["validation_positives"] < cfg.min_validation_conversions:
        problems.append(
            f"{counts['validation_positives']:,} SQLs in the fully labelled validation period of the last "
            f"{cfg.validation_days} days before the horizon (need {cfg.min_validation_conversions:,})")
    if counts["fit_positives"] < 5 or counts["validation_positives"] < 1:
        problems.append(f"{counts['fit_positives']} positive snapshots to fit on and "
                        f"{counts['validation_positives']} to validate on")
        force = False  # nothing can be learned at all, forced or not
    if problems and not force:
        raise NotEnoughData(
            "Not enough data to train: " + "; ".join(problems) + ". Export a longer history, shorten the horizon "
            "(--horizon-days) or pass --force to train anyway (only the scorecard below "
            f"{cfg.gbm_min_conversions} SQL snapshots).")
    return counts["fit_positives"] >= cfg.gbm_min_conversions


def fingerprint(dataset: Dataset) -> dict[str, Any]:
    """Row counts, time range and a content hash of the training data (no personal data)."""
    digest = hashlib.sha256()
    for name in ("leads", "activities", "outcomes"):
        frame = getattr(dataset, name)
        digest.update(name.encode())
        if len(frame):
            digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    report = dataset.report
    return {
        "rows": {n: len(getattr(dataset, n)) for n in ("leads", "activities", "outcomes")},
        "time_range": [str(report.time_min), str(report.time_max)], "as_of": str(dataset.as_of),
        "sha256": digest.hexdigest(),
    }


def _fit_candidates(ts: TrainingSet, dataset: Dataset, is_fit: np.ndarray, is_val: np.ndarray, with_gbm: bool,
                    settings: Settings, say: Progress) -> dict[str, Candidate]:
    from mqlscore.models.baseline import HandSetBaseline
    from mqlscore.models.scorecard import Scorecard

    fit_rows = np.flatnonzero(is_fit)
    if len(fit_rows) > settings.train.max_fit_rows:
        rng = np.random.default_rng(settings.train.seed)
        fit_rows = np.sort(rng.choice(fit_rows, settings.train.max_fit_rows, replace=False))
        say(f"fitting on a random sample of {len(fit_rows):,} of {int(is_fit.sum()):,} snapshots")
    X_fit, y_fit = ts.X.iloc[fit_rows], ts.y[fit_rows]
    X_val, y_val = ts.X[is_val], ts.y[is_val]
    groups = ts.snapshots.loc[is_val, "lead_id"].to_numpy()
    out: dict[str, Candidate] = {}
    say("fitting the points scorecard")
    scorecard = Scorecard(specs=ts.builder.specs_).fit(X_fit, y_fit)
    out["scorecard"] = _candidate("scorecard", scorecard, scorecard.decision_function(X_val), y_val, groups)
    if with_gbm:
        from mqlscore.models.gbm import GBMModel

        say("fitting LightGBM (early-stopped on the validation period)")
        gbm = GBMModel(optuna_trials=settings.train.optuna_trials, seed=settings.train.seed)
        gbm.fit(X_fit, y_fit, X_val, y_val)
        out["lightgbm"] = _candidate("lightgbm", gbm, gbm.decision_function(X_val), y_val, groups)
    say("scoring the hand-set 25 %-per-quarter baseline")
    baseline = HandSetBaseline()
    points = baseline.points(ts.builder, dataset.leads, dataset.activities, ts.snapshots[is_val], X_val)["total"]
    out[BASELINE] = _candidate(BASELINE, baseline, points.to_numpy(float), y_val, groups)
    return out


def _candidate(name: str, model: Any, raw: np.ndarray, y: np.ndarray, groups: np.ndarray) -> Candidate:
    return Candidate(name, model, raw, cross_fitted_proba(raw, y, groups), PlattCalibrator().fit(raw, y))


def _evaluate(candidates: dict[str, Candidate], ts: TrainingSet, is_val: np.ndarray, scale: ScoreScale,
              settings: Settings) -> None:
    from mqlscore.evaluation import evaluate_model

    y = ts.y[is_val]
    lead_ids = ts.snapshots.loc[is_val, "lead_id"].to_numpy()
    for c in candidates.values():
        p = np.clip(c.p_validation, 1e-9, 1 - 1e-9)
        score = scale.score(logit(p))
        c.threshold = choose_threshold(p, y, lead_ids, settings.train.validation_days, settings.scoring, scale)
        c.evaluation = evaluate_model(c.name, y, p, score, tiers_of(score, settings.scoring.tier_cutoffs),
                                      p >= c.threshold.probability)


def train(dataset: Dataset, settings: Settings, *, force: bool = False, report_dir: Path = Path("models"),
          register: bool = True, promote: str = "if-better", say: Progress = lambda message: None) -> TrainResult:
    """Train, compare, evaluate and (with ``register``) log and register; see the module docstring."""
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    say("building the point-in-time training set")
    ts = build_training_set(dataset, settings.features, settings.snapshots)
    is_fit, is_val = split_by_time(ts.snapshots, ts.as_of, ts.horizon_days, settings.train.validation_days)
    counts = data_counts(dataset, ts, is_fit, is_val)
    with_gbm = check_enough_data(counts, settings, force)
    seconds["training_set"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    candidates = _fit_candidates(ts, dataset, is_fit, is_val, with_gbm, settings, say)
    base_rate = float(np.clip(ts.y.mean(), 1e-6, 1 - 1e-6))
    scale = ScoreScale(base_rate, settings.scoring.points_at_base_rate, settings.scoring.points_to_double_odds)
    _evaluate(candidates, ts, is_val, scale, settings)
    learned = [n for n in candidates if n != BASELINE]
    champion = min(learned, key=lambda n: candidates[n].evaluation.metrics["log_loss"])
    seconds["models"] = time.perf_counter() - t1

    decay = None
    if settings.train.estimate_half_lives:
        t2 = time.perf_counter()
        say("estimating a half-life per signal family")
        from mqlscore.features.decay import estimate_half_lives

        decay = estimate_half_lives(ts.builder, dataset.leads, dataset.activities, dataset.outcomes, ts.as_of)
        seconds["half_lives"] = time.perf_counter() - t2

    best = candidates[champion]
    metadata = {
        "model_name": settings.train.model_name, "model_version": "unregistered",
        "trained_at": pd.Timestamp.now(tz="UTC").isoformat(), "champion": champion,
        "horizon_days": ts.horizon_days, "data_window": _window(dataset),
        "threshold": best.threshold.to_dict(), "validation_metrics": best.evaluation.metrics,
        "features": ts.builder.feature_names_, "counts": counts,
    }
    scoring_model = ScoringModel(ts.builder, champion, best.model, best.calibrator, scale, settings.scoring,
                                 best.threshold.probability, metadata)
    result = TrainResult(scoring_model, champion, candidates, best.threshold, counts, Path(report_dir), decay,
                         seconds=seconds)
    if register:
        say("logging to MLflow, registering the model, writing the report and model card")
        result.registration = _register(result, ts, is_val, dataset, settings, promote)
    else:
        say("writing the evaluation report and model card")
        _write_report(result, ts, is_val, dataset)
    seconds["total"] = time.perf_counter() - t0
    return result


def _window(dataset: Dataset) -> dict[str, str]:
    r = dataset.report
    return {"first": str(r.time_min), "last": str(r.time_max), "as_of": str(dataset.as_of)}


def _fit_intent_share(result: TrainResult, ts: TrainingSet, is_val: np.ndarray) -> dict[str, float]:
    sample = ts.X[is_val]
    if len(sample) > 5000:
        sample = sample.sample(5000, random_state=0)
    scored = result.scoring_model.score_features(sample)
    fit, intent = scored["fit_points"].abs().mean(), scored["intent_points"].abs().mean()
    total = fit + intent
    return {"fit": float(fit / total) if total else 0.5, "intent": float(intent / total) if total else 0.5}


def _context(result: TrainResult, ts: TrainingSet, is_val: np.ndarray, dataset: Dataset) -> dict[str, Any]:
    groups: dict[str, int] = {}
    for spec in ts.builder.specs_:
        groups[spec.group] = groups.get(spec.group, 0) + 1
    best = result.candidates[result.champion]
    context: dict[str, Any] = {
        "model_name": result.scoring_model.metadata["model_name"],
        "model_version": result.scoring_model.metadata["model_version"],
        "trained_at": result.scoring_model.metadata["trained_at"], "champion": result.champion,
        "champion_reason": f"lowest validation log loss ({best.evaluation.metrics['log_loss']:.4f}) among the "
                           "learned models; the hand-set baseline is shown for comparison only",
        "data_window": _window(dataset), "horizon_days": ts.horizon_days, "fingerprint": fingerprint(dataset),
        "threshold": {"policy": result.threshold.policy, "value": result.threshold.probability,
                      "score": result.threshold.score, "mqls_per_week": result.threshold.mqls_per_week,
                      "sql_rate": result.threshold.sql_rate, "share_of_sqls": result.threshold.share_of_sqls},
        "fit_intent_share": _fit_intent_share(result, ts, is_val), "features_by_group": groups,
        "notes": [f"{k.replace('_', ' ')}: {v:,}" for k, v in result.counts.items()],
    }
    if result.decay is not None:
        context["half_lives"] = [h.__dict__ for h in result.decay.half_lives]
        context["rule_of_thumb_half_life"] = result.decay.rule_of_thumb_half_life
    return context


def _write_report(result: TrainResult, ts: TrainingSet, is_val: np.ndarray, dataset: Dataset) -> None:
    from mqlscore.evaluation import write_report

    evaluations = [c.evaluation for c in result.candidates.values()]
    write_report(result.report_dir, evaluations, _context(result, ts, is_val, dataset))
    if "scorecard" in result.candidates:
        table = result.candidates["scorecard"].model.points_table(result.scoring_model.scale.points_per_logit)
        table.to_csv(result.report_dir / "scorecard_points.csv", index=False)
    if result.decay is not None:
        result.decay.table().to_csv(result.report_dir / "half_lives.csv", index=False)
    _write_explanations(result, ts, is_val)


def _write_explanations(result: TrainResult, ts: TrainingSet, is_val: np.ndarray) -> None:
    from mqlscore.explain import write_global_report

    rows = np.flatnonzero(is_val)
    if len(rows) > 20_000:  # the summary needs a sample, not every validation row
        rows = np.sort(np.random.default_rng(0).choice(rows, 20_000, replace=False))
    scorecard = result.candidates.get("scorecard")
    points = scorecard.model.points_table(result.scoring_model.scale.points_per_logit) if scorecard else None
    write_global_report(result.report_dir, result.scoring_model, ts.X.iloc[rows], ts.y[rows], points,
                        result.decay.table() if result.decay is not None else None,
                        result.decay.rule_of_thumb_half_life if result.decay is not None else None)


def _register(result: TrainResult, ts: TrainingSet, is_val: np.ndarray, dataset: Dataset, settings: Settings,
              promote: str) -> Any:
    from mqlscore.registry import log_and_register

    rows = ts.snapshots[is_val]
    y = ts.y[is_val]

    def champion_log_loss(current: ScoringModel) -> float:
        X = current.builder.transform(dataset.leads, dataset.activities, rows)
        p = np.clip(1 / (1 + np.exp(-current.calibrator.logit(current.raw_log_odds(X)))), 1e-9, 1 - 1e-9)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    def on_registered(version: str) -> None:
        result.scoring_model.metadata["model_version"] = version
        _write_report(result, ts, is_val, dataset)

    metrics: dict[str, float] = {}
    for name, c in result.candidates.items():
        for key, value in c.evaluation.metrics.items():
            if isinstance(value, (int, float)):
                metrics[f"{name}.{key}"] = float(value)
    metrics.update({f"threshold.{k}": float(v) for k, v in result.threshold.to_dict().items()
                    if isinstance(v, (int, float))})
    metrics.update({f"counts.{k}": float(v) for k, v in result.counts.items()})
    registration = log_and_register(
        result.scoring_model, model_name=settings.train.model_name, experiment=settings.train.experiment,
        params={"settings": settings.model_dump(mode="json"), "champion": result.champion},
        metrics=metrics, artifacts_dir=result.report_dir, feature_definition=ts.builder.to_dict(),
        fingerprint=fingerprint(dataset),
        new_log_loss=result.candidates[result.champion].evaluation.metrics["log_loss"],
        champion_log_loss_fn=champion_log_loss, promote=promote, on_registered=on_registered)
    return registration
