"""Validation: the three tables checked against the contract, every problem
named with its table, column and rows, bad rows set aside in lenient mode.

One code path serves a one-lead service request and a CRM export of millions
of rows. Checks and set-asides work on numpy masks and positions; only the
text columns change form with the input's size (see :mod:`.normalise`): an
object array handled value by value when all tables hold at most
:data:`SMALL_INPUT_ROWS` rows, an arrow-backed pandas Series otherwise.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mqlscore.contract.normalise import (PIECE_ROWS, Text, _as_instant, _as_text, _at, _coerce_as_of, _fold,
                                         _isin, _iso_texts, _missing, _n_unique, _NAT, _parse_counts,
                                         _parse_timestamps, _repeated, _safe_value, _shape, _shown_id, _shown_value,
                                         _str_array, _take, _take_array, _text_values, _timestamp, _utc_array,
                                         _value_counts, to_text)
from mqlscore.contract.read import read_tables
from mqlscore.contract.report import (MAX_EXAMPLES, ContractError, Dataset, Example, Problem, ValidationReport,
                                      _plural, _rows)
from mqlscore.contract.schema import (CATEGORICAL_VALUES, CANONICAL_ACTIVITY_TYPES, CONTRACT_COLUMNS, COUNT_COLUMNS,
                                      LOWER_CASE_COLUMNS, OUT_OF_RANGE, REQUIRED_COLUMNS, TABLES,
                                      TIMESTAMP_COLUMNS, TIMESTAMP_DTYPE, UPPER_CASE_COLUMNS)
from mqlscore.contract.write import empty_rejects

SMALL_INPUT_ROWS = 5_000
"""Inputs of at most this many rows (all tables together) are normalised value
by value in Python, larger ones with vectorised pandas and pyarrow calls. The
two give identical results (tests/test_contract_speed_paths.py); the bound is
where they cost about the same (benchmarks/bench_contract.py)."""

# check -> (phrase for the message, short reason for a reject)
_CHECK_REASONS: dict[str, tuple[str, str]] = {
    "not_nullable": ("an empty required value", "empty required value"),
    "timestamp": ("an unparsable timestamp", "unparsable timestamp"),
    "out_of_range": (f"a timestamp {OUT_OF_RANGE}", f"timestamp {OUT_OF_RANGE}"),
    "duplicate_lead_id": ("a duplicate lead_id (all rows sharing an id are listed)", "duplicate lead_id"),
    "whole_number": ("a count that is not a whole number", "count is not a whole number"),
    "non_negative": ("a negative count", "negative count"),
}


def validate_tables(
    tables: Mapping[str, pd.DataFrame],
    *,
    as_of: str | pd.Timestamp | None = None,
    lenient: bool = False,
    max_examples: int = MAX_EXAMPLES,
) -> Dataset:
    """Parse and validate the three tables against the contract.

    ``tables`` maps table names to frames as read (text or native types). The
    index is used as source row number when named ``row`` (as
    :func:`read_tables` sets it), else rows are numbered 1, 2, ...
    ``as_of`` defaults to the latest timestamp in the data. ``max_examples``
    is the number of offending rows each problem lists (its count is always
    complete).

    Errors: an empty required value, an unparsable timestamp or one outside
    the years 1900-2199 (``schema.OUT_OF_RANGE``), a duplicate lead_id, a count
    that is not a whole number or is negative, an outcome before its lead's
    created_at.

    Raises ContractError on any error unless ``lenient``; in lenient mode rows
    with errors go to ``Dataset.rejects`` with their reason and validation goes
    on. Structural errors (missing leads or required column, no leads left) are
    raised in both modes.
    """
    if isinstance(max_examples, bool) or not isinstance(max_examples, (int, np.integer)) or max_examples < 0:
        raise ValueError(f"max_examples must be a whole number >= 0, not {max_examples!r}")
    given = _coerce_as_of(as_of)
    return _Validation(tables, lenient=lenient, max_examples=int(max_examples)).run(given)


def load_folder(
    folder: Path | str,
    *,
    as_of: str | pd.Timestamp | None = None,
    lenient: bool = False,
    max_examples: int = MAX_EXAMPLES,
) -> Dataset:
    """Read and validate a folder: :func:`read_tables` then :func:`validate_tables`."""
    return validate_tables(read_tables(folder), as_of=as_of, lenient=lenient, max_examples=max_examples)


@dataclass
class _Table:
    """One table during validation, addressed by position (0..n-1)."""

    name: str
    raw: pd.DataFrame  # as given; the source of reject records
    arrays: dict[str, Any]  # its columns as arrays, by name
    rows: pd.Index  # source row number per position
    columns: list[str]  # the contract's columns present, in contract order
    text: dict[str, Text]  # contract columns as stripped text (what the user wrote)
    values: dict[str, Any]  # parsed: instants datetime64[us] (UTC), counts float64, text as Text
    out_of_range: dict[str, np.ndarray]  # per timestamp column: parsed but outside the years the contract takes
    keep: np.ndarray
    rejects: list[pd.DataFrame] = field(default_factory=list)

    @property
    def ids(self) -> Text:
        return self.text["lead_id"]

    def kept_positions(self) -> np.ndarray:
        return np.flatnonzero(self.keep)

    def clean(self, positions: np.ndarray | None = None) -> pd.DataFrame:
        """Contract columns (parsed, in contract order) then extra columns as given,
        for the kept rows (or the rows at ``positions``)."""
        if positions is None and not self.keep.all():
            positions = self.kept_positions()
        n = len(self.keep) if positions is None else len(positions)
        index = pd.RangeIndex(n)
        data: dict[str, Any] = {column: _clean_array(self.values[column], positions) for column in self.columns}
        for column, array in self.arrays.items():
            if column not in data:
                taken = array.copy() if positions is None else _take_array(array, positions)
                # A Series keeps the given dtype: pandas would read an object array as text.
                data[column] = pd.Series(taken, index=index, dtype=array.dtype, copy=False)
        return pd.DataFrame(data, index=index, copy=False)

    def kept_values(self, column: str) -> Any:
        """A column's parsed values in the kept rows."""
        values = self.values[column]
        return values if self.keep.all() else _take(values, self.kept_positions())


