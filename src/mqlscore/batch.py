"""Batch scoring, with the same code the service uses: every lead open at an
export's as-of time, written as a score file (``mqlscore score --out``); and a
request frame (one row per lead, its activities as a JSON list: the MLflow
model's input) scored through the data contract."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from mqlscore.contract import ContractWarning, Dataset, parse_as_of, validate_tables, write_atomically
from mqlscore.contract.schema import ACTIVITY_COLUMNS, SCORE_FILE_COLUMNS, TIERS
from mqlscore.features import open_leads_at
from mqlscore.scoring import ScoringModel

SCORE_FILE_SUFFIXES = (".csv", ".parquet")


def score_open_leads(model: ScoringModel, dataset: Dataset) -> pd.DataFrame:
    """Every lead open at the dataset's as-of time, scored with reasons, as the rows
    of a score file (:data:`~mqlscore.contract.schema.SCORE_FILE_COLUMNS`; the
    reasons as JSON text in ``reasons_json``)."""
    rows = open_leads_at(dataset.leads, dataset.outcomes, dataset.as_of)
    scored = model.score(dataset.leads, dataset.activities, rows)
    scored["reasons_json"] = [json.dumps(r) for r in scored.pop("reasons")]
    return scored[list(SCORE_FILE_COLUMNS)]


def write_score_file(scored: pd.DataFrame, path: Path) -> Path:
    """Write score-file rows as CSV or Parquet (by the file's suffix), renamed into
    place only when complete (:func:`~mqlscore.contract.write_atomically`)."""
    path = Path(path)
    if path.suffix.lower() not in SCORE_FILE_SUFFIXES:
        raise ValueError(f"{path}: a score file ends in .csv or .parquet")
    if path.suffix.lower() == ".parquet":
        return write_atomically(path, lambda temporary: scored.to_parquet(temporary, index=False))
    return write_atomically(path, lambda temporary: scored.to_csv(temporary, index=False))


def tier_counts(scored: pd.DataFrame) -> dict[str, int]:
    """Leads per tier, best first (tiers with none included)."""
    counts = scored["tier"].value_counts().reindex(list(TIERS), fill_value=0)
    return {str(t): int(n) for t, n in counts.items()}


def request_frames(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a request frame (one row per lead, its activities as a list or a JSON
    list in column ``activities``) into the contract's raw leads and activities tables."""
    rows: list[dict[str, Any]] = []
    blobs = frame["activities"] if "activities" in frame else pd.Series([None] * len(frame), index=frame.index)
    for lead_id, blob in zip(frame["lead_id"], blobs):
        items = json.loads(blob) if isinstance(blob, str) and blob.strip() else (blob if isinstance(blob, list) else [])
        rows.extend({**item, "lead_id": lead_id} for item in items if isinstance(item, dict))
    leads = frame.drop(columns=["activities"], errors="ignore").reset_index(drop=True)
    activities = pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(ACTIVITY_COLUMNS))
    first = [c for c in ACTIVITY_COLUMNS if c in activities.columns]
    return leads, activities[first + [c for c in activities.columns if c not in first]]


def score_request_frame(model: ScoringModel, frame: pd.DataFrame, as_of: str | pd.Timestamp | None = None,
                        reasons: bool = True) -> pd.DataFrame:
    """Validate a request frame against the contract and score its leads at
    ``as_of`` (default: now). Leads sharing an ``account_id`` are one buying group.

    Raises ContractError on what the contract refuses; what it only notices (rows
    dated after ``as_of`` ignored, unknown values kept) is issued as a
    :class:`~mqlscore.contract.ContractWarning` per problem, as the service lists
    them in its answer."""
    when = parse_as_of(as_of) if isinstance(as_of, str) else as_of
    when = pd.Timestamp.now(tz="UTC") if when is None else pd.Timestamp(when)
    leads, activities = request_frames(frame)
    dataset = validate_tables({"leads": leads, "activities": activities}, as_of=when)
    for problem in dataset.report.warnings:
        warnings.warn(str(problem), ContractWarning, stacklevel=2)
    snapshots = pd.DataFrame({"lead_id": dataset.leads["lead_id"].to_numpy(), "as_of": when})
    return model.score(dataset.leads, dataset.activities, snapshots, reasons=reasons)
