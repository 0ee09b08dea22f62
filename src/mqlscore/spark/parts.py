"""What runs on the executors: the package's own code on one part of the data.

Each function takes Arrow tables (one part: whole buying groups) and returns an
Arrow table; none imports PySpark. Arrow tables become pandas frames the way
``pd.read_parquet`` makes them (``pyarrow.Table.to_pandas``), so a part's frames
have the dtypes the pandas engine's frames have, and PySpark's own pandas
conversion (which turns UTC instants into naive local times and warns about
pandas 3) is never used.

Row order is kept: a part's leads in their export order (``__row``), its
activities in the order validation kept them (``__row`` is then their position
in the part). Per lead and per account, the feature code then sees exactly the
sequence of rows the pandas engine sees, so sums come out bit for bit the same.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mqlscore.contract.schema import (ACTIVITY_COLUMNS, COUNT_COLUMNS, LEAD_COLUMNS, OUTCOME_COLUMNS, TABLES,
                                      TIMESTAMP_COLUMNS)

# Columns the engine adds; a leading "__" keeps them from ever being read as a CRM's extra columns.
BUCKET = "__bucket"
ROW = "__row"
GROUP = "__group"
TABLE = "__table"
REPORT = "__report"
SQL_AT = "__sql_at"
DISQUALIFIED_AT = "__disqualified_at"
# An extra leads column during validation only: the source row of each lead validation keeps.
ROW_MARKER = "_mqlscore_source_row"
NO_LEAD_LEFT = "no lead left to use"

CONTRACT: dict[str, tuple[str, ...]] = {"leads": LEAD_COLUMNS, "activities": ACTIVITY_COLUMNS,
                                        "outcomes": OUTCOME_COLUMNS}


def clean_type(table: str, column: str) -> pa.DataType:
    """The Arrow type of a contract column in a validated table."""
    if column in TIMESTAMP_COLUMNS[table]:
        return pa.timestamp("us", tz="UTC")
    if table == "leads" and column in COUNT_COLUMNS:
        return pa.float64()
    return pa.string()


def clean_name(table: str, column: str) -> str:
    """A validated table's column in the validation step's output (one output for three tables)."""
    return f"{table}__{column}"


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """An Arrow table as ``pd.read_parquet`` would give it (pandas' ``str`` text, UTC instants kept)."""
    return table.to_pandas()


def _sorted(table: pa.Table, column: str) -> pa.Table:
    return table.sort_by([(column, "ascending")]) if table.num_rows > 1 else table


# ----------------------------------------------------------------------------- validation


def validate_part(table: pa.Table, *, names: dict[str, list[str]], present: dict[str, list[str]],
                  as_of: str | None, lenient: bool, max_examples: int) -> pa.Table:
    """``validate_tables`` on one part's raw rows (the three tables, whole buying groups).

    ``table`` holds every table's rows, told apart by ``__table`` (its index in
    ``TABLES``), with each table's columns under positional names (``names``: the
    positional names per table, in the raw order; the original names are in
    ``present``). Returns the report (one row, JSON in ``__report``) and the kept
    rows of the validated tables (:func:`clean_name` columns), leads with their
    source row in ``__row``, activities with their position among the part's kept
    activities."""
    from mqlscore.contract import ContractError, validate_tables

    bucket = int(table.column(BUCKET)[0].as_py())
    kinds = table.column(TABLE).to_numpy(zero_copy_only=False)
    frames: dict[str, pd.DataFrame] = {}
    for index, name in enumerate(TABLES):
        if name not in names:
            continue
        mask = pa.array(kinds == index)
        part = _sorted(table.filter(mask), ROW)
        rows = part.column(ROW).to_numpy(zero_copy_only=False)
        frame = to_pandas(part.select(names[name]).rename_columns(present[name]))
        if name == "leads":
            frame[ROW_MARKER] = rows
        frame.index = pd.Index(rows, name="row")
        frames[name] = frame
    fatal = False
    try:
        dataset = validate_tables(frames, as_of=as_of, lenient=lenient, max_examples=max_examples)
        report, clean = dataset.report, dataset
    except ContractError as exc:
        report, clean = exc.report, None
        if lenient and report.problems and report.problems[-1].message.startswith(NO_LEAD_LEFT):
            # every lead of this part was set aside: the others may still have leads (checked on the driver)
            report.problems.pop()
        else:
            fatal = lenient  # a missing column, say: lenient mode stops too
    out = [_report_rows(bucket, report, fatal)]
    if clean is not None:
        out.append(_clean_rows(bucket, "leads", clean.leads, clean.leads[ROW_MARKER].to_numpy(np.int64), present))
        if "activities" in names:
            out.append(_clean_rows(bucket, "activities", clean.activities,
                                   np.arange(len(clean.activities), dtype=np.int64), present))
        if "outcomes" in names:
            out.append(_clean_rows(bucket, "outcomes", clean.outcomes, np.full(len(clean.outcomes), -1, np.int64),
                                   present))
    return pa.concat_tables([_with_all_columns(t) for t in out])


def validation_schema() -> pa.Schema:
    """The Arrow schema of :func:`validate_part`'s output."""
    fields = [pa.field(BUCKET, pa.int32()), pa.field(TABLE, pa.int32()), pa.field(ROW, pa.int64()),
              pa.field(REPORT, pa.string())]
    fields += [pa.field(clean_name(t, c), clean_type(t, c)) for t in TABLES for c in CONTRACT[t]]
    return pa.schema(fields)


def _with_all_columns(table: pa.Table) -> pa.Table:
    schema = validation_schema()
    columns = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
               for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def _report_rows(bucket: int, report: Any, fatal: bool) -> pa.Table:
    return pa.table({BUCKET: pa.array([bucket], pa.int32()), TABLE: pa.array([len(TABLES)], pa.int32()),
                     ROW: pa.array([-1], pa.int64()),
                     REPORT: pa.array([report_to_json(report, fatal=fatal)], pa.string())})


def _clean_rows(bucket: int, name: str, frame: pd.DataFrame, rows: np.ndarray,
                present: dict[str, list[str]]) -> pa.Table:
    n = len(frame)
    data: dict[str, pa.Array] = {BUCKET: pa.array(np.full(n, bucket, np.int32)),
                                 TABLE: pa.array(np.full(n, TABLES.index(name), np.int32)),
                                 ROW: pa.array(rows, pa.int64())}
    for column in CONTRACT[name]:
        if column in frame.columns:
            data[clean_name(name, column)] = _arrow(frame[column], clean_type(name, column))
    return pa.table(data)


def _arrow(values: pd.Series, kind: pa.DataType) -> pa.Array:
    with warnings.catch_warnings():
        # pyarrow reads a UTC column through Series.values, deprecated in pandas 3 (the values are right)
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray that drops timezone")
        return pa.array(values, type=kind, from_pandas=True)


def report_to_json(report: Any, *, fatal: bool = False) -> str:
    """A ``ValidationReport`` as JSON (instants as ISO text); ``fatal`` when validation
    stopped even in lenient mode."""
    data = {**asdict(report), "fatal": fatal}
    for key in ("time_min", "time_max", "as_of"):
        data[key] = None if data[key] is None else pd.Timestamp(data[key]).isoformat()
    return json.dumps(data, default=str)


# ----------------------------------------------------------------------------- frames of one part


def part_frames(leads: pa.Table, activities: pa.Table, extras: list[str],
                has_detail: bool) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A part's validated leads, activities and outcomes as the pandas engine holds
    them (``Dataset``: contract columns, then the leads' extra columns), and each
    lead's source row and buying group (``__row``, ``__group``). ``leads`` carries each
    lead's outcome in ``__sql_at`` and ``__disqualified_at``."""
    leads = _sorted(leads, ROW)
    frame = to_pandas(leads)
    where = pd.DataFrame({ROW: frame[ROW].to_numpy(np.int64), GROUP: frame[GROUP].to_numpy(dtype=object)})
    contract = [c for c in LEAD_COLUMNS if c in frame.columns]
    lead_frame = frame[contract + extras].reset_index(drop=True)
    done = (frame[SQL_AT].notna() | frame[DISQUALIFIED_AT].notna()).to_numpy()
    outcomes = frame.loc[done, ["lead_id", SQL_AT, DISQUALIFIED_AT]].rename(
        columns={SQL_AT: "sql_at", DISQUALIFIED_AT: "disqualified_at"}).reset_index(drop=True)
    acts = to_pandas(_sorted(activities, ROW))
    act_columns = [c for c in ACTIVITY_COLUMNS if c != "detail" or has_detail]
    if not len(acts):
        acts = pd.DataFrame({c: pd.Series(dtype="datetime64[us, UTC]" if c == "occurred_at" else "str")
                             for c in act_columns})
    return lead_frame, acts[act_columns].reset_index(drop=True), outcomes, where


# ----------------------------------------------------------------------------- fitting the builder


def summary_schema() -> pa.Schema:
    """The Arrow schema of a fit summary (``FeatureBuilder.fit_summary``)."""
    return pa.schema([pa.field("part", pa.string()), pa.field("key", pa.string()), pa.field("value", pa.string()),
                      pa.field("label", pa.string()), pa.field("number", pa.float64()),
                      pa.field("count", pa.int64()), pa.field("first", pa.int64())])


def summary_part(leads: pa.Table, activities: pa.Table, *, config: dict[str, Any], extras: list[str],
                 has_detail: bool, as_of: str, kinds: dict[str, str] | None, kinds_only: bool) -> pa.Table:
    """``FeatureBuilder.fit_summary`` of one part, on what existed at ``as_of`` (leads
    created at or before it, activities before it: what the pandas engine fits on).
    With ``kinds_only``, only the extra columns' kind evidence (the first pass)."""
    from mqlscore.config import FeatureConfig
    from mqlscore.features.builder import FeatureBuilder

    lead_frame, acts, _, where = part_frames(leads, activities, extras, has_detail)
    rows = where[ROW].to_numpy()
    when = pd.Timestamp(as_of)
    known = (lead_frame["created_at"] <= when).to_numpy()
    lead_frame, rows = lead_frame[known], rows[known]
    acts = acts[acts["occurred_at"] < when] if len(acts) else acts
    builder = FeatureBuilder(FeatureConfig.model_validate(config))
    if kinds_only:
        summary = builder.fit_summary(lead_frame[extras], acts.iloc[:0], rows=rows)
        summary = summary[summary["part"] == "extra_kind"]
    else:
        summary = builder.fit_summary(lead_frame, acts, rows=rows, kinds=kinds)
    return pa.Table.from_pandas(summary.astype({"value": object, "label": object}), schema=summary_schema(),
                                preserve_index=False)


# ----------------------------------------------------------------------------- snapshots and features

_BUILDERS: dict[str, Any] = {}
_MODELS: dict[str, Any] = {}


def cached_builder(definition: str) -> Any:
    """The fitted builder of a ``FeatureBuilder.to_dict`` JSON text, built once per worker."""
    from mqlscore.features.builder import FeatureBuilder

    key = hashlib.sha256(definition.encode()).hexdigest()
    if key not in _BUILDERS:
        _BUILDERS[key] = FeatureBuilder.from_dict(json.loads(definition))
    return _BUILDERS[key]


def feature_frame_to_arrow(X: pd.DataFrame, schema: pa.Schema) -> dict[str, pa.Array]:
    """Feature columns as Arrow arrays of ``schema``'s types (categories as their text)."""
    out = {}
    for name in X.columns:
        values = X[name]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(object)
        out[name] = _arrow(values, schema.field(name).type)
    return out


def training_part(leads: pa.Table, activities: pa.Table, *, definition: str, snapshots: dict[str, Any],
                  extras: list[str], has_detail: bool, as_of: str, schema: pa.Schema) -> pa.Table:
    """Snapshots, labels and features of one part: ``build_snapshots`` (every snapshot;
    ``labelled`` False for a censored one, whose horizon reaches past the as-of time)
    and ``FeatureBuilder.transform`` of the labelled ones, as the pandas engine's
    ``build_training_set`` computes them. Censored rows carry no features."""
    from mqlscore.config import SnapshotConfig
    from mqlscore.features import build_snapshots

    lead_frame, acts, outcomes, where = part_frames(leads, activities, extras, has_detail)
    builder = cached_builder(definition)
    snaps = build_snapshots(lead_frame, acts, outcomes, pd.Timestamp(as_of), SnapshotConfig.model_validate(snapshots))
    labelled = snaps[snaps["labelled"].to_numpy()].reset_index(drop=True)
    censored = snaps[~snaps["labelled"].to_numpy()].reset_index(drop=True)
    X = builder.transform(lead_frame, acts, labelled)
    where.index = lead_frame["lead_id"].astype(str).to_numpy()
    frames = []
    for part, features in ((labelled, X), (censored, None)):
        n = len(part)
        of_lead = where.reindex(part["lead_id"].astype(str).to_numpy())
        data = {
            "lead_id": pa.array(part["lead_id"].astype(str).to_numpy(dtype=object), pa.string()),
            "as_of": _arrow(part["as_of"], pa.timestamp("us", tz="UTC")),
            "kind": pa.array(part["kind"].astype(str).to_numpy(dtype=object), pa.string()),
            "labelled": pa.array(part["labelled"].to_numpy(bool), pa.bool_()),
            "label": pa.array(part["label"].to_numpy(np.int8), pa.int8()),
            ROW: pa.array(of_lead[ROW].to_numpy(np.int64), pa.int64()),
            GROUP: pa.array(of_lead[GROUP].to_numpy(dtype=object), pa.string()),
        }
        if features is not None:
            data.update(feature_frame_to_arrow(features, schema))
        table = pa.table(data)
        frames.append(pa.Table.from_arrays(
            [table.column(f.name) if f.name in table.column_names else pa.nulls(n, f.type) for f in schema],
            schema=schema))
    return pa.concat_tables(frames)


# ----------------------------------------------------------------------------- scoring


def cached_model(files: dict[str, str]) -> Any:
    """The ``ScoringModel`` saved as ``files`` (name -> text, ``ScoringModel.save``), loaded once per worker."""
    from mqlscore.scoring import ScoringModel

    key = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    if key not in _MODELS:
        with tempfile.TemporaryDirectory() as tmp:
            for name, text in files.items():
                (Path(tmp) / name).write_text(text)
            _MODELS[key] = ScoringModel.load(Path(tmp))
    return _MODELS[key]


def score_schema() -> pa.Schema:
    """The Arrow schema of a score file's rows (``SCORE_FILE_COLUMNS``)."""
    from mqlscore.contract.schema import SCORE_FILE_COLUMNS

    types = {"as_of": pa.timestamp("us", tz="UTC"), "probability": pa.float64(), "score": pa.float64(),
             "is_mql": pa.bool_(), "fit_points": pa.float64(), "intent_points": pa.float64(),
             "base_points": pa.float64()}
    return pa.schema([pa.field(c, types.get(c, pa.string())) for c in SCORE_FILE_COLUMNS])


def score_part(leads: pa.Table, activities: pa.Table, *, model: dict[str, str], metadata: dict[str, Any],
               extras: list[str], has_detail: bool, as_of: str) -> pa.Table:
    """Every lead of one part open at ``as_of``, scored by the registered model with
    ``batch.score_open_leads`` (``ScoringModel.score``: the batch engine's rows)."""
    from mqlscore.batch import score_open_leads
    from mqlscore.contract import Dataset, ValidationReport
    from mqlscore.contract.write import empty_rejects

    lead_frame, acts, outcomes, _ = part_frames(leads, activities, extras, has_detail)
    scoring_model = cached_model(model)
    scoring_model.metadata.update(metadata)
    dataset = Dataset(lead_frame, acts, outcomes, pd.Timestamp(as_of), ValidationReport(), empty_rejects())
    scored = score_open_leads(scoring_model, dataset)
    schema = score_schema()
    return pa.Table.from_arrays([_arrow(scored[f.name], f.type) for f in schema], schema=schema)