def _clean_array(values: Any, kept: np.ndarray | None) -> Any:
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        return _utc_array(values if kept is None else values[kept])
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        return values if kept is None else values[kept]
    if isinstance(values, pd.Series):
        return values.array if kept is None else _take_array(values.array, kept)
    return _str_array(values if kept is None else values[kept])


def _source_rows(frame: pd.DataFrame) -> pd.Index:
    """Source row number per position, as an index: a file's rows are a RangeIndex,
    which takes no memory where an array of millions of numbers would."""
    index = frame.index
    if index.name == "row" and pd.api.types.is_integer_dtype(index.dtype) and index.is_unique:
        return index
    return pd.RangeIndex(1, len(frame) + 1)


def _column_arrays(frame: pd.DataFrame) -> list[Any]:
    """The frame's columns as arrays, in order.

    ``frame[c]`` builds a Series (about 10 us each, as much as validating a
    small request's column); pandas' own column iterator does not. The public
    route is kept for a pandas without it.
    """
    iterate = getattr(frame, "_iter_column_arrays", None)
    if callable(iterate):
        return list(iterate())
    return [frame.iloc[:, i].array for i in range(frame.shape[1])]


def _prepare(name: str, frame: pd.DataFrame, *, small: bool) -> _Table:
    arrays = dict(zip(frame.columns, _column_arrays(frame), strict=True))
    columns = [c for c in CONTRACT_COLUMNS[name] if c in arrays]
    text: dict[str, Text] = {}
    values: dict[str, Any] = {}
    out_of_range: dict[str, np.ndarray] = {}
    for column in columns:
        array = arrays[column]
        given = array if small else pd.Series(array, dtype=array.dtype, copy=False)
        text[column] = _text_values(given) if small else _as_text(given)
        if column in TIMESTAMP_COLUMNS[name]:
            values[column], out_of_range[column] = _parse_timestamps(given, text[column])
        elif name == "leads" and column in COUNT_COLUMNS:
            values[column] = _parse_counts(given, text[column])
        elif column in LOWER_CASE_COLUMNS or column in UPPER_CASE_COLUMNS:
            values[column] = _fold(text[column], upper=column in UPPER_CASE_COLUMNS)
        else:
            values[column] = text[column]
    return _Table(
        name=name,
        raw=frame,
        arrays=arrays,
        rows=_source_rows(frame),
        columns=columns,
        text=text,
        values=values,
        out_of_range=out_of_range,
        keep=np.ones(len(frame), dtype=bool),
    )


