"""``mqlscore train``: learn fit and intent weights from MQL -> SQL conversions.

:func:`train` builds the point-in-time training set, splits it by time, fits a
points scorecard and LightGBM (and, for comparison only, scores the hand-set
25 %-per-quarter baseline), calibrates each on the validation period by Platt
scaling on the log-odds, evaluates them, picks the champion by validation log
loss and chooses the MQL threshold. It writes nothing: it returns a
:class:`TrainResult`.

The steps after it are separate: :func:`register` logs the run to MLflow,
registers the model and applies the promotion gate; ``mqlscore.reporting``
writes the evaluation report, explanations and model card from the result and
the registration; ``mqlscore.registry.log_report`` attaches that folder to the
run. ``mqlscore train`` calls them in this order.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from dataclasses import dataclass, field
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pandas as pd

from mqlscore.config import Settings
from mqlscore.contract import Dataset
from mqlscore.evaluation import ModelEvaluation, evaluate_model
from mqlscore.features import TrainingSet, build_training_set
from mqlscore.features.decay import DecayReport
from mqlscore.features.training_set import split_by_time
from mqlscore.leakguard import LeakGuard, LeakReport
from mqlscore.models.calibration import PlattCalibrator, cross_fitted_proba
from mqlscore.refit import RefitSummary, refit_champion
from mqlscore.scoring import ScoreScale, ScoringModel, ThresholdChoice, choose_threshold, logit, tiers_of
from mqlscore.shift import BaseRateShift, base_rate_shift

if TYPE_CHECKING:
    from mqlscore.accounts import AccountTraining
    from mqlscore.registry import GateFigures, Registration

BASELINE = "baseline_25pct_quarter"
# The account methods' validation metrics logged to MLflow.
ACCOUNT_METRICS = ("n", "positives", "base_rate", "roc_auc", "pr_auc", "log_loss", "brier")
# The report explains the champion on a sample of validation rows, not on every one.
REPORT_SAMPLE_ROWS = 20_000
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
    evaluation: ModelEvaluation | None = None
    threshold: ThresholdChoice | None = None


@dataclass
class Validation:
    """The validation period, kept for the steps after training: its snapshots
    (``lead_id``, ``as_of``) and labels, to score the current champion on the same
    rows, and a sample of at most ``REPORT_SAMPLE_ROWS`` of its feature rows with
    their labels, for the report's explanations."""

    snapshots: pd.DataFrame
    y: np.ndarray
    sample_X: pd.DataFrame
    sample_y: np.ndarray


@dataclass
class TrainResult:
    """What training produced (nothing is written until the later steps)."""

    scoring_model: ScoringModel
    champion: str
    candidates: dict[str, Candidate]
    threshold: ThresholdChoice
    counts: dict[str, int]
    validation: Validation
    horizon_days: int
    data_window: dict[str, str]
    fingerprint: dict[str, Any]
    decay: DecayReport | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    leaks: LeakReport | None = None  # the leak guard's findings on the extra lead columns
    base_rate_shift: BaseRateShift | None = None  # fitting vs validation period; ``.shifted`` says whether to warn
    # ``scoring_model`` refitted on every labelled snapshot (None: it is the model as chosen)
    refit: RefitSummary | None = None
    notes: list[str] = field(default_factory=list)  # what training decided on its own, in words
    # the account scores (``mqlscore.accounts``): methods compared, the chosen one in ``scoring_model.accounts``
    accounts: AccountTraining | None = None

    def warnings(self) -> list[str]:
        """Findings the user should read before trusting the model (printed in yellow)."""
        out = list(self.leaks.warnings()) if self.leaks is not None else []
        if self.base_rate_shift is not None and self.base_rate_shift.shifted:
            out.append(self.base_rate_shift.message())
        return out + list(self.notes)

    def metrics(self) -> dict[str, dict[str, float]]:
        """Validation metrics per model."""
        return {name: c.evaluation.metrics for name, c in self.candidates.items()}

    def candidate_model(self, name: str) -> ScoringModel:
        """The ``ScoringModel`` of one learned candidate (``scorecard`` or ``lightgbm``)
        as chosen: fitted on the fitting period, with its own calibration and
        threshold, the model every validation figure describes. The champion's
        registered model is ``scoring_model``: the same unless it was refitted on
        every labelled snapshot (``refit``)."""
        if name == self.champion and self.refit is None:
            return self.scoring_model
        if name == BASELINE or name not in self.candidates:
            raise KeyError(f"no learned candidate {name!r} (learned: "
                           f"{', '.join(n for n in self.candidates if n != BASELINE)})")
        c = self.candidates[name]
        return replace(self.scoring_model, kind=name, model=c.model, calibrator=c.calibrator,
                       threshold=c.threshold.probability, metadata=dict(self.scoring_model.metadata))


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
    y = ts.y[is_val]
    lead_ids = ts.snapshots.loc[is_val, "lead_id"].to_numpy()
    for c in candidates.values():
        p = np.clip(c.p_validation, 1e-9, 1 - 1e-9)
        score = scale.score(logit(p))
        c.threshold = choose_threshold(p, y, lead_ids, settings.train.validation_days, settings.scoring, scale)
        # ranked by the deployed calibration (one map for every row), not the cross-fitted one
        c.evaluation = evaluate_model(c.name, y, p, score, tiers_of(score, settings.scoring.tier_cutoffs),
                                      p >= c.threshold.probability, rank=c.calibrator.logit(c.raw_validation))


