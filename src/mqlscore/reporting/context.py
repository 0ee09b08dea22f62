"""What the report says beyond the models' evaluations, as one typed object.

:class:`ReportContext` holds the facts of a training run the report and the
model card print: the registered model, the champion and why, the data window,
the threshold, the learned half-lives, counts and notes. Every field may be
absent (a report of evaluations alone is still a report); the writers print
only what is there. :func:`build_context` fills it from a training run and its
registration.

Reporting reads a training run through :class:`TrainingRun` (what
``mqlscore.training.TrainResult`` offers) and a registration through
:class:`Registered` (``mqlscore.registry.Registration``), so it imports
neither: training and registration come before reporting, never after.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from mqlscore.evaluation import ModelEvaluation
from mqlscore.features.decay import DecayReport
from mqlscore.scoring import Attribution, ScoringModel, ThresholdChoice
from mqlscore.shift import BaseRateShift


class TrainedCandidate(Protocol):
    """One model of a training run, as the report reads it."""

    evaluation: ModelEvaluation


class TrainingRun(Protocol):
    """What the report reads from a training run (``mqlscore.training.TrainResult``)."""

    scoring_model: ScoringModel
    champion: str
    candidates: Mapping[str, TrainedCandidate]
    threshold: ThresholdChoice
    counts: dict[str, int]
    horizon_days: int
    data_window: dict[str, str]
    fingerprint: dict[str, Any]
    decay: DecayReport | None
    validation: Any  # ``sample_X`` and ``sample_y``: validation rows to explain the champion on
    leaks: LeakChecks | None
    base_rate_shift: BaseRateShift | None

    def candidate_model(self, name: str) -> ScoringModel:
        """A learned candidate as a calibrated ``ScoringModel``."""


class CheckedColumn(Protocol):
    """One column as the leak guard judged it (``mqlscore.leakguard.ColumnEvidence``)."""

    column: str
    decision: str
    evidence: tuple[str, ...]


class LeakChecks(Protocol):
    """The leak guard's findings, as the report reads them (``mqlscore.leakguard.LeakReport``)."""

    notes: tuple[str, ...]

    @property
    def checked(self) -> int:
        """How many columns were measured."""

    @property
    def reported(self) -> Sequence[CheckedColumn]:
        """The columns worth a line: flagged, allowed or excluded."""


class AccountMethod(Protocol):
    """One account method of a training run, as the report reads it
    (``mqlscore.accounts.AccountCandidate``)."""

    evaluation: ModelEvaluation


class AccountRun(Protocol):
    """The account scores of a training run (``mqlscore.accounts.AccountTraining``)."""

    chosen: str
    candidates: Mapping[str, AccountMethod]
    counts: dict[str, int]
    scoring: Any  # ``scoring.AccountScoring``: its ``threshold`` and ``metadata``


@dataclass(frozen=True)
class AccountSection:
    """The report's account section: every account method's validation figures (accounts
    as units), the one kept, its MQA threshold and the counts the figures rest on."""

    chosen: str
    evaluations: tuple[ModelEvaluation, ...]
    threshold: ThresholdChoice | None
    counts: Mapping[str, int]
    every_days: float | None = None
    chosen_because: str | None = None

    @property
    def champion(self) -> ModelEvaluation:
        """The kept method's evaluation."""
        return next(ev for ev in self.evaluations if ev.name.endswith(f": {self.chosen}"))


class Registered(Protocol):
    """What the report reads from a registration (``mqlscore.registry.Registration``)."""

    version: str
    decision: str


@dataclass(frozen=True)
class DataWindow:
    """The time span of the training data (ISO-8601 text)."""

    first: str
    last: str
    as_of: str


@dataclass(frozen=True)
class Fingerprint:
    """Rows per table, time range and content hash of the training data."""

    rows: Mapping[str, int]
    time_range: tuple[str, str]
    sha256: str