class _Validation:
    """One validation run; see :func:`validate_tables` for the rules."""

    def __init__(self, tables: Mapping[str, pd.DataFrame], *, lenient: bool, max_examples: int) -> None:
        self.lenient = lenient
        self.max_examples = max_examples
        self.report = ValidationReport(lenient=lenient)
        frames = self._check_structure(tables)
        # Read at run time, so that a test can send small inputs down the large-input path.
        small = sum(len(frame) for frame in frames.values()) <= SMALL_INPUT_ROWS
        self.tables = {name: _prepare(name, frame, small=small) for name, frame in frames.items()}

    # -- the run ---------------------------------------------------------

    def run(self, as_of_given: pd.Timestamp | None) -> Dataset:
        for table in self.tables.values():
            self._check_columns(table)
        self._check_outcome_times()
        self._set_aside_leads_of_rejected_outcomes()
        self._set_aside_unknown_leads()
        as_of = self._resolve_as_of(as_of_given)
        if as_of is not None:
            self._remove_after_as_of(as_of)
        self._drop_duplicate_activities()
        self._warn_several_outcomes()
        self._warn_categories()
        leads = self.tables["leads"].clean()
        activities = self._clean_or_empty("activities")
        outcomes = _combine_outcomes(self._clean_or_empty("outcomes"))
        self._warn_both_outcomes(outcomes)
        rejects = self._rejects()
        self._summarise(leads, activities, outcomes, rejects)
        if self.report.errors and not self.lenient:
            raise ContractError(self.report)
        if leads.empty or as_of is None:
            self._fatal("leads", None, "no lead left to use (all were rejected or created after the as-of time)")
        return Dataset(leads, activities, outcomes, as_of, self.report, rejects)

    # -- structure -------------------------------------------------------

    def _check_structure(self, tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        problems: list[Problem] = []
        frames: dict[str, pd.DataFrame] = {}
        for name, frame in tables.items():
            if name not in TABLES:
                problems.append(Problem("error", name, None, f"unknown table {name!r} (expected one of {TABLES})"))
            elif frame is not None:
                self.report.sources[name] = str(frame.attrs.get("source", "(in memory)"))
                if not all(type(c) is str for c in frame.columns):
                    frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
                frames[name] = frame
                self.report.rows_read[name] = len(frame)
                problems += _structure_problems(name, frame)
        if "leads" not in frames:
            problems.append(Problem("error", "leads", None, "no leads table: expected leads.csv or leads.parquet"))
        elif frames["leads"].empty:
            problems.append(Problem("error", "leads", None, "the leads table has no rows"))
        if problems:
            self.report.problems += problems
            raise ContractError(self.report)
        return {name: frames[name] for name in TABLES if name in frames}

    def _fatal(self, table: str, column: str | None, message: str) -> None:
        self.report.problems.append(Problem("error", table, column, message))
        raise ContractError(self.report)

    # -- per-column checks -------------------------------------------------

    def _check_columns(self, table: _Table) -> None:
        """Required values present, timestamps parsable and in range, counts whole and not
        negative, lead_id unique in leads: each column in contract order, its checks in that order."""
        required = REQUIRED_COLUMNS[table.name]
        for column in table.columns:
            text = table.text[column]
            given = ~_missing(text)
            if column in required:
                self._check(table, column, ~given, "not_nullable")
            if column in TIMESTAMP_COLUMNS[table.name]:
                out_of_range = table.out_of_range[column]
                self._check(table, column, given & np.isnat(table.values[column]) & ~out_of_range, "timestamp")
                self._check(table, column, out_of_range, "out_of_range")
            if table.name == "leads" and column in COUNT_COLUMNS:
                counts = table.values[column]
                whole = counts == np.round(counts)
                self._check(table, column, given & ~(np.isfinite(counts) & whole), "whole_number")
                # Only whole numbers are judged here, so "-1.5" is reported once, as not whole.
                self._check(table, column, (counts < 0) & whole, "non_negative")
            if table.name == "leads" and column == "lead_id":
                self._check(table, column, _repeated(text), "duplicate_lead_id")

    def _check(self, table: _Table, column: str, failed: np.ndarray, check: str) -> None:
        positions = np.flatnonzero(failed)
        if len(positions):
            phrase, reason = _CHECK_REASONS[check]
            self._error(table, column, positions, phrase, reason)

    def _error(
        self, table: _Table, column: str | None, positions: np.ndarray, phrase: str, reason: str | list[str]
    ) -> None:
        if len(positions) == 0:
            return
        self.report.problems.append(
            Problem(
                "error",
                table.name,
                column,
                f"{_rows(len(positions))} with {phrase}",
                len(positions),
                self._examples(table, positions, column),
            )
        )
        self._set_aside(table, positions, column, reason, reject=True)

    def _warn(self, table: _Table, column: str | None, positions: np.ndarray, message: str) -> None:
        self.report.problems.append(
            Problem("warning", table.name, column, message, len(positions), self._examples(table, positions, column))
        )

    def _set_aside(
        self, table: _Table, positions: np.ndarray, column: str | None, reason: str | list[str], *, reject: bool
    ) -> None:
        table.keep[positions] = False
        if reject:
            table.rejects.append(pd.DataFrame({"pos": positions, "column": column, "reason": reason}))

    def _examples(self, table: _Table, positions: np.ndarray, column: str | None) -> list[Example]:
        first = positions[np.argsort(np.asarray(table.rows[positions]), kind="stable")[: self.max_examples]]
        # A value is quoted only from a column known to be safe, and then only when it has
        # that column's shape (normalise._shown_value); others are described by their shape.
        with_value = column is not None and column != "lead_id" and column in table.text
        examples: list[Example] = []
        for position in first:
            example: Example = {"row": int(table.rows[position])}
            lead_id = _at(table.ids, position)
            shown = None if lead_id is None else _shown_id(lead_id)
            if lead_id is None or shown is not None:
                example["lead_id"] = shown
            else:
                example["lead_id_shape"] = _shape(lead_id)
            value = _at(table.text[column], position) if with_value else None
            if value is not None:
                shown = _shown_value(column, value)
                if shown is None:
                    example["value_shape"] = _shape(value)
                else:
                    example["value"] = shown
            examples.append(example)
        return examples

    # -- across tables ---------------------------------------------------

    def _check_outcome_times(self) -> None:
        outcomes = self.tables.get("outcomes")
        if outcomes is None:
            return
        created = self._created_of(outcomes.ids)
        for column in ("sql_at", "disqualified_at"):
            if column not in outcomes.values:
                continue
            positions = np.flatnonzero(outcomes.keep & (outcomes.values[column] < created))
            if len(positions) == 0:
                continue
            reasons = [f"{column} before the lead's created_at ({when})" for when in _iso_texts(created[positions])]
            self._error(outcomes, column, positions, f"{column} before the lead's created_at", reasons)

    def _created_of(self, ids: Text) -> np.ndarray:
        """created_at of the kept lead with each id (NaT for none)."""
        leads = self.tables["leads"]
        kept = leads.kept_positions()
        index = pd.Index(_take(leads.ids, kept), dtype="str")
        first = ~index.duplicated()
        found = index[first].get_indexer(pd.Index(ids, dtype="str"))
        created = leads.values["created_at"][kept][first]
        if len(created) == 0:
            return np.full(len(found), _NAT)
        return np.where(found >= 0, created[found], _NAT)

    def _set_aside_leads_of_rejected_outcomes(self) -> None:
        """A lead whose outcome row was rejected would look open: set it aside too."""
        outcomes, leads = self.tables.get("outcomes"), self.tables["leads"]
        if outcomes is None:
            return
        rejected = np.flatnonzero(~outcomes.keep & ~_missing(outcomes.ids))
        if len(rejected) == 0:
            return
        ids = pd.Index(_take(outcomes.ids, rejected), dtype="str")
        first_row = pd.Series(np.asarray(outcomes.rows[rejected]), index=ids).groupby(level=0).min()
        positions = np.flatnonzero(leads.keep & _isin(leads.ids, first_row.index))
        if len(positions) == 0:
            return
        row_of = dict(zip(first_row.index.tolist(), first_row.tolist(), strict=True))
        reasons = [f"its outcomes row {row_of[_at(leads.ids, p)]} was rejected" for p in positions]
        self._set_aside(leads, positions, "lead_id", reasons, reject=True)
        if self.lenient:
            self._warn(
                leads,
                None,
                positions,
                f"{_plural(len(positions), 'lead')} set aside because their outcomes row was rejected "
                "(with the outcome unknown they would pass as open)",
            )

    def _set_aside_unknown_leads(self) -> None:
        leads = self.tables["leads"]
        every_id = leads.ids
        all_kept = bool(leads.keep.all())
        kept_ids = every_id if all_kept else _take(every_id, leads.kept_positions())
        for name in ("activities", "outcomes"):
            table = self.tables.get(name)
            if table is None:
                continue
            candidates = table.keep & ~_missing(table.ids)
            listed = _isin(table.ids, every_id)
            known = listed if all_kept else _isin(table.ids, kept_ids)
            unknown = np.flatnonzero(candidates & ~listed)
            rejected = np.flatnonzero(candidates & listed & ~known)
            if len(unknown):
                self._warn(table, "lead_id", unknown, f"{_rows(len(unknown))} of unknown leads set aside")
                self._set_aside(table, unknown, "lead_id", "unknown lead: lead_id not in leads", reject=self.lenient)
            if len(rejected):
                self._warn(table, "lead_id", rejected, f"{_rows(len(rejected))} of rejected leads set aside")
                self._set_aside(
                    table, rejected, "lead_id", "unknown lead: its leads row was rejected", reject=self.lenient
                )

    # -- time ------------------------------------------------------------

    def _resolve_as_of(self, given: pd.Timestamp | None) -> pd.Timestamp | None:
        stamps = []
        for name, table in self.tables.items():
            for column in TIMESTAMP_COLUMNS[name]:
                if column in table.values:
                    instants = table.values[column]
                    present = table.keep & ~np.isnat(instants)
                    if not present.any():
                        continue
                    if present.all():
                        stamps += [instants.min(), instants.max()]  # no copy of millions of instants
                    else:
                        kept = instants[present]
                        stamps += [kept.min(), kept.max()]
        self.report.time_min = _timestamp(min(stamps)) if stamps else None
        self.report.time_max = _timestamp(max(stamps)) if stamps else None
        self.report.as_of_given = given is not None
        self.report.as_of = given if given is not None else self.report.time_max
        return self.report.as_of

    def _remove_after_as_of(self, as_of: pd.Timestamp) -> None:
        limit = _as_instant(as_of)
        self._remove_leads_after(limit)
        activities = self.tables.get("activities")
        if activities is not None:
            late = np.flatnonzero(activities.keep & (activities.values["occurred_at"] > limit))
            if len(late):
                self._warn(activities, "occurred_at", late, f"{_rows(len(late))} after the as-of time ignored")
                self._set_aside(activities, late, "occurred_at", "after the as-of time", reject=False)
        outcomes = self.tables.get("outcomes")
        if outcomes is not None:
            for column in ("sql_at", "disqualified_at"):
                if column not in outcomes.values:
                    continue
                late = np.flatnonzero(outcomes.keep & (outcomes.values[column] > limit))
                if len(late):
                    self._warn(
                        outcomes,
                        column,
                        late,
                        f"{_rows(len(late))} with {column} after the as-of time: treated as not happened yet",
                    )
                    outcomes.values[column][late] = _NAT

    def _remove_leads_after(self, limit: np.datetime64) -> None:
        leads = self.tables["leads"]
        late = np.flatnonzero(leads.keep & (leads.values["created_at"] > limit))
        if len(late) == 0:
            return
        late_ids = _take(leads.ids, late)
        followers = []
        for name in ("activities", "outcomes"):
            table = self.tables.get(name)
            if table is None:
                continue
            hit = np.flatnonzero(table.keep & _isin(table.ids, late_ids))
            self._set_aside(table, hit, "lead_id", "lead created after the as-of time", reject=False)
            followers.append(f"{_rows(len(hit))} of {name}")
        with_them = f", with {' and '.join(followers)}" if followers else ""
        self._warn(
            leads,
            "created_at",
            late,
            f"{_plural(len(late), 'lead')} created after the as-of time removed{with_them}",
        )
        self._set_aside(leads, late, "created_at", "created after the as-of time", reject=False)

    # -- activities and outcomes -----------------------------------------

    def _drop_duplicate_activities(self) -> None:
        activities = self.tables.get("activities")
        if activities is None:
            return
        instants = activities.values["occurred_at"].view("int64")
        if activities.keep.all():
            candidates = np.flatnonzero(_repeated_numbers(instants))
        else:
            kept = activities.kept_positions()
            # Only rows sharing an instant can be duplicates; comparing int64 instants first
            # spares a full multi-column comparison of millions of rows.
            candidates = kept[_repeated_numbers(instants[kept])]
        positions = candidates[:0]
        if len(candidates):
            # Compare parsed values: the same instant written twice in two offsets is one event.
            positions = candidates[_later_copies(activities, candidates)]
        self.report.n_duplicate_activities = len(positions)
        if len(positions):
            self._warn(activities, None, positions, f"{_plural(len(positions), 'exact duplicate row')} counted once")
            self._set_aside(activities, positions, None, "exact duplicate", reject=False)

    def _warn_several_outcomes(self) -> None:
        outcomes = self.tables.get("outcomes")
        if outcomes is None:
            return
        kept = outcomes.kept_positions()
        several = kept[_repeated(_take(outcomes.ids, kept))]
        if len(several):
            n_leads = _n_unique(_take(outcomes.ids, several))
            self._warn(
                outcomes,
                "lead_id",
                several,
                f"{_plural(n_leads, 'lead')} with several outcome rows ({len(several):,} rows) combined into one: "
                "earliest sql_at and earliest disqualified_at",
            )

    def _warn_categories(self) -> None:
        leads = self.tables["leads"]
        for column, known in CATEGORICAL_VALUES.items():
            if column in leads.values:
                self._warn_unknown_values(leads, column, known, "a value outside the known list (kept)")
        activities = self.tables.get("activities")
        if activities is not None:
            self._warn_unknown_values(
                activities, "activity_type", CANONICAL_ACTIVITY_TYPES, "a type outside the canonical list (kept)"
            )

    def _warn_unknown_values(self, table: _Table, column: str, known: tuple[str, ...], phrase: str) -> None:
        values = table.values[column]
        candidates = table.keep & ~_missing(values)
        if not candidates.any():
            return
        unknown = np.flatnonzero(candidates & ~_isin(values, known))
        if len(unknown) == 0:
            return
        counts = _value_counts(_take(values, unknown))
        shown = ", ".join(f"{_safe_value(v)!r} {n:,}" for v, n in counts[:10])
        more = f", and {len(counts) - 10} more" if len(counts) > 10 else ""
        self._warn(table, column, unknown, f"{_rows(len(unknown))} with {phrase}: {shown}{more}")

    def _warn_both_outcomes(self, outcomes: pd.DataFrame) -> None:
        if outcomes.empty:
            return
        both = outcomes["sql_at"].notna() & outcomes["disqualified_at"].notna()
        if not both.any():
            return
        table = self.tables["outcomes"]
        kept = table.kept_positions()
        ids = _take(table.ids, kept)
        first_of_id = ~pd.Index(ids, dtype="str").duplicated()
        positions = kept[_isin(ids, outcomes.loc[both, "lead_id"].to_numpy()) & first_of_id]
        self._warn(
            table,
            None,
            positions,
            f"{_plural(int(both.sum()), 'lead')} with both sql_at and disqualified_at (kept as given)",
        )

    def _clean_or_empty(self, name: str) -> pd.DataFrame:
        table = self.tables.get(name)
        if table is None:
            return _empty_table(name).copy()
        frame = table.clean()
        absent = [c for c in (*REQUIRED_COLUMNS[name], *TIMESTAMP_COLUMNS[name]) if c not in frame.columns]
        if not absent:
            return frame
        for column in absent:
            empty = TIMESTAMP_DTYPE if column in TIMESTAMP_COLUMNS[name] else "str"
            frame[column] = pd.Series(pd.NA if empty == "str" else pd.NaT, index=frame.index, dtype=empty)
        contract = [c for c in CONTRACT_COLUMNS[name] if c in frame.columns]
        return frame[contract + [c for c in frame.columns if c not in contract]]

    # -- results ---------------------------------------------------------

    def _rejects(self) -> pd.DataFrame:
        parts = [_reject_frame(table) for table in self.tables.values() if table.rejects]
        if not parts:
            return empty_rejects()
        return pd.concat(parts, ignore_index=True)

    def _summarise(
        self, leads: pd.DataFrame, activities: pd.DataFrame, outcomes: pd.DataFrame, rejects: pd.DataFrame
    ) -> None:
        report = self.report
        report.rows_kept = {"leads": len(leads), "activities": len(activities), "outcomes": len(outcomes)}
        report.rows_kept = {k: v for k, v in report.rows_kept.items() if k in self.tables}
        report.n_sql = int(outcomes["sql_at"].notna().sum()) if len(outcomes) else 0
        report.n_disqualified = int(outcomes["disqualified_at"].notna().sum()) if len(outcomes) else 0
        table = self.tables.get("activities")
        if table is not None:
            report.activity_types = dict(_value_counts(table.kept_values("activity_type")))
        report.n_rejects = len(rejects)
        # Errors first, then warnings, each in table order: the order a user fixes them in.
        rank = {name: i for i, name in enumerate(TABLES)}
        report.problems.sort(key=lambda p: (p.severity != "error", rank.get(p.table, len(rank))))


def _plain_json_value(value: Any) -> Any:
    """A value JSON can hold: plain values as they are, bytes decoded, instants and the rest as text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, pd.Timestamp):
        # asm8 is the instant (UTC for an aware value) at the value's unit, whatever its year.
        return str(np.datetime_as_string(value.asm8)) + ("Z" if value.tz is not None else "")
    return str(value)


_JSON_EARLIEST, _JSON_LATEST = np.datetime64("1678-01-01"), np.datetime64("2262-01-01")


def _json_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with values pandas' JSON writer mishandles written as text first: instants
    beyond the years it can convert (it crashes the process on some), and objects that
    are neither text nor numbers (it may fail on bytes or odd instants inside them)."""
    replaced: dict[int, pd.Series] = {}
    for i, dtype in enumerate(frame.dtypes):
        column = frame.iloc[:, i]
        if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M"):
            utc = column.dt.tz_convert("UTC").dt.tz_localize(None) if isinstance(dtype, pd.DatetimeTZDtype) else column
            instants = utc.to_numpy()
            given = ~np.isnat(instants)
            if np.any(given & ((instants < _JSON_EARLIEST) | (instants >= _JSON_LATEST))):
                text = np.char.add(np.datetime_as_string(instants), "Z" if utc is not column else "")
                replaced[i] = pd.Series(np.where(given, text, None), index=frame.index, dtype=object)
        elif dtype == object:
            if pd.api.types.infer_dtype(column, skipna=True) not in _PLAIN_INFERRED:
                replaced[i] = column.map(_plain_json_value)
        elif not _plain_json_dtype(dtype):
            # Arrow dates, structs, lists, categories, durations...: their text, as the reader would write it.
            replaced[i] = _text_for_json(column)
    if not replaced:
        return frame
    out = frame.copy(deep=False)
    for i, values in replaced.items():
        out.isetitem(i, values)
    return out


def _plain_json_dtype(dtype: Any) -> bool:
    if isinstance(dtype, pd.StringDtype):
        return True
    if isinstance(dtype, pd.ArrowDtype):
        kind = dtype.pyarrow_dtype
        return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind) or \
            pa.types.is_floating(kind) or pa.types.is_boolean(kind)
    return isinstance(dtype, np.dtype) and dtype.kind in "biuf"