def train(dataset: Dataset, settings: Settings, *, force: bool = False,
          say: Progress = lambda message: None, training_set: TrainingSet | None = None) -> TrainResult:
    """Fit, calibrate, evaluate and compare the models and choose the champion and
    its MQL threshold; see the module docstring. Writes nothing; raises
    :class:`NotEnoughData` on too thin a history (unless ``force``) and
    ``mqlscore.leakguard.LeakingColumns`` when extra lead columns look like they
    know the outcome (before fitting anything; see :func:`check_leaks`).

    ``training_set`` is the point-in-time training set of ``dataset`` when it was
    built elsewhere (the Spark engine builds it on a cluster); by default it is built here."""
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    say("building the point-in-time training set")
    with warnings.catch_warnings():
        # the builder's notes on the settings (names that match no column) are returned
        # with the result and printed with the other findings, not as raw Python warnings
        warnings.filterwarnings("ignore", message=r"features\.", category=UserWarning)
        ts = training_set if training_set is not None else build_training_set(dataset, settings.features,
                                                                                settings.snapshots)
    setting_notes = list(getattr(ts.builder, "notes_", []))
    is_fit, is_val = split_by_time(ts.snapshots, ts.as_of, ts.horizon_days, settings.train.validation_days)
    counts = data_counts(dataset, ts, is_fit, is_val)
    with_gbm = check_enough_data(counts, settings, force)
    seconds["training_set"] = time.perf_counter() - t0
    t_guard = time.perf_counter()
    leaks = check_leaks(dataset, ts, is_fit, settings, say)
    seconds["leak_guard"] = time.perf_counter() - t_guard

    t1 = time.perf_counter()
    candidates = _fit_candidates(ts, dataset, is_fit, is_val, with_gbm, settings, say)
    shift = period_shift(ts, is_fit, is_val)
    # The scale's base rate is the validation period's, the period every calibration is
    # fitted on: a score of 50 is then a lead as likely as the average recent one, and
    # tiers keep their meaning when the rate has moved since the fitting period.
    base_rate = float(np.clip(ts.y[is_val].mean(), 1e-6, 1 - 1e-6))
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
    t_accounts = time.perf_counter()
    accounts, account_notes = _fit_accounts(dataset, ts, best, champion, scale, settings, say)
    seconds["accounts"] = time.perf_counter() - t_accounts
    model, calibrator, refit, refit_notes = best.model, best.calibrator, None, []
    if settings.train.refit:
        t3 = time.perf_counter()
        model, calibrator, refit, refit_notes = _refit(ts, dataset, best, is_fit, is_val, settings, say)
        seconds["refit"] = time.perf_counter() - t3
    window = _window(dataset)
    metadata = {
        "model_name": settings.train.model_name, "model_version": "unregistered",
        "trained_at": pd.Timestamp.now(tz="UTC").isoformat(), "champion": champion,
        "horizon_days": ts.horizon_days, "data_window": window,
        "threshold": best.threshold.to_dict(), "validation_metrics": best.evaluation.metrics,
        "features": ts.builder.feature_names_, "counts": counts, "base_rate_shift": shift.to_dict(),
        "refit": refit.to_dict() if refit is not None else None,
    }
    if accounts is not None:
        metadata["accounts"] = {"method": accounts.chosen, "validation_metrics": accounts.evaluation.metrics,
                                "threshold": accounts.scoring.metadata["threshold"]}
    scoring_model = ScoringModel(ts.builder, champion, model, calibrator, scale, settings.scoring,
                                 best.threshold.probability, metadata,
                                 accounts=accounts.scoring if accounts is not None else None)
    seconds["total"] = time.perf_counter() - t0
    return TrainResult(scoring_model, champion, candidates, best.threshold, counts, _validation(ts, is_val),
                       ts.horizon_days, window, fingerprint(dataset), decay, seconds, leaks, shift, refit,
                       setting_notes + refit_notes + account_notes, accounts)


