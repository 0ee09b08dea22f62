"""Batch scoring, with the same code the service uses: every lead open at an
export's as-of time, written as a score file (``mqlscore score --out``); a
look-back over a history (every lead at a past time, or every lead at its own
snapshot times) with what became of each row; and a request frame (one row per
lead, its activities as a JSON list: the MLflow model's input) scored through
the data contract."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mqlscore.config import SnapshotConfig
from mqlscore.contract import ContractWarning, Dataset, parse_as_of, validate_tables, write_atomically
from mqlscore.contract.schema import (ACTIVITY_COLUMNS, HISTORY_FIELDS, HISTORY_SCORE_COLUMNS, LEAD_STATES,
                                      SCORE_FILE_COLUMNS, TIERS)
from mqlscore.features import build_snapshots, open_leads_at
from mqlscore.features.snapshots import lead_states_at, leads_created_before, look_back
from mqlscore.scoring import ScoringModel

SCORE_FILE_SUFFIXES = (".csv", ".parquet")
# Rows scored at once in a look-back: the feature block of 50,000 rows and its reasons take
# a few hundred MB; a history of snapshots can hold millions of rows.
SCORE_CHUNK_ROWS = 50_000

Progress = Callable[[int, int], None]  # (rows done, rows in all)


def _score_file_rows(model: ScoringModel, dataset: Dataset, rows: pd.DataFrame) -> pd.DataFrame:
    scored = model.score(dataset.leads, dataset.activities, rows)
    scored["reasons_json"] = [json.dumps(r) for r in scored.pop("reasons")]
    return scored[list(SCORE_FILE_COLUMNS)]


def score_open_leads(model: ScoringModel, dataset: Dataset) -> pd.DataFrame:
    """Every lead open at the dataset's as-of time, scored with reasons, as the rows
    of a score file (:data:`~mqlscore.contract.schema.SCORE_FILE_COLUMNS`; the
    reasons as JSON text in ``reasons_json``); no row when no lead is open."""
    rows = open_leads_at(dataset.leads, dataset.outcomes, dataset.as_of)
    return _score_file_rows(model, dataset, rows)


@dataclass(frozen=True)
class LeadCounts:
    """How many leads an export holds and where they stand at one time: why none may be open."""

    leads: int  # in the export (those created after an --as-of time included)
    created_after: int  # created at or after the time: not a lead yet
    sql: int  # became an SQL at or before it
    closed: int  # disqualified or lost at or before it (not an SQL)
    open: int


def lead_counts(dataset: Dataset, as_of: pd.Timestamp | None = None) -> LeadCounts:
    """Where the export's leads stand at ``as_of`` (default: the dataset's), counts only.

    Leads created after the dataset's as-of time were set aside when it was validated
    (the report counts the rows read); they count as created after."""
    when = dataset.as_of if as_of is None else as_of
    states = lead_states_at(dataset.leads, dataset.outcomes, when)
    rejected = int((dataset.rejects["table"] == "leads").sum()) if "table" in dataset.rejects else 0
    set_aside = max(int(dataset.report.rows_read.get("leads", len(dataset.leads))) - len(dataset.leads) - rejected, 0)
    counts = states.value_counts()
    return LeadCounts(leads=len(dataset.leads) + set_aside, created_after=int(states.isna().sum()) + set_aside,
                      **{state: int(counts.get(state, 0)) for state in LEAD_STATES})


def horizon_days_of(model: ScoringModel, snapshot_config: SnapshotConfig | None = None) -> int:
    """The model's horizon (SQL within this many days), as trained; else the settings'."""
    given = model.metadata.get("horizon_days")
    return int(given) if given is not None else int((snapshot_config or SnapshotConfig()).horizon_days)


@dataclass
class LookBack:
    """Rows of a look-back score file, scored chunk by chunk when asked for
    (:meth:`chunks`, :meth:`frame`): each (``lead_id``, ``as_of``) of ``rows`` with its
    score and reasons, its state at that time and whether it became an SQL within
    ``horizon_days`` after it (:data:`~mqlscore.contract.schema.HISTORY_SCORE_COLUMNS`;
    :func:`mqlscore.features.snapshots.look_back`)."""

    model: ScoringModel
    dataset: Dataset
    rows: pd.DataFrame
    horizon_days: int
    chunk_rows: int = SCORE_CHUNK_ROWS

    def __len__(self) -> int:
        return len(self.rows)

    def chunks(self, progress: Progress | None = None) -> Iterator[pd.DataFrame]:
        """The scored rows, at most ``chunk_rows`` at a time (one empty frame when no row),
        calling ``progress(done, total)`` after each chunk."""
        if self.chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, not {self.chunk_rows}")
        data = self.dataset
        known = look_back(data.leads, data.outcomes, self.rows, self.horizon_days, data.as_of)
        total = len(self.rows)
        for start in range(0, max(total, 1), self.chunk_rows):
            part = self.rows.iloc[start:start + self.chunk_rows]
            scored = _score_file_rows(self.model, data, part)
            after = known.iloc[start:start + self.chunk_rows]
            scored = scored.assign(**{c: after[c].to_numpy() for c in HISTORY_FIELDS})
            yield scored[list(HISTORY_SCORE_COLUMNS)].reset_index(drop=True)
            if progress is not None:
                progress(min(start + self.chunk_rows, total), total)

    def frame(self, progress: Progress | None = None) -> pd.DataFrame:
        """Every scored row in one frame (for a large history, write :meth:`chunks` instead)."""
        return pd.concat(list(self.chunks(progress)), ignore_index=True)

    def summary(self) -> LookBackSummary:
        """An empty :class:`LookBackSummary` for these rows, to count chunks into."""
        window = self.model.metadata.get("data_window") or {}
        try:
            trained_until = pd.Timestamp(window["as_of"]) if window.get("as_of") else None
        except (TypeError, ValueError):
            trained_until = None
        if trained_until is not None and trained_until.tzinfo is None:
            trained_until = trained_until.tz_localize("UTC")
        return LookBackSummary(horizon_days=self.horizon_days, trained_until=trained_until)


def score_leads_at(model: ScoringModel, dataset: Dataset, as_of: pd.Timestamp | None = None, *,
                   all_leads: bool = True, snapshot_config: SnapshotConfig | None = None,
                   chunk_rows: int = SCORE_CHUNK_ROWS) -> LookBack:
    """Every lead created before ``as_of`` (default: the dataset's), open or not (or only
    the open ones, ``all_leads=False``), to be scored at that time, with what became of
    it after (the horizon: :func:`horizon_days_of`). Features use only what happened
    before ``as_of``; later outcomes in the dataset fill ``sql_within_horizon`` alone."""
    when = dataset.as_of if as_of is None else pd.Timestamp(as_of)
    rows = (leads_created_before(dataset.leads, when) if all_leads
            else open_leads_at(dataset.leads, dataset.outcomes, when))
    return LookBack(model, dataset, rows, horizon_days_of(model, snapshot_config), chunk_rows)


def score_snapshots(model: ScoringModel, dataset: Dataset, snapshot_config: SnapshotConfig,
                    before: pd.Timestamp | None = None, *, chunk_rows: int = SCORE_CHUNK_ROWS) -> LookBack:
    """Every lead at each of its own snapshot times, strictly before ``before`` (default:
    the dataset's as-of time): the rows training learns from
    (:func:`~mqlscore.features.build_snapshots` with ``snapshot_config``), with what
    became of each (the model's horizon, :func:`horizon_days_of`)."""
    when = dataset.as_of if before is None else pd.Timestamp(before)
    snapshots = build_snapshots(dataset.leads, dataset.activities, dataset.outcomes, when, snapshot_config)
    return LookBack(model, dataset, snapshots[["lead_id", "as_of"]], horizon_days_of(model, snapshot_config),
                    chunk_rows)


@dataclass
class LookBackSummary:
    """Counts over the chunks of a look-back as they pass (:meth:`count`): rows, leads,
    MQLs, rows per tier and state, per tier the rows whose horizon had ended by the
    export's as-of time and how many of those became an SQL, and how many of those the
    model may have been fitted on (their horizon ended by ``trained_until``)."""

    horizon_days: int
    trained_until: pd.Timestamp | None = None  # the model's training data ended here (metadata)
    rows: int = 0
    mqls: int = 0
    in_sample: int = 0  # rows with an ended horizon that were labelled when the model was trained
    tiers: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TIERS, 0))
    states: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LEAD_STATES, 0))
    completed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TIERS, 0))
    sqls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TIERS, 0))
    _lead_ids: set[str] = field(default_factory=set, repr=False)

    @property
    def leads(self) -> int:
        """Distinct leads among the rows."""
        return len(self._lead_ids)

    @property
    def censored(self) -> int:
        """Rows whose horizon had not ended by the export's as-of time."""
        return self.rows - sum(self.completed.values())

    def add(self, chunk: pd.DataFrame) -> None:
        """Count one chunk of look-back rows."""
        state_field, became_field = HISTORY_FIELDS
        self.rows += len(chunk)
        self.mqls += int(chunk["is_mql"].sum())
        self._lead_ids.update(chunk["lead_id"].astype(str))
        became = chunk[became_field].astype("boolean")
        for tier, n in chunk["tier"].value_counts().items():
            self.tiers[str(tier)] = self.tiers.get(str(tier), 0) + int(n)
        for state, n in chunk[state_field].value_counts().items():
            self.states[str(state)] = self.states.get(str(state), 0) + int(n)
        known = became.notna().to_numpy()
        tiers = chunk["tier"].to_numpy()[known]
        hits = became.to_numpy()[known].astype(bool)
        if self.trained_until is not None:
            ends = pd.DatetimeIndex(chunk["as_of"]) + pd.Timedelta(days=self.horizon_days)
            self.in_sample += int((np.asarray(ends <= self.trained_until) & known).sum())
        for tier in np.unique(tiers):
            self.completed[str(tier)] = self.completed.get(str(tier), 0) + int((tiers == tier).sum())
            self.sqls[str(tier)] = self.sqls.get(str(tier), 0) + int(hits[tiers == tier].sum())

    def count(self, chunks: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """Pass ``chunks`` through, counting each (to write and summarise in one pass)."""
        for chunk in chunks:
            self.add(chunk)
            yield chunk

    def sql_rates(self) -> dict[str, float | None]:
        """Per tier, the share of rows with an ended horizon that became an SQL (None: no such row)."""
        return {t: (self.sqls[t] / n if n else None) for t, n in self.completed.items()}


def write_score_file(scored: pd.DataFrame | Iterable[pd.DataFrame], path: Path) -> Path:
    """Write score-file rows as CSV or Parquet (by the file's suffix), renamed into
    place only when complete (:func:`~mqlscore.contract.write_atomically`).

    ``scored`` is a frame, or frames of the same columns written one after the other
    as they come (:meth:`LookBack.chunks`: only one chunk is held at a time)."""
    path = Path(path)
    if path.suffix.lower() not in SCORE_FILE_SUFFIXES:
        raise ValueError(f"{path}: a score file ends in .csv or .parquet")
    if isinstance(scored, pd.DataFrame):
        if path.suffix.lower() == ".parquet":
            return write_atomically(path, lambda temporary: scored.to_parquet(temporary, index=False))
        return write_atomically(path, lambda temporary: scored.to_csv(temporary, index=False))
    writer = _write_parquet_chunks if path.suffix.lower() == ".parquet" else _write_csv_chunks
    return write_atomically(path, lambda temporary: writer(scored, temporary))


def _write_csv_chunks(chunks: Iterable[pd.DataFrame], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        first = True
        for chunk in chunks:
            chunk.to_csv(handle, index=False, header=first)
            first = False
        if first:
            pd.DataFrame(columns=list(SCORE_FILE_COLUMNS)).to_csv(handle, index=False)


def _write_parquet_chunks(chunks: Iterable[pd.DataFrame], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    try:
        for chunk in chunks:
            with warnings.catch_warnings():
                # pyarrow reads a UTC column through Series.values, deprecated in pandas 3; the
                # values it gets are right, and DataFrame.to_parquet silences the same warning
                warnings.filterwarnings("ignore", message="Series.values returning an ndarray that drops timezone")
                table = pa.Table.from_pandas(chunk, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table.cast(writer.schema))
        if writer is None:
            pd.DataFrame(columns=list(SCORE_FILE_COLUMNS)).to_parquet(path, index=False)
    finally:
        if writer is not None:
            writer.close()


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