def _text_for_json(column: pd.Series) -> pd.Series:
    try:
        text = to_text(column)
    except Exception:  # noqa: BLE001 - a value no library can write (e.g. a struct of far dates)
        return pd.Series(f"<{column.dtype} value>", index=column.index, dtype=object).where(column.notna())
    return text.astype(object).where(text.notna(), None)


_PLAIN_INFERRED = frozenset({"string", "empty", "integer", "floating", "boolean", "mixed-integer-float"})


def _later_copies(table: _Table, positions: np.ndarray) -> np.ndarray:
    """Which rows at ``positions`` repeat an earlier one in every column: contract columns
    compared as parsed, other columns as given (values that cannot be hashed, such as
    lists from a Parquet file, by their text).

    Rows are compared through one column's codes at a time, combined into one key per
    row: never a copy of the rows themselves, whatever their number.
    """
    key = np.zeros(len(positions), dtype=np.int64)
    columns = [table.values[c] for c in table.columns] + [a for c, a in table.arrays.items() if c not in table.values]
    for values in columns:
        codes = _codes_at(values, positions)
        key *= int(codes.max(initial=-1)) + 2
        key += codes + 1
        del codes
        # Back to 0..k-1, so that the next column never overflows it (sorting holds less than hashing).
        key = np.unique(key, return_inverse=True)[1].astype(np.int64, copy=False)
    later = np.ones(len(key), dtype=bool)
    later[np.unique(key, return_index=True)[1]] = False  # the first row with each key is not a copy
    return later