def _fit_accounts(dataset: Dataset, ts: TrainingSet, best: Candidate, champion: str, scale: ScoreScale,
                  settings: Settings, say: Progress) -> tuple[AccountTraining | None, list[str]]:
    """The account scores (``mqlscore.accounts.fit_accounts``) from the champion as chosen
    (fitted on the fitting period, calibrated on the validation period), or None with a
    note saying why there are none."""
    from mqlscore.accounts import fit_accounts

    say("fitting the account scores")
    chosen = ScoringModel(ts.builder, champion, best.model, best.calibrator, scale, settings.scoring,
                          best.threshold.probability)
    try:
        accounts = fit_accounts(dataset, chosen, settings, ts.horizon_days, say=say)
    except ValueError as exc:
        return None, [f"No account scores ({exc}): the model scores leads only."]
    return accounts, list(accounts.notes)


def _refit(ts: TrainingSet, dataset: Dataset, best: Candidate, is_fit: np.ndarray, is_val: np.ndarray,
           settings: Settings, say: Progress) -> tuple[Any, PlattCalibrator, RefitSummary | None, list[str]]:
    """The champion refitted on every labelled snapshot (``mqlscore.refit``), or the
    model as chosen with a note saying why not, when there is nothing to add or
    the cross-fitted calibration has one outcome only."""
    if int(is_fit.sum()) >= len(ts.snapshots):
        return best.model, best.calibrator, None, []
    try:
        model, calibrator, summary = refit_champion(
            ts, dataset.leads, best.model, is_fit, is_val, max_rows=settings.train.max_fit_rows,
            seed=settings.train.seed, folds=settings.train.refit_folds, say=say)
    except ValueError as exc:
        return best.model, best.calibrator, None, [f"Not refitted on all labelled snapshots ({exc}): the registered "
                                                   "model is the one fitted on the fitting period."]
    return model, calibrator, summary, []


def period_shift(ts: TrainingSet, is_fit: np.ndarray, is_val: np.ndarray) -> BaseRateShift:
    """The base-rate shift between the fitting and the validation period: the SQL
    rate of each period's snapshots, tested over its distinct leads (a lead's
    snapshots are not independent, so counting snapshots would overstate the
    evidence); see ``mqlscore.shift``."""
    leads = ts.snapshots["lead_id"].to_numpy()
    return base_rate_shift(float(ts.y[is_fit].mean()), int(pd.unique(leads[is_fit]).size),
                           float(ts.y[is_val].mean()), int(pd.unique(leads[is_val]).size))


def check_leaks(dataset: Dataset, ts: TrainingSet, is_fit: np.ndarray, settings: Settings,
                say: Progress = lambda message: None) -> LeakReport:
    """Run the leak guard (``mqlscore.leakguard``) on the extra lead columns the
    feature builder uses, and the excluded ones, over the fitting period only,
    before any model is fitted. Raises ``LeakingColumns`` naming each column that
    looks like it knows the outcome (unless allowed in ``features.allow_columns``)."""
    say("checking the extra lead columns for leaks")
    guard = LeakGuard.from_config(settings.features, seed=settings.train.seed)
    guard.fit(dataset.leads, ts.snapshots[is_fit], dataset.outcomes, ts.as_of, ts.builder.extras_)
    return guard.check()


def _window(dataset: Dataset) -> dict[str, str]:
    r = dataset.report
    return {"first": str(r.time_min), "last": str(r.time_max), "as_of": str(dataset.as_of)}


def _validation(ts: TrainingSet, is_val: np.ndarray) -> Validation:
    rows = np.flatnonzero(is_val)
    sample = rows
    if len(sample) > REPORT_SAMPLE_ROWS:
        sample = np.sort(np.random.default_rng(0).choice(rows, REPORT_SAMPLE_ROWS, replace=False))
    snapshots = ts.snapshots.loc[is_val, ["lead_id", "as_of"]].reset_index(drop=True)
    return Validation(snapshots, ts.y[rows], ts.X.iloc[sample], ts.y[sample])


