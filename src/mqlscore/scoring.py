"""Scores people can act on: probability, 0-100 score, tier, MQL flag, and the
points per business signal that add up to the score.

``ScoringModel`` is everything needed to score raw contract data: the fitted
feature definition, the model, its Platt calibration, the score scale and the
MQL threshold. Batch scoring, the MLflow model and the service all call it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from mqlscore.config import ScoringConfig
from mqlscore.features import FeatureBuilder
from mqlscore.models.calibration import PlattCalibrator

FORMAT_VERSION = 1
TIERS = ("A", "B", "C", "D")


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

    def log_odds_at(self, score: float) -> float:
        """The log-odds that give ``score`` (inverse of :meth:`unclipped`)."""
        return float(logit(self.base_rate) + (score - self.points_at_base_rate) / self.points_per_logit)


def tiers_of(score: np.ndarray, cutoffs: tuple[float, float, float]) -> np.ndarray:
    """A, B, C or D by the lowest score of A, B and C."""
    a, b, c = cutoffs
    return np.where(score >= a, "A", np.where(score >= b, "B", np.where(score >= c, "C", "D")))


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
class ScoringModel:
    """Feature definition + model + calibration + scale + threshold."""

    builder: FeatureBuilder
    kind: Literal["lightgbm", "scorecard"]
    model: Any
    calibrator: PlattCalibrator
    scale: ScoreScale
    config: ScoringConfig
    threshold: float
    metadata: dict[str, Any] = field(default_factory=dict)

    # -------------------------------------------------------------- scoring
    def _contributions(self, X: pd.DataFrame | np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Per-feature log-odds contributions, the bias per row, and their features
        (``X``: a feature block, or its :meth:`model_input`)."""
        if self.kind == "lightgbm":
            contrib, bias = self.model.contributions(X)
            return contrib, bias, list(self.model.feature_names_)
        contrib = self.model.contributions(X)
        return contrib.to_numpy(float), np.full(len(X), self.model.intercept_), list(contrib.columns)

    def model_input(self, X: pd.DataFrame) -> pd.DataFrame | np.ndarray:
        """What the model reads: LightGBM's float matrix (converted once, used for
        the score and its reasons), or the feature block itself for the scorecard."""
        return self.model.matrix(X) if self.kind == "lightgbm" else X

    def raw_log_odds(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The model's uncalibrated log-odds."""
        return np.asarray(self.model.decision_function(X), float)

    def score_features(self, X: pd.DataFrame, reasons: bool = True) -> pd.DataFrame:
        """Scores for a feature block (from ``builder.transform``), index kept."""
        from mqlscore.explain import reasons_for, reasons_text, signal_points

        data = self.model_input(X)
        raw = self.raw_log_odds(data)
        cal = self.calibrator.logit(raw)
        prob = 0.5 * (1 + np.tanh(0.5 * cal))
        score = self.scale.score(cal)
        columns: dict[str, Any] = {
            "probability": prob, "score": np.round(score, 1),
            "tier": tiers_of(score, self.config.tier_cutoffs), "is_mql": prob >= self.threshold,
        }
        if reasons:
            points, signals, groups, bias, _ = signal_points(self, data)
            is_fit = np.array([g == "fit" for g in groups])
            items = reasons_for(points, signals, groups, X, self.config.top_reasons)
            columns.update({
                "base_points": np.round(self.scale.unclipped(self.calibrator.logit(bias)), 2),
                "fit_points": np.round(points[:, is_fit].sum(axis=1), 2),
                "intent_points": np.round(points[:, ~is_fit].sum(axis=1), 2),
                "reasons": items, "reasons_text": [reasons_text(r) for r in items],
            })
        return pd.DataFrame(columns, index=X.index)

    def score(self, leads: pd.DataFrame, activities: pd.DataFrame, snapshots: pd.DataFrame,
              reasons: bool = True) -> pd.DataFrame:
        """Score each (lead_id, as_of) row of ``snapshots`` from raw contract data."""
        X = self.builder.transform(leads, activities, snapshots)
        scored = self.score_features(X, reasons=reasons)
        return pd.DataFrame({
            "lead_id": snapshots["lead_id"].to_numpy(), "as_of": snapshots["as_of"].to_numpy(),
            **{c: scored[c].to_numpy() for c in scored.columns},
            "model_name": self.metadata.get("model_name", "mqlscore"),
            "model_version": str(self.metadata.get("model_version", "unregistered")),
        }, index=scored.index)

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
        return cls(
            builder=FeatureBuilder.from_dict(features), kind=payload["kind"], model=model,
            calibrator=PlattCalibrator.from_dict(payload["calibrator"]), scale=ScoreScale(**payload["scale"]),
            config=ScoringConfig.model_validate(payload["config"]), threshold=float(payload["threshold"]),
            metadata=payload.get("metadata", {}),
        )


def request_frames(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a request frame (one row per lead, its activities as a list or a JSON
    list in column ``activities``) into the contract's leads and activities tables."""
    rows: list[dict[str, Any]] = []
    blobs = frame["activities"] if "activities" in frame else pd.Series([None] * len(frame), index=frame.index)
    for lead_id, blob in zip(frame["lead_id"], blobs):
        items = json.loads(blob) if isinstance(blob, str) and blob.strip() else (blob if isinstance(blob, list) else [])
        rows.extend({**item, "lead_id": lead_id} for item in items)
    leads = frame.drop(columns=["activities"], errors="ignore").reset_index(drop=True)
    activities = pd.DataFrame(rows, columns=["lead_id", "occurred_at", "activity_type", "detail"]) if rows \
        else pd.DataFrame(columns=["lead_id", "occurred_at", "activity_type", "detail"])
    return leads, activities


def score_request_frame(model: ScoringModel, frame: pd.DataFrame, as_of: str | pd.Timestamp | None = None,
                        reasons: bool = True) -> pd.DataFrame:
    """Validate a request frame against the contract and score its leads at
    ``as_of`` (default: now). Leads sharing an ``account_id`` are one buying group."""
    from mqlscore.contract import parse_as_of, validate_tables

    when = parse_as_of(as_of) if isinstance(as_of, str) else as_of
    when = pd.Timestamp.now(tz="UTC") if when is None else pd.Timestamp(when)
    leads, activities = request_frames(frame)
    dataset = validate_tables({"leads": leads, "activities": activities}, as_of=when)
    snapshots = pd.DataFrame({"lead_id": dataset.leads["lead_id"].to_numpy(), "as_of": when})
    return model.score(dataset.leads, dataset.activities, snapshots, reasons=reasons)