def _codes_at(values: Any, positions: np.ndarray) -> np.ndarray:
    """:func:`_codes` of a column's values at ``positions`` (sorted)."""
    array = values.array if isinstance(values, pd.Series) else values
    if isinstance(array, pd.arrays.ArrowExtensionArray) and 4 * len(positions) > len(array):
        # Most rows wanted: encoding the whole column costs 4 bytes a row, a copy of their text far more.
        try:
            return _dictionary_codes(array.__arrow_array__(), positions)
        except (pa.ArrowException, NotImplementedError):
            pass  # a type arrow cannot encode (lists, structs): by its text below
    if isinstance(array, np.ndarray):
        return _codes(array[positions])
    return _codes(_take_array(array, positions))


def _dictionary_codes(column: Any, positions: np.ndarray) -> np.ndarray:
    """Codes at ``positions`` of an arrow column, from one dictionary encoding of all of it
    (arrow gives every chunk the same dictionary); missing values are -1."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(column)
    chunks = encoded.chunks
    if any(chunk.dictionary is not chunks[0].dictionary and not chunk.dictionary.equals(chunks[0].dictionary)
           for chunk in chunks[1:]):
        raise NotImplementedError("chunks encoded with different dictionaries")
    codes = np.empty(len(positions), dtype=np.int64)
    bounds = np.cumsum([0, *(len(chunk) for chunk in chunks)])
    cuts = np.searchsorted(positions, bounds)
    for chunk, start, lo, hi in zip(chunks, bounds[:-1], cuts[:-1], cuts[1:], strict=True):
        if hi > lo:
            picked = chunk.indices.take(pa.array(positions[lo:hi] - start))
            codes[lo:hi] = pc.fill_null(picked, -1).to_numpy(zero_copy_only=False)
    return codes


def _codes(values: Any) -> np.ndarray:
    """Codes of a column's values (equal values share one, missing values share -1)."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        values = values.view("int64")  # NaT is one value like any other
    try:
        codes, _ = pd.factorize(values, use_na_sentinel=True)
    except (TypeError, ValueError, NotImplementedError, pa.ArrowException):
        codes, _ = pd.factorize(to_text(pd.Series(values, copy=False)).to_numpy(), use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64)