def register(result: TrainResult, dataset: Dataset, settings: Settings, *, promote: str = "if-better") -> Registration:
    """Log the run to MLflow, register the champion's model and apply the promotion
    gate (``if-better``: promote when its validation log loss beats the current
    champion's on the same validation rows; ``always``; ``never``). Returns the
    ``mqlscore.registry.Registration`` and records its version in the model's
    metadata. ``dataset`` is the one trained on (the current champion is scored on it)."""
    from mqlscore.registry import log_and_register

    def compare(current: ScoringModel) -> GateFigures:
        return gate_figures(result, dataset, current)

    metrics: dict[str, float] = {}
    for name, c in result.candidates.items():
        for key, value in c.evaluation.metrics.items():
            if isinstance(value, (int, float)):
                metrics[f"{name}.{key}"] = float(value)
    metrics.update({f"threshold.{k}": float(v) for k, v in result.threshold.to_dict().items()
                    if isinstance(v, (int, float))})
    metrics.update({f"counts.{k}": float(v) for k, v in result.counts.items()})
    if result.accounts is not None:  # the account methods on the validation period, accounts as units
        for name, values in result.accounts.metrics().items():
            metrics.update({f"accounts.{name}.{k}": float(v) for k, v in values.items()
                            if isinstance(v, (int, float)) and k in ACCOUNT_METRICS})
    if result.refit is not None:  # the registered model's fit; its figures are cross-fitted, not a forward test
        metrics.update({"refit.rows": float(result.refit.rows), "refit.leads": float(result.refit.leads)})
        metrics.update({f"refit.cross_fitted.{k}": float(v) for k, v in result.refit.cross_fitted.items()})
    registration = log_and_register(
        result.scoring_model, model_name=settings.train.model_name, experiment=settings.train.experiment,
        params={"settings": settings.model_dump(mode="json"), "champion": result.champion},
        metrics=metrics, feature_definition=result.scoring_model.builder.to_dict(),
        fingerprint=result.fingerprint,
        new_log_loss=result.candidates[result.champion].evaluation.metrics["log_loss"],
        compare_with_champion=compare, promote=promote)
    result.scoring_model.metadata["model_version"] = registration.version
    return registration


# Fewer SQLs than this among the validation rows the champion never saw, and the
# gate compares on every validation row instead (and says so).
MIN_FRESH_POSITIVES = 20


def gate_figures(result: TrainResult, dataset: Dataset, current: ScoringModel) -> GateFigures:
    """The promotion gate's comparison of the new champion (its cross-fitted
    validation probabilities, as chosen) with the ``current`` one on the same rows:
    the validation snapshots whose outcome was still unknown when the current
    champion was trained (its horizon ended after that model's as-of time), so
    that neither model was fitted or calibrated on them. With fewer than
    :data:`MIN_FRESH_POSITIVES` SQLs among those, every validation row is used and
    the detail says that the current champion may have been trained on them."""
    from mqlscore.registry import GateFigures

    rows, y = result.validation.snapshots, result.validation.y
    p_new = result.candidates[result.champion].p_validation
    trained_as_of = (current.metadata.get("data_window") or {}).get("as_of")
    fresh = np.ones(len(rows), bool)
    if trained_as_of:
        ends = pd.DatetimeIndex(rows["as_of"]) + pd.Timedelta(days=result.horizon_days)
        fresh = np.asarray(ends > pd.Timestamp(trained_as_of))
    if int(y[fresh].sum()) >= MIN_FRESH_POSITIVES and int((1 - y[fresh]).sum()) >= MIN_FRESH_POSITIVES:
        detail = (f"on the {int(fresh.sum()):,} validation snapshots whose outcome was unknown when the champion "
                  "was trained")
    else:
        fresh = np.ones(len(rows), bool)
        detail = (f"on all {len(rows):,} validation snapshots; the champion's data ran to {str(trained_as_of)[:10]}, "
                  "so it may have been trained on them" if trained_as_of else "")
    chosen = rows[fresh]
    X = current.builder.transform(dataset.leads, dataset.activities, chosen)
    p_old = 1 / (1 + np.exp(-current.calibrator.logit(current.raw_log_odds(X))))
    return GateFigures(_log_loss(y[fresh], p_new[fresh]), _log_loss(y[fresh], p_old), int(fresh.sum()), detail)


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    q = np.clip(np.asarray(p, float), 1e-9, 1 - 1e-9)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))
