"""Scores people can act on: probability, 0-100 score, tier, MQL flag, and the
points per business signal that add up to the score.

``ScoringModel`` is everything needed to score raw contract data: the fitted
feature definition, the model, its Platt calibration, the score scale and the
MQL threshold. Batch scoring, the MLflow model and the service all call it.
It alone turns the model's log-odds into points: :meth:`ScoringModel.attribution`
(points per business signal, base, fit and intent points) and, for the
scorecard, :meth:`ScoringModel.points_table`, both on the score's own scale.
``mqlscore.explain`` only puts those points into words.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from mqlscore.config import ScoringConfig
from mqlscore.contract.schema import DEFAULT_MODEL_NAME, POINTS_FIELDS, TIERS, TIMESTAMP_DTYPE
from mqlscore.explain import reasons_for, reasons_text
from mqlscore.features import FeatureBuilder
from mqlscore.features.registry import FeatureSpec
from mqlscore.models.calibration import PlattCalibrator

FORMAT_VERSION = 1
ACCOUNTS_FILE = "accounts.json"  # beside scoring_model.json when the model scores accounts


def logit(p: float | np.ndarray) -> float | np.ndarray:
    """log(p / (1 - p))."""
    return np.log(p) - np.log1p(-p)


@dataclass(frozen=True)
class ScoreScale:
    """Odds scaling: ``points_at_base_rate`` at the base rate's odds and
    ``points_to_double_odds`` more per doubling of the odds, clipped to 0-100."""

    base_rate: float
    points_at_base_rate: float = 50.0
    points_to_double_odds: float = 10.0

    @property
    def points_per_logit(self) -> float:
        """Points per unit of log-odds."""
        return self.points_to_double_odds / math.log(2)

    def unclipped(self, log_odds: np.ndarray) -> np.ndarray:
        """The score before clipping (what the reasons add up to)."""
        return self.points_at_base_rate + self.points_per_logit * (np.asarray(log_odds) - logit(self.base_rate))

    def score(self, log_odds: np.ndarray) -> np.ndarray:
        """The 0-100 score."""
        return np.clip(self.unclipped(log_odds), 0.0, 100.0)


_ROW_COLUMNS = ("lead_id", "as_of", "model_name", "model_version")  # what score() adds to the scores


def tiers_of(score: np.ndarray, cutoffs: tuple[float, float, float]) -> np.ndarray:
    """The tier of each score (``TIERS``: A, B, C, D) by the lowest score of A, B and C."""
    a, b, c = cutoffs
    first, second, third, rest = TIERS
    return np.where(score >= a, first, np.where(score >= b, second, np.where(score >= c, third, rest)))


def signal_matrix(specs: Sequence[FeatureSpec], features: Sequence[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """(features x signals) 0/1 matrix mapping each feature to its business signal
    (``FeatureSpec.signal``), the signals' names and their groups (``fit`` or
    ``intent``; account signals count as intent), signals in first-seen order."""
    by_name = {s.name: s for s in specs}
    signals: list[str] = []
    groups: list[str] = []
    index: dict[str, int] = {}
    rows, cols = [], []
    for i, name in enumerate(features):
        spec = by_name[name]
        if spec.signal not in index:
            index[spec.signal] = len(signals)
            signals.append(spec.signal)
            groups.append("fit" if spec.group == "fit" else "intent")
        rows.append(i)
        cols.append(index[spec.signal])
    matrix = np.zeros((len(features), len(signals)))
    matrix[rows, cols] = 1.0
    return matrix, signals, groups


@dataclass(frozen=True)
class Attribution:
    """Where each row's score comes from, on the score's scale.

    ``base_points + points.sum(axis=1)`` is the row's score before clipping to
    0-100 (:meth:`ScoreScale.unclipped` of the calibrated log-odds).
    ``points`` are calibrated and scaled (+``points_to_double_odds`` per doubling
    of the odds); ``contributions`` are the same model pass per feature, in the
    model's raw log-odds (TreeSHAP for LightGBM, exact for the scorecard).
    """

    points: np.ndarray  # rows x signals
    signals: list[str]
    groups: list[str]  # per signal: "fit" or "intent"
    base_points: np.ndarray  # per row: the score of the model's bias alone
    raw_log_odds: np.ndarray  # per row: bias + contributions, uncalibrated
    contributions: np.ndarray  # rows x features, raw log-odds
    features: list[str]

    @property
    def is_fit(self) -> np.ndarray:
        """Per signal: whether it is a fit signal (else intent)."""
        return np.array([g == "fit" for g in self.groups], dtype=bool)

    @property
    def fit_points(self) -> np.ndarray:
        """Per row: the points of the fit signals."""
        return self.points[:, self.is_fit].sum(axis=1)

    @property
    def intent_points(self) -> np.ndarray:
        """Per row: the points of the intent (and account) signals."""
        return self.points[:, ~self.is_fit].sum(axis=1)


@dataclass
class ThresholdChoice:
    """The MQL threshold and what it means on the validation period."""

    policy: str
    probability: float
    score: float
    mqls_per_week: float
    sql_rate: float
    share_of_sqls: float
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return dict(self.__dict__)


def choose_threshold(p: np.ndarray, y: np.ndarray, lead_ids: np.ndarray, period_days: float,
                     config: ScoringConfig, scale: ScoreScale) -> ThresholdChoice:
    """Pick the MQL threshold on validation by the configured policy.

    ``f1``: the best F1 between MQL flag and SQL-within-horizon; ``capacity``:
    the lowest threshold whose distinct flagged leads per week fit
    ``mqls_per_week``; ``sql_rate``: the lowest threshold whose SQL rate among
    flagged rows reaches ``target_sql_rate``.
    """
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order].astype(float)
    tp = np.cumsum(y_sorted)
    flagged = np.arange(1, len(p) + 1)
    precision = tp / flagged
    recall = tp / max(y_sorted.sum(), 1)
    # distinct leads flagged at each cut-off: a lead counts from its first (highest) row
    first_seen = ~pd.Series(lead_ids[order]).duplicated().to_numpy()
    weeks = max(period_days / 7.0, 1e-9)
    per_week = np.cumsum(first_seen) / weeks
    last_of_tie = np.r_[p_sorted[1:] != p_sorted[:-1], True]
    if config.threshold_policy == "capacity":
        if config.mqls_per_week is None:
            raise ValueError("threshold policy 'capacity' needs scoring.mqls_per_week")
        ok = np.flatnonzero(last_of_tie & (per_week <= config.mqls_per_week))
        k = int(ok[-1]) if len(ok) else 0
        detail = f"capacity of {config.mqls_per_week:g} MQLs per week"
    elif config.threshold_policy == "sql_rate":
        if config.target_sql_rate is None:
            raise ValueError("threshold policy 'sql_rate' needs scoring.target_sql_rate")
        ok = np.flatnonzero(last_of_tie & (precision >= config.target_sql_rate))
        k = int(ok[-1]) if len(ok) else 0
        detail = f"target SQL rate among MQLs of {config.target_sql_rate:.0%}"
    else:
        total = precision + recall
        f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
        k = int(np.argmax(np.where(last_of_tie, f1, -1)))
        detail = "best F1 of MQL flag against SQL within the horizon"
    threshold = float(p_sorted[k])
    return ThresholdChoice(
        policy=config.threshold_policy, probability=threshold,
        score=float(scale.score(np.array([logit(min(max(threshold, 1e-9), 1 - 1e-9))]))[0]),
        mqls_per_week=float(per_week[k]), sql_rate=float(precision[k]), share_of_sqls=float(recall[k]),
        detail=detail,
    )


@dataclass
class AccountScoring:
    """What scores an account (a buying group): the account model
    (``mqlscore.models.account.AccountModel``), its own score scale (a score of 50 is
    an account as likely as the average one of the validation period), the MQA
    threshold (a probability: a marketing qualified account) and what training
    measured (the method chosen and why, the threshold's figures, per committee role
    how often accounts that produced an SQL had someone in it). Scored by
    ``mqlscore.accounts``."""

    model: Any
    scale: ScoreScale
    threshold: float
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"model": self.model.to_dict(), "scale": dict(self.scale.__dict__), "threshold": self.threshold,
                "metadata": self.metadata}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccountScoring:
        """Rebuild from :meth:`to_dict`."""
        from mqlscore.models.account import AccountModel

        return cls(AccountModel.from_dict(data["model"]), ScoreScale(**data["scale"]), float(data["threshold"]),
                   dict(data.get("metadata") or {}))


@dataclass
class ScoringModel:
    """Feature definition + model + calibration + scale + threshold (and, when
    trained with them, the account scores: ``accounts``)."""

    builder: FeatureBuilder
    kind: Literal["lightgbm", "scorecard"]
    model: Any
    calibrator: PlattCalibrator
    scale: ScoreScale
    config: ScoringConfig
    threshold: float
    metadata: dict[str, Any] = field(default_factory=dict)
    accounts: AccountScoring | None = None  # None: a model trained without account scores
    # (features -> signals) matrices by feature list: the same for every call of one model
    _signal_matrices: dict[tuple[str, ...], tuple[np.ndarray, list[str], list[str]]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    # -------------------------------------------------------------- points
    def attribution(self, X: pd.DataFrame | np.ndarray) -> Attribution:
        """Points per business signal, base points and raw log-odds of each row of a
        feature block (or of its :meth:`model_input`, to reuse LightGBM's matrix)."""
        if self.kind == "lightgbm":
            contrib, bias = self.model.contributions(X)
            features = list(self.model.feature_names_)
        else:
            frame = self.model.contributions(X)
            contrib, bias, features = frame.to_numpy(float), np.full(len(X), self.model.intercept_), list(frame.columns)
        key = tuple(features)
        if key not in self._signal_matrices:
            self._signal_matrices[key] = signal_matrix(self.builder.specs_, features)
        matrix, signals, groups = self._signal_matrices[key]
        # Platt scaling multiplies every contribution by a; the scale turns log-odds into points
        points = (contrib * self.scale.points_per_logit * self.calibrator.a_) @ matrix
        return Attribution(points=points, signals=signals, groups=groups,
                           base_points=self.scale.unclipped(self.calibrator.logit(bias)),
                           raw_log_odds=bias + contrib.sum(axis=1), contributions=contrib, features=features)

    def points_table(self) -> pd.DataFrame:
        """The scorecard's points table on the score's scale: the "(base)" row plus
        the points of a lead's bin in each feature is that lead's score before
        clipping to 0-100. Only for a scorecard model."""
        if self.kind != "scorecard":
            raise ValueError(f"a points table needs a scorecard model, not {self.kind!r}")
        # score = unclipped(a * raw + b), raw = intercept + sum of bin log-odds: the
        # slope a and the scale give points per logit, the rest is an offset
        offset = float(self.scale.unclipped(self.calibrator.logit(0.0)))
        return self.model.points_table(points_per_logit=self.scale.points_per_logit * self.calibrator.a_,
                                       offset=offset)

    # -------------------------------------------------------------- scoring
    def model_input(self, X: pd.DataFrame) -> pd.DataFrame | np.ndarray:
        """What the model reads: LightGBM's float matrix (converted once, used for
        the score and its reasons), or the feature block itself for the scorecard."""
        return self.model.matrix(X) if self.kind == "lightgbm" else X

    def raw_log_odds(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The model's uncalibrated log-odds."""
        return np.asarray(self.model.decision_function(X), float)

    def alone(self, X: pd.DataFrame) -> pd.DataFrame:
        """A feature block as it would be had each lead been the only lead of its account:
        the account features, which describe the *other* leads of the account (their roles,
        activity, count), at zero; a lead without an account keeps them missing. What
        ``builder.transform`` gives a lead whose account holds no one else."""
        names = self._account_feature_names(X)
        return X.assign(**{n: X[n].where(X[n].isna(), 0).astype(X[n].dtype) for n in names})

    def _account_feature_names(self, X: pd.DataFrame) -> list[str]:
        """The account features among ``X``'s columns (those :meth:`alone` sets to zero)."""
        return [s.name for s in self.builder.specs_ if s.group == "account" and s.name in X.columns]

    def _alone_raw_log_odds(self, data: pd.DataFrame | np.ndarray, X: pd.DataFrame, raw: np.ndarray) -> np.ndarray:
        """The raw log-odds of :meth:`alone`'s block, given the model's input ``data`` for ``X``
        and its raw log-odds ``raw``.

        Most rows are alone already (no colleague among the leads scored: account features 0,
        or missing without an account): they keep ``raw``, their input being the same. On
        LightGBM's matrix each row is predicted on its own, so only the other rows are
        predicted again (edited in a copy: no second conversion of the block); the scorecard's
        block is predicted whole when any row changes (its matrix product is not row by row)."""
        if not isinstance(data, np.ndarray):
            if not any((X[n].notna() & X[n].ne(0)).any() for n in self._account_feature_names(X)):
                return raw
            return self.raw_log_odds(self.alone(X))
        names = {s.name for s in self.builder.specs_ if s.group == "account"}
        columns = [j for j, name in enumerate(self.model.feature_names_) if name in names]
        part = data[:, columns]
        changed = np.flatnonzero(((part != 0) & ~np.isnan(part)).any(axis=1))
        if not len(changed):
            return raw
        rows = data[changed]
        rows[:, columns] = np.where(np.isnan(part[changed]), np.nan, 0.0)
        out = raw.copy()
        out[changed] = self.raw_log_odds(rows)
        return out

    def score_features(self, X: pd.DataFrame, reasons: bool = True, alone: bool = False) -> pd.DataFrame:
        """Scores for a feature block (from ``builder.transform``), index kept. With
        ``alone``, also each row's calibrated log-odds (``log_odds``) and those of the lead
        scored as the only one of its account (``alone_log_odds``, :meth:`alone`): what the
        account scores read."""
        return pd.DataFrame(self._feature_scores(X, reasons, alone), index=X.index)

    def _feature_scores(self, X: pd.DataFrame, reasons: bool, alone: bool) -> dict[str, Any]:
        """:meth:`score_features`' columns, as arrays."""
        data = self.model_input(X)
        raw = self.raw_log_odds(data)
        cal = self.calibrator.logit(raw)
        prob = 0.5 * (1 + np.tanh(0.5 * cal))
        score = self.scale.score(cal)
        columns: dict[str, Any] = {
            "probability": prob, "score": np.round(score, 1),
            "tier": tiers_of(score, self.config.tier_cutoffs), "is_mql": prob >= self.threshold,
        }
        if alone:
            columns["log_odds"] = np.asarray(cal, float)
            columns["alone_log_odds"] = np.asarray(self.calibrator.logit(self._alone_raw_log_odds(data, X, raw)), float)
        if reasons:
            parts = self.attribution(data)
            items = reasons_for(parts.points, parts.signals, parts.groups, X, self.config.top_reasons,
                                facts=self.builder.column_facts())
            columns.update({
                "base_points": np.round(parts.base_points, 2),
                "fit_points": np.round(parts.fit_points, 2),
                "intent_points": np.round(parts.intent_points, 2),
                "reasons": items, "reasons_text": [reasons_text(r) for r in items],
            })
        return columns

    def score(self, leads: pd.DataFrame, activities: pd.DataFrame, snapshots: pd.DataFrame,
              reasons: bool = True, alone: bool = False) -> pd.DataFrame:
        """Score each (lead_id, as_of) row of ``snapshots`` from raw contract data
        (no row: an empty frame with the same columns); ``alone``: see :meth:`score_features`."""
        if not len(snapshots):
            out = self._no_scores(snapshots, reasons)
            return out.assign(log_odds=np.empty(0), alone_log_odds=np.empty(0)) if alone else out
        return pd.DataFrame({
            "lead_id": snapshots["lead_id"].to_numpy(), "as_of": snapshots["as_of"].to_numpy(),
            **self.score_columns(leads, activities, snapshots, reasons=reasons, alone=alone),
            "model_name": self.metadata.get("model_name", DEFAULT_MODEL_NAME),
            "model_version": str(self.metadata.get("model_version", "unregistered")),
        }, index=snapshots.index)

    def score_columns(self, leads: pd.DataFrame, activities: pd.DataFrame, snapshots: pd.DataFrame,
                      reasons: bool = True, alone: bool = False) -> dict[str, Any]:
        """:meth:`score`'s score columns (probability to reasons, and ``alone``'s), as arrays
        in the snapshots' order, without building a frame: what the service answers with
        (a frame costs more than the numbers of one lead)."""
        if not len(snapshots):
            empty = self._no_scores(snapshots, reasons)
            columns = {c: empty[c].to_numpy() for c in empty.columns if c not in _ROW_COLUMNS}
            return {**columns, "log_odds": np.empty(0), "alone_log_odds": np.empty(0)} if alone else columns
        return self._feature_scores(self.builder.transform(leads, activities, snapshots), reasons, alone)

    def _no_scores(self, snapshots: pd.DataFrame, reasons: bool) -> pd.DataFrame:
        # The feature blocks are shaped by their rows, and a matrix of no rows has no width to
        # infer (e.g. every lead closed at the as-of time): the columns of score(), empty.
        floats, texts = np.empty(0, float), pd.Series([], dtype=str)
        columns: dict[str, Any] = {"probability": floats, "score": floats, "tier": texts,
                                   "is_mql": np.empty(0, bool)}
        if reasons:
            columns.update({**{c: floats for c in POINTS_FIELDS}, "reasons": np.empty(0, object),
                            "reasons_text": texts})
        lead_ids = snapshots["lead_id"] if "lead_id" in snapshots else texts
        as_of = snapshots["as_of"] if "as_of" in snapshots else pd.Series([], dtype=TIMESTAMP_DTYPE)
        return pd.DataFrame({"lead_id": lead_ids.astype(str).array, "as_of": as_of.array, **columns,
                             "model_name": texts, "model_version": texts})

    # ---------------------------------------------------------- persistence
    def save(self, folder: Path) -> Path:
        """Write the model as JSON files (and LightGBM's text format) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        payload = {
            "format_version": FORMAT_VERSION, "kind": self.kind, "threshold": self.threshold,
            "scale": self.scale.__dict__, "config": self.config.model_dump(mode="json"),
            "calibrator": self.calibrator.to_dict(), "metadata": self.metadata,
        }
        (folder / "scoring_model.json").write_text(json.dumps(payload, indent=2, default=str))
        (folder / "features.json").write_text(json.dumps(self.builder.to_dict(), indent=1))
        (folder / "model.json").write_text(json.dumps(self.model.to_dict()))
        accounts = folder / ACCOUNTS_FILE
        if self.accounts is not None:
            accounts.write_text(json.dumps(self.accounts.to_dict(), indent=1, default=str))
        elif accounts.exists():  # never leave another model's account scores beside this one
            accounts.unlink()
        return folder

    @classmethod
    def load(cls, folder: Path) -> ScoringModel:
        """Read a model written by :meth:`save`; fails loudly on anything missing or corrupt."""
        folder = Path(folder)
        try:
            payload = json.loads((folder / "scoring_model.json").read_text())
            features = json.loads((folder / "features.json").read_text())
            model_data = json.loads((folder / "model.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot load a scoring model from {folder}: {exc}") from exc
        if payload.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{folder}: unsupported scoring model format {payload.get('format_version')!r}")
        if payload["kind"] == "lightgbm":
            from mqlscore.models.gbm import GBMModel

            model = GBMModel.from_dict(model_data)
        else:
            from mqlscore.models.scorecard import Scorecard

            model = Scorecard.from_dict(model_data)
        accounts = None
        if (folder / ACCOUNTS_FILE).is_file():  # a model saved before account scores has none
            try:
                accounts = AccountScoring.from_dict(json.loads((folder / ACCOUNTS_FILE).read_text()))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"cannot load the account scores from {folder}: {exc}") from exc
        return cls(
            builder=FeatureBuilder.from_dict(features), kind=payload["kind"], model=model,
            calibrator=PlattCalibrator.from_dict(payload["calibrator"]), scale=ScoreScale(**payload["scale"]),
            config=ScoringConfig.model_validate(payload["config"]), threshold=float(payload["threshold"]),
            metadata=payload.get("metadata", {}), accounts=accounts,
        )