@dataclass(frozen=True)
class SuspectColumn:
    """A column that looks like it knows the outcome (or was excluded or allowed),
    its evidence in words and what was decided: ``stopped``, ``warned``,
    ``allowed``, ``excluded`` (``kept`` when nothing was found)."""

    column: str
    decision: str
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class LeakSection:
    """The leak guard's part of the report: how many extra columns it measured,
    the ones worth a line, and its notes (setting names that match no column)."""

    checked: int
    columns: tuple[SuspectColumn, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReportContext:
    """The facts of a training run that the report and the model card print."""

    champion: str | None = None  # the evaluation to report on; the first one when absent
    champion_reason: str | None = None
    model_name: str | None = None
    model_version: str | None = None  # None: not registered
    promotion: str | None = None  # the registry's promotion decision
    trained_at: str | None = None
    data_window: DataWindow | None = None
    horizon_days: int | None = None
    fingerprint: Fingerprint | None = None
    threshold: ThresholdChoice | None = None
    decay: DecayReport | None = None
    fit_intent_share: Mapping[str, float] | None = None  # "fit"/"intent" -> share of the champion's points
    features_by_group: Mapping[str, int] = field(default_factory=dict)
    # group -> features holding more than one value on the explained validation rows; None: not measured
    varying_by_group: Mapping[str, int] | None = None
    intent_learned: bool | None = None  # False: fitted without activity data, so intent was not learned
    notes: tuple[str, ...] = ()
    oracle: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # name -> metrics of true probabilities
    retrain_command: str | None = None
    leaks: LeakSection | None = None  # None: the leak guard did not run
    base_rate_shift: BaseRateShift | None = None  # fitting vs validation period; None: not measured
    # how the registered model differs from the model the validation figures describe; None: not refitted
    refit: str | None = None
    accounts: AccountSection | None = None  # the account scores; None: trained without them


NO_ACTIVITY = "No activity data: intent not learned"


def varying_features(X: pd.DataFrame) -> frozenset[str]:
    """The columns of a feature block holding more than one value (a missing
    value counts as a value): the others carry nothing on these rows."""
    out = []
    for name in X.columns:
        column = X[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            codes = column.cat.codes.to_numpy()
            if len(codes) and (codes != codes[0]).any():
                out.append(name)
            continue
        values = column.to_numpy(dtype=float, na_value=np.nan)
        missing = np.isnan(values)
        if not missing.all() and (missing.any() or np.nanmax(values) > np.nanmin(values)):
            out.append(name)
    return frozenset(out)


def fit_intent_share(attribution: Attribution) -> dict[str, float]:
    """Share of the mean absolute fit and intent points (the champion's explanation)."""
    fit = float(np.abs(attribution.fit_points).mean()) if len(attribution.points) else 0.0
    intent = float(np.abs(attribution.intent_points).mean()) if len(attribution.points) else 0.0
    total = fit + intent
    return {"fit": fit / total if total else 0.5, "intent": intent / total if total else 0.5}


def build_context(result: TrainingRun, registration: Registered | None = None,
                  attribution: Attribution | None = None) -> ReportContext:
    """The context of a training run; ``registration`` names the registered version
    and the promotion decision; ``attribution`` (the champion's, on validation
    rows) gives the split between fit and intent."""
    model = result.scoring_model
    groups: dict[str, int] = {}
    for spec in model.builder.specs_:
        groups[spec.group] = groups.get(spec.group, 0) + 1
    sample = getattr(getattr(result, "validation", None), "sample_X", None)
    varying_by_group: dict[str, int] | None = None
    if isinstance(sample, pd.DataFrame):
        varying = varying_features(sample)
        varying_by_group = {g: 0 for g in groups}
        for spec in model.builder.specs_:
            varying_by_group[spec.group] += spec.name in varying
    loss = result.candidates[result.champion].evaluation.metrics["log_loss"]
    window = result.data_window
    fp = result.fingerprint
    return ReportContext(
        champion=result.champion,
        champion_reason=f"lowest validation log loss ({loss:.4f}) among the learned models; the hand-set "
                        "baseline is shown for comparison only",
        model_name=model.metadata.get("model_name"),
        model_version=registration.version if registration is not None else None,
        promotion=registration.decision if registration is not None else None,
        trained_at=model.metadata.get("trained_at"),
        data_window=DataWindow(window["first"], window["last"], window["as_of"]),
        horizon_days=result.horizon_days,
        fingerprint=Fingerprint(dict(fp["rows"]), tuple(fp["time_range"]), fp["sha256"]),
        threshold=result.threshold,
        decay=result.decay,
        fit_intent_share=fit_intent_share(attribution) if attribution is not None else None,
        features_by_group=groups,
        varying_by_group=varying_by_group,
        intent_learned=model.builder.intent_learned,
        notes=tuple(f"{k.replace('_', ' ')}: {v:,}" for k, v in result.counts.items()),
        leaks=leak_section(result.leaks),
        base_rate_shift=getattr(result, "base_rate_shift", None),
        refit=result.refit.sentence() if getattr(result, "refit", None) is not None else None,
        accounts=account_section(getattr(result, "accounts", None)),
    )


def account_section(accounts: AccountRun | None) -> AccountSection | None:
    """The report's view of a training run's account scores (None when it has none)."""
    if accounts is None:
        return None
    meta = accounts.scoring.metadata
    threshold = meta.get("threshold")
    return AccountSection(
        chosen=accounts.chosen, evaluations=tuple(c.evaluation for c in accounts.candidates.values()),
        threshold=ThresholdChoice(**threshold) if threshold else None, counts=dict(accounts.counts),
        every_days=meta.get("every_days"), chosen_because=meta.get("chosen_because"))


def leak_section(leaks: LeakChecks | None) -> LeakSection | None:
    """The report's view of the leak guard's findings (None when it did not run)."""
    if leaks is None:
        return None
    columns = tuple(SuspectColumn(c.column, c.decision, tuple(c.evidence)) for c in leaks.reported)
    return LeakSection(leaks.checked, columns, tuple(leaks.notes))