def _repeated_numbers(values: np.ndarray) -> np.ndarray:
    """True for each value that appears more than once."""
    # One sorted copy finds the repeated values (sorting beats hashing millions of instants);
    # rows are then looked up among those few in pieces, never holding a second full array
    # (an argsort would hold the positions of every row, a hash of all values far more).
    ordered = np.sort(values)
    same = ordered[1:] == ordered[:-1]
    repeated = ordered[1:][same]
    del ordered, same
    out = np.zeros(len(values), dtype=bool)
    if len(repeated) == 0:
        return out
    repeated = repeated[np.concatenate([[True], repeated[1:] != repeated[:-1]])]  # sorted: unique in one pass
    lookup = pd.Index(repeated)
    for start in range(0, len(values), PIECE_ROWS):
        out[start:start + PIECE_ROWS] = lookup.get_indexer(values[start:start + PIECE_ROWS]) >= 0
    return out


def _combine_outcomes(outcomes: pd.DataFrame) -> pd.DataFrame:
    """One row per lead: earliest sql_at, earliest disqualified_at, other columns from the first row."""
    if len(outcomes) < 2 or not outcomes["lead_id"].duplicated().any():
        return outcomes
    earliest = outcomes.groupby("lead_id", sort=False)[["sql_at", "disqualified_at"]].min()
    combined = outcomes.drop_duplicates("lead_id", keep="first").reset_index(drop=True)
    for column in ("sql_at", "disqualified_at"):
        combined[column] = combined["lead_id"].map(earliest[column]).astype(TIMESTAMP_DTYPE)
    return combined


@functools.cache
def _empty_table(name: str) -> pd.DataFrame:
    """The clean form of a table not given: its required and timestamp columns, no rows (copy before use)."""
    frame = pd.DataFrame(index=pd.RangeIndex(0))
    for column in (*REQUIRED_COLUMNS[name], *TIMESTAMP_COLUMNS[name]):
        if column not in frame.columns:
            empty = TIMESTAMP_DTYPE if column in TIMESTAMP_COLUMNS[name] else "str"
            frame[column] = pd.Series(pd.NA if empty == "str" else pd.NaT, index=frame.index, dtype=empty)
    return frame[[c for c in CONTRACT_COLUMNS[name] if c in frame.columns]]


def _structure_problems(name: str, frame: pd.DataFrame) -> list[Problem]:
    problems = []
    if not frame.columns.is_unique:
        for column in frame.columns[frame.columns.duplicated()].unique():
            problems.append(Problem("error", name, column, f"column {column!r} appears more than once"))
    for column in REQUIRED_COLUMNS[name]:
        if column not in frame.columns:
            message = f"required column {column!r} is missing{_column_hint(column, frame.columns)}"
            problems.append(Problem("error", name, column, message, len(frame)))
    return problems


def _column_hint(column: str, found: pd.Index) -> str:
    near = [c for c in found if c.strip().lower().replace(" ", "_") == column]
    if near:
        return f" (found {near[0]!r}: column names are exact and lower case)"
    listed = ", ".join(repr(c) for c in list(found)[:12])
    more = ", ..." if len(found) > 12 else ""
    return f" (columns found: {listed}{more})"


def _reject_frame(table: _Table) -> pd.DataFrame:
    """One reject per source row; several reasons for one row are joined."""
    entries = pd.concat(table.rejects, ignore_index=True)
    if entries["pos"].duplicated().any():
        # Join only rows with several reasons: a Python-level agg over every row would be slow.
        entries = entries.groupby("pos", sort=True).agg(
            column=("column", _join_unique), reason=("reason", _join_unique)
        )
        entries = entries.reset_index()
    else:
        entries = entries.sort_values("pos", kind="stable")
    positions = entries["pos"].to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "table": pd.Series(table.name, index=range(len(positions)), dtype="str"),
            "row": np.asarray(table.rows[positions], dtype=np.int64),
            "lead_id": pd.Series(_str_array(_take(table.ids, positions)), dtype="str"),
            "column": pd.Series(entries["column"].to_numpy(), dtype="str"),
            "reason": pd.Series(entries["reason"].to_numpy(), dtype="str"),
            "record": pd.Series(_records_json(table.raw.iloc[positions]), dtype="str"),
        }
    )


def _join_unique(values: pd.Series) -> str | None:
    seen = [str(v) for v in dict.fromkeys(values) if v is not None and not pd.isna(v)]
    return "; ".join(seen) if seen else None


def _records_json(frame: pd.DataFrame) -> list[str]:
    if frame.empty:
        return []
    frame = _json_ready(frame)
    try:
        text = frame.to_json(orient="records", lines=True, date_format="iso", force_ascii=False)
    except (TypeError, ValueError, OverflowError):  # UnicodeDecodeError is a ValueError
        # A value JSON cannot hold as it is (bytes that are not UTF-8, an odd object): write it as text.
        safe = frame.astype(object).map(_plain_json_value)
        text = safe.to_json(orient="records", lines=True, date_format="iso", force_ascii=False)
    # JSON escapes newlines inside strings, so a literal newline only ends a record.
    return text.rstrip("\n").split("\n")
