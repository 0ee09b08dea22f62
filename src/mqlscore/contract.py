"""The input data contract: tables, columns, types and the meaning of time.

See ``docs/contract.md`` for the contract in words. This module loads a folder
exported from a CRM, normalises timestamps to UTC, validates it and reports
every problem with its table, column and offending rows.

Public entry points: :func:`load_folder` (= :func:`read_tables` +
:func:`validate_tables`), :func:`write_tables`, :func:`write_rejects` and
:func:`parse_as_of`; problems surface as :class:`ContractError` carrying a
:class:`ValidationReport`.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from rich.console import Group

TABLES = ("leads", "activities", "outcomes")

CANONICAL_ACTIVITY_TYPES = (
    "page_view",
    "content_download",
    "webinar_registered",
    "webinar_attended",
    "demo_request",
    "contact_sales",
    "email_open",
    "email_click",
    "event_booth_scan",
    "baa_request",
    "security_review",
    "sandbox_signup",
    "form_submit",
    "chat_started",
    "unsubscribe",
)

ORG_TYPES = (
    "health_system",
    "hospital",
    "physician_group",
    "payer",
    "employer",
    "digital_health",
    "life_sciences",
    "government",
    "other",
)

EHR_VENDORS = ("epic", "oracle_health", "athenahealth", "meditech", "other", "none")

LEAD_SOURCES = (
    "organic_search",
    "paid_search",
    "conference",
    "webinar",
    "content_syndication",
    "referral",
    "partner",
    "list_import",
    "direct",
)

# Columns holding personal data: never a model input, never logged, never
# written to experiment tracking or shown in an error message.
PERSONAL_COLUMNS = frozenset(
    {"email", "first_name", "last_name", "name", "full_name", "phone", "mobile", "job_title"}
)

# ---------------------------------------------------------------------------
# Columns of the contract
# ---------------------------------------------------------------------------

LEAD_COLUMNS = (
    "lead_id",
    "created_at",
    "account_id",
    "company_name",
    "email",
    "job_title",
    "org_type",
    "employee_count",
    "bed_count",
    "covered_lives",
    "country",
    "state",
    "ehr_vendor",
    "lead_source",
)
ACTIVITY_COLUMNS = ("lead_id", "occurred_at", "activity_type", "detail")
OUTCOME_COLUMNS = ("lead_id", "sql_at", "disqualified_at")
CONTRACT_COLUMNS: dict[str, tuple[str, ...]] = {
    "leads": LEAD_COLUMNS,
    "activities": ACTIVITY_COLUMNS,
    "outcomes": OUTCOME_COLUMNS,
}
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "leads": ("lead_id", "created_at"),
    "activities": ("lead_id", "occurred_at", "activity_type"),
    "outcomes": ("lead_id",),
}
TIMESTAMP_COLUMNS: dict[str, tuple[str, ...]] = {
    "leads": ("created_at",),
    "activities": ("occurred_at",),
    "outcomes": ("sql_at", "disqualified_at"),
}
COUNT_COLUMNS = ("employee_count", "bed_count", "covered_lives")
CATEGORICAL_VALUES: dict[str, tuple[str, ...]] = {
    "org_type": ORG_TYPES,
    "ehr_vendor": EHR_VENDORS,
    "lead_source": LEAD_SOURCES,
}
# Codes compare case-insensitively in CRMs; one spelling keeps categories from splitting.
_LOWER_CASE_COLUMNS = frozenset({"org_type", "ehr_vendor", "lead_source", "activity_type"})
_UPPER_CASE_COLUMNS = frozenset({"country", "state"})

TIMESTAMP_DTYPE = "datetime64[us, UTC]"
REJECT_COLUMNS = ("table", "row", "lead_id", "column", "reason", "record")
MAX_EXAMPLES = 5

Severity = Literal["error", "warning"]


# ---------------------------------------------------------------------------
# Problems and the report
# ---------------------------------------------------------------------------


class Example(TypedDict, total=False):
    """One offending row: source row number, lead and (never for personal columns) value."""

    row: int
    lead_id: str | None
    value: str


@dataclass
class Problem:
    """One problem found in the input, with where it is and how often.

    ``message`` is a complete phrase ("3 rows with an unparsable timestamp");
    ``count`` is the number of offending rows (0 for table-level problems);
    ``examples`` are the first offending rows in source order.
    """

    severity: Severity
    table: str
    column: str | None
    message: str
    count: int = 0
    examples: list[Example] = field(default_factory=list)

    @property
    def location(self) -> str:
        """``table.column``, or just ``table`` for a table-level problem."""
        return f"{self.table}.{self.column}" if self.column else self.table

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        if self.examples:
            shown = ", ".join(_format_example(example) for example in self.examples)
            if self.count > len(self.examples):
                text += f" (first: {shown}, ...)"
            else:
                text += f" ({shown})"
        return text


def _format_example(example: Example) -> str:
    parts = []
    if example.get("row") is not None:
        parts.append(f"row {example['row']}")
    if example.get("lead_id") is not None:
        parts.append(f"lead_id={example['lead_id']}")
    if "value" in example:
        parts.append(f"value={example['value']!r}")
    return " ".join(parts)


@dataclass
class ValidationReport:
    """Everything learned while validating a folder: problems and summary facts.

    Counts in ``rows_read`` are rows as given; ``rows_kept`` are rows in the
    clean tables (outcomes: one row per lead). ``as_of`` is UTC; SQL and
    disqualification counts are those at or before it.
    """

    problems: list[Problem] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    rows_read: dict[str, int] = field(default_factory=dict)
    rows_kept: dict[str, int] = field(default_factory=dict)
    time_min: pd.Timestamp | None = None
    time_max: pd.Timestamp | None = None
    as_of: pd.Timestamp | None = None
    as_of_given: bool = False
    n_sql: int = 0
    n_disqualified: int = 0
    activity_types: dict[str, int] = field(default_factory=dict)
    n_duplicate_activities: int = 0
    n_rejects: int = 0
    lenient: bool = False

    @property
    def errors(self) -> list[Problem]:
        """Problems that stop a run (or, in lenient mode, whose rows were set aside)."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """Problems that never stop a run."""
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when no error was found."""
        return not self.errors

    @property
    def canonical_activity_types(self) -> dict[str, int]:
        """Kept activity rows per canonical type."""
        return {k: v for k, v in self.activity_types.items() if k in CANONICAL_ACTIVITY_TYPES}

    @property
    def other_activity_types(self) -> dict[str, int]:
        """Kept activity rows per type outside the canonical list."""
        return {k: v for k, v in self.activity_types.items() if k not in CANONICAL_ACTIVITY_TYPES}

    def error_text(self) -> str:
        """The errors as readable lines, one per problem."""
        errors = self.errors
        if not errors:
            return "The input meets the data contract."
        head = f"The input does not meet the data contract: {_plural(len(errors), 'error')}."
        return "\n".join([head, *(f"  - {p}" for p in errors)])

    def facts(self) -> list[tuple[str, str]]:
        """The summary facts as (label, text) pairs, in display order."""
        facts = [("time range", _range_text(self.time_min, self.time_max))]
        if self.as_of is not None:
            how = "given" if self.as_of_given else "latest timestamp in the data"
            facts.append(("as-of", f"{_iso(self.as_of)} ({how})"))
        facts.append(("SQLs", f"{self.n_sql:,} at or before the as-of time"))
        facts.append(("disqualified", f"{self.n_disqualified:,} at or before the as-of time"))
        facts.append(
            ("duplicate activities", f"{_plural(self.n_duplicate_activities, 'exact duplicate row')} counted once")
        )
        if self.lenient:
            facts.append(("rejects", f"{self.n_rejects:,} rows set aside"))
        return facts

    def to_text(self) -> str:
        """The whole report as plain text (no personal data, by construction)."""
        lines = ["Tables:"]
        for table in self.rows_read:
            kept = self.rows_kept.get(table)
            kept_text = f", kept {kept:,}" if kept is not None else ""
            source = self.sources.get(table, "")
            lines.append(f"  {table:<11} {source}  read {self.rows_read[table]:,}{kept_text}")
        lines += [f"{label}: {text}" for label, text in self.facts()]
        if self.activity_types:
            types = ", ".join(f"{k} {v:,}" for k, v in self.activity_types.items())
            lines.append(f"activity types: {types}")
        for title, problems in (("Warnings", self.warnings), (self._errors_title(), self.errors)):
            if problems:
                lines.append(f"{title} ({len(problems)}):")
                lines += [f"  - {p}" for p in problems]
        return "\n".join(lines)

    def render(self, *, max_types: int = 20, problems: bool = True) -> Group:
        """The report as rich renderables for the command line.

        With ``problems=False`` only the summary is rendered, so that a caller
        can print problems unwrapped (one greppable line each).
        """
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        tables = Table(title="Tables", title_justify="left", show_edge=False)
        # When the run stops, nothing is kept: show what lenient mode would keep.
        kept_title = "rows kept" if self.ok or self.lenient else "rows usable"
        for name in ("table", "source", "rows read", kept_title):
            tables.add_column(name, justify="right" if name.startswith("rows") else "left")
        for table, read in self.rows_read.items():
            kept = self.rows_kept.get(table)
            kept_text = "" if kept is None else f"{kept:,}"
            source = Path(self.sources[table]).name if table in self.sources else ""
            tables.add_row(Text(table), Text(source), f"{read:,}", kept_text)

        facts = Table(show_header=False, show_edge=False, box=None)
        facts.add_column(style="bold")
        facts.add_column()
        for label, text in self.facts():
            facts.add_row(label, Text(text))

        parts: list[Any] = [tables, Text(""), facts]
        if self.activity_types:
            parts += [Text(""), self._activity_table(max_types)]
        if problems:
            parts += self.render_problems()
        return Group(*parts)

    def render_problems(self) -> list[Any]:
        """Warnings then errors as rich Text lines, with a heading each."""
        from rich.text import Text

        parts: list[Any] = []
        titled = (("Warnings", self.warnings, "yellow"), (self._errors_title(), self.errors, "red"))
        for title, found, style in titled:
            if found:
                parts.append(Text(f"\n{title} ({len(found)})", style=f"bold {style}"))
                parts += [Text(f"  - {p}", style=style) for p in found]
        return parts

    def _errors_title(self) -> str:
        return "Errors, rows set aside in the rejects" if self.lenient else "Errors"

    def _activity_table(self, max_types: int) -> Any:
        from rich.table import Table
        from rich.text import Text

        table = Table(title="Activity types", title_justify="left", show_edge=False)
        table.add_column("activity_type")
        table.add_column("rows", justify="right")
        table.add_column("kind")
        items = list(self.activity_types.items())
        for name, count in items[:max_types]:
            kind = "canonical" if name in CANONICAL_ACTIVITY_TYPES else "other"
            table.add_row(Text(name), f"{count:,}", kind)
        if len(items) > max_types:
            rest = sum(count for _, count in items[max_types:])
            table.add_row(f"... {len(items) - max_types} more", f"{rest:,}", "")
        return table


class ContractError(Exception):
    """The input breaks the data contract; ``report`` holds every problem found."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        super().__init__(report.error_text())

    def __str__(self) -> str:
        return self.report.error_text()

    @classmethod
    def single(cls, table: str, message: str, column: str | None = None) -> ContractError:
        """An error about a whole table or file (missing, unreadable, empty)."""
        return cls(ValidationReport(problems=[Problem("error", table, column, message)]))


@dataclass
class Dataset:
    """A validated folder: clean tables, the as-of time, the report and the rejects.

    Timestamps are ``datetime64[us, UTC]``; ids and text are ``str``; counts
    are float64 (NaN when missing). ``outcomes`` holds at most one row per lead
    and only facts at or before ``as_of``.
    """

    leads: pd.DataFrame
    activities: pd.DataFrame
    outcomes: pd.DataFrame
    as_of: pd.Timestamp
    report: ValidationReport
    rejects: pd.DataFrame


# ---------------------------------------------------------------------------
# Small helpers for text and time
# ---------------------------------------------------------------------------


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _rows(n: int) -> str:
    return _plural(n, "row")


def _iso(ts: pd.Timestamp | None) -> str:
    if ts is None or pd.isna(ts):
        return "-"
    text = ts.tz_convert("UTC").isoformat()
    return text.replace("+00:00", "Z")


def _range_text(first: pd.Timestamp | None, last: pd.Timestamp | None) -> str:
    if first is None or last is None:
        return "no timestamps"
    return f"{_iso(first)} to {_iso(last)}"


_EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+")


def _safe_value(value: object) -> str:
    """A value fit for a message: short, and never something that looks like an email."""
    text = str(value)
    # A shifted CSV can put personal data into any column; emails are the usual leak.
    if _EMAIL_LIKE.search(text):
        return "<redacted: looks like an email>"
    return text if len(text) <= 60 else text[:57] + "..."


def _as_text(values: pd.Series) -> pd.Series:
    """Values as stripped text, with empty and whitespace-only values missing."""
    if pd.api.types.is_float_dtype(values):
        finite = values.dropna()
        if len(finite) and np.all(np.isfinite(finite)) and np.all(finite == np.round(finite)):
            values = values.astype("Int64")  # ids stored as floats by a spreadsheet: 7.0 means "7"
    text = values.astype("str").str.strip()
    return text.mask(text == "")


def _isin(values: pd.Series, allowed: Any) -> np.ndarray:
    """Membership as a bool array; missing values are never members.

    pandas' ``isin`` on arrow-backed text builds a Python object per allowed
    value (about 0.6 s for 2M rows against 100k ids); pyarrow's takes 0.07 s.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    haystack = pa.array(pd.Series(allowed, dtype="str").dropna().unique()).cast(pa.large_string())
    needles = pa.array(values.astype("str")).cast(pa.large_string())
    found = pc.fill_null(pc.is_in(needles, value_set=haystack), False)
    return found.to_numpy(zero_copy_only=False)


def _parse_timestamps(values: pd.Series, text: pd.Series) -> pd.Series:
    """ISO-8601 to UTC: offsets are converted, values without one are read as UTC."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
    else:
        # One call handles mixed offsets and naive values per element (checked on pandas 3.1).
        parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    return parsed.astype(TIMESTAMP_DTYPE)


def _parse_counts(values: pd.Series, text: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    return pd.to_numeric(text, errors="coerce").astype("float64")


def _to_utc(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.as_unit("us")


def parse_as_of(value: str | None) -> pd.Timestamp | None:
    """Parse an as-of time given by a user: ISO-8601, offset converted, no offset = UTC.

    Returns None for None. Raises ValueError with a readable message otherwise.
    """
    if value is None:
        return None
    text = str(value).strip()
    try:
        parsed = pd.to_datetime(text, utc=True, format="ISO8601")
    except (ValueError, TypeError, OverflowError):
        parsed = pd.NaT
    if pd.isna(parsed):
        raise ValueError(f"as-of time {text!r} is not an ISO-8601 timestamp (e.g. 2018-06-01 or 2018-06-01T12:00:00Z)")
    return parsed.as_unit("us")


def _coerce_as_of(value: str | pd.Timestamp | Any | None) -> pd.Timestamp | None:
    if value is None:
        return None
    if isinstance(value, str):
        return parse_as_of(value)
    return _to_utc(value)


# ---------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------


def read_tables(folder: Path | str) -> dict[str, pd.DataFrame]:
    """Read ``leads``, ``activities`` and ``outcomes`` (CSV or Parquet) from a folder.

    CSV is read as text (nothing is coerced before validation); every frame's
    index, named ``row``, is the source row number (CSV: line in the file, the
    header being line 1; Parquet: 1-based row). Files other than the three
    tables are ignored. Raises ContractError naming the folder or file.
    """
    folder = Path(folder)
    if not folder.exists():
        raise ContractError.single("folder", f"{folder} does not exist")
    if not folder.is_dir():
        raise ContractError.single("folder", f"{folder} is not a folder")
    try:
        names = sorted(p.name for p in folder.iterdir() if p.is_file())
    except OSError as exc:
        raise ContractError.single("folder", f"cannot list {folder}: {exc.strerror or exc}") from None
    tables: dict[str, pd.DataFrame] = {}
    problems: list[Problem] = []
    for table in TABLES:
        try:
            path = _table_file(folder, names, table)
            if path is not None:
                tables[table] = read_table_file(path, label=table)
        except ContractError as exc:
            problems.extend(exc.report.problems)
    if problems:
        raise ContractError(ValidationReport(problems=problems))
    return tables


def _table_file(folder: Path, names: list[str], table: str) -> Path | None:
    expected = {f"{table}.csv", f"{table}.parquet"}
    found = [name for name in names if name in expected]
    if len(found) > 1:
        raise ContractError.single(table, f"both {table}.csv and {table}.parquet in {folder}: keep one")
    if found:
        return folder / found[0]
    near = [name for name in names if name.lower() in expected]
    if near:
        raise ContractError.single(
            table, f"found {near[0]} in {folder}: table file names are exact and lower case ({table}.csv)"
        )
    if table == "leads":
        raise ContractError.single("leads", f"no leads table in {folder}: expected leads.csv or leads.parquet")
    return None


def read_table_file(
    path: Path | str,
    *,
    label: str | None = None,
    fmt: Literal["csv", "parquet"] | None = None,
    delimiter: str = ",",
    encoding: str = "utf-8-sig",
) -> pd.DataFrame:
    """Read one CSV (as text) or Parquet file; the index ``row`` is the source row number.

    ``label`` names the table in error messages (default: the file name).
    Raises ContractError naming the file when it cannot be read.
    """
    path = Path(path)
    label = label or path.name
    fmt = fmt or ("parquet" if path.suffix.lower() == ".parquet" else "csv")
    frame = _read_parquet(path, label) if fmt == "parquet" else _read_csv(path, label, delimiter, encoding)
    frame.columns = [str(c) for c in frame.columns]
    frame.attrs["source"] = str(path)
    return frame


def _read_csv(path: Path, label: str, delimiter: str, encoding: str) -> pd.DataFrame:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ContractError.single(label, f"unknown text encoding {encoding!r} for {path}") from None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ContractError.single(label, f"cannot read {path}: {exc.strerror or exc}") from None
    if not data.strip():
        raise ContractError.single(label, f"{path} is empty: expected a header row")
    try:
        # The pyarrow engine is ~4x faster than the C engine and, unlike it, refuses
        # rows with extra fields instead of silently shifting columns into the index.
        frame = pd.read_csv(
            io.BytesIO(data),
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            sep=delimiter,
            encoding=encoding,
            engine="pyarrow",
        )
    except UnicodeDecodeError as exc:
        raise ContractError.single(
            label, f"{path} is not valid {encoding} text (undecodable byte at offset {exc.start}); save it as UTF-8"
        ) from None
    except (ValueError, OSError, LookupError):
        # Parser messages quote the offending row, which may hold personal data: describe it instead.
        raise ContractError.single(
            label, f"{path} could not be read as CSV: {_describe_csv_problem(data, encoding, delimiter)}"
        ) from None
    frame.index = pd.Index(_csv_line_numbers(data, len(frame), encoding, delimiter), name="row")
    return frame


def _read_parquet(path: Path, label: str) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a corrupt file; all mean the same here
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ContractError.single(label, f"{path} could not be read as Parquet: {reason}") from None
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()  # a stored index (e.g. lead_id) is data, not a position
    frame.index = pd.Index(np.arange(1, len(frame) + 1), name="row")
    return frame


def _csv_records(data: bytes, encoding: str, delimiter: str) -> list[tuple[int, int]]:
    """(first line, field count) of each non-blank CSV record, header included."""
    reader = csv.reader(io.StringIO(data.decode(encoding, errors="replace"), newline=""), delimiter=delimiter)
    records, previous_end = [], 0
    for record in reader:
        if record:
            records.append((previous_end + 1, len(record)))
        previous_end = reader.line_num
    return records


def _csv_line_numbers(data: bytes, n_records: int, encoding: str, delimiter: str) -> np.ndarray:
    """Line number of each data record; exact even with quoted newlines or blank lines."""
    n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if n_lines == n_records + 1:
        return np.arange(2, n_records + 2)
    # Slow path, only for files with multi-line values, blank lines or bare CR endings.
    try:
        starts = [line for line, _ in _csv_records(data, encoding, delimiter)[1:]]
    except csv.Error:
        starts = []
    if len(starts) == n_records:
        return np.asarray(starts, dtype=np.int64)
    return np.arange(2, n_records + 2)


def _describe_csv_problem(data: bytes, encoding: str, delimiter: str) -> str:
    try:
        records = _csv_records(data, encoding, delimiter)
    except csv.Error as exc:
        return f"malformed CSV ({exc})"
    if records:
        width = records[0][1]
        for line, count in records[1:]:
            if count != width:
                return (
                    f"line {line} has {count} fields where the header has {width} "
                    f"(check the delimiter {delimiter!r} and the quoting)"
                )
    return "the file is not well-formed CSV (check the delimiter, the quoting and the encoding)"


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------

# pandera check name -> (phrase for the message, short reason for a reject)
_CHECK_REASONS: dict[str, tuple[str, str]] = {
    "not_nullable": ("an empty required value", "empty required value"),
    "timestamp": ("an unparsable timestamp", "unparsable timestamp"),
    "duplicate_lead_id": ("a duplicate lead_id (all rows sharing an id are listed)", "duplicate lead_id"),
    "whole_number": ("a count that is not a whole number", "count is not a whole number"),
    "non_negative": ("a negative count", "negative count"),
}


def validate_tables(
    tables: Mapping[str, pd.DataFrame],
    *,
    as_of: str | pd.Timestamp | None = None,
    lenient: bool = False,
) -> Dataset:
    """Parse and validate the three tables against the contract.

    ``tables`` maps table names to frames as read (text or native types). The
    index is used as source row number when named ``row`` (as
    :func:`read_tables` sets it), else rows are numbered 1, 2, ...
    ``as_of`` defaults to the latest timestamp in the data.

    Raises ContractError on any error unless ``lenient``; in lenient mode rows
    with errors go to ``Dataset.rejects`` with their reason and validation goes
    on. Structural errors (missing leads or required column, no leads left) are
    raised in both modes.
    """
    given = _coerce_as_of(as_of)
    return _Validation(tables, lenient=lenient).run(given)


def load_folder(
    folder: Path | str,
    *,
    as_of: str | pd.Timestamp | None = None,
    lenient: bool = False,
) -> Dataset:
    """Read and validate a folder: :func:`read_tables` then :func:`validate_tables`."""
    return validate_tables(read_tables(folder), as_of=as_of, lenient=lenient)


@dataclass
class _Table:
    """One table during validation, addressed by position (0..n-1)."""

    name: str
    raw: pd.DataFrame  # as given, positional index; the source of reject records
    rows: np.ndarray  # source row number per position
    text: pd.DataFrame  # contract columns as stripped text (what the user wrote)
    values: pd.DataFrame  # contract columns parsed
    keep: np.ndarray
    rejects: list[pd.DataFrame] = field(default_factory=list)

    @property
    def ids(self) -> pd.Series:
        return self.text["lead_id"]

    def kept_positions(self) -> np.ndarray:
        return np.flatnonzero(self.keep)

    def clean(self) -> pd.DataFrame:
        """Contract columns (parsed, in contract order) then extra columns as given."""
        extras = [c for c in self.raw.columns if c not in self.values.columns]
        frame = pd.concat([self.values, self.raw[extras]], axis=1)
        return frame.iloc[self.kept_positions()].reset_index(drop=True)


def _source_rows(frame: pd.DataFrame) -> np.ndarray:
    index = frame.index
    if index.name == "row" and pd.api.types.is_integer_dtype(index) and index.is_unique:
        return index.to_numpy(dtype=np.int64)
    return np.arange(1, len(frame) + 1)


def _prepare(name: str, frame: pd.DataFrame) -> _Table:
    raw = frame.reset_index(drop=True)
    present = [c for c in CONTRACT_COLUMNS[name] if c in raw.columns]
    text = pd.DataFrame({c: _as_text(raw[c]) for c in present}, index=raw.index)
    values = {}
    for column in present:
        if column in TIMESTAMP_COLUMNS[name]:
            values[column] = _parse_timestamps(raw[column], text[column])
        elif name == "leads" and column in COUNT_COLUMNS:
            values[column] = _parse_counts(raw[column], text[column])
        elif column in _LOWER_CASE_COLUMNS:
            values[column] = text[column].str.lower()
        elif column in _UPPER_CASE_COLUMNS:
            values[column] = text[column].str.upper()
        else:
            values[column] = text[column]
    return _Table(
        name=name,
        raw=raw,
        rows=_source_rows(frame),
        text=text,
        values=pd.DataFrame(values, index=raw.index),
        keep=np.ones(len(raw), dtype=bool),
    )


def _column_schema(table: _Table) -> Any:
    """The pandera schema for one table's text, with checks closed over its parsed values."""
    import pandera.pandas as pa

    required = REQUIRED_COLUMNS[table.name]
    columns = {}
    for column in table.text.columns:
        checks = []
        parsed = table.values[column]
        if column in TIMESTAMP_COLUMNS[table.name]:
            checks.append(pa.Check(_parsed_where_given(parsed), ignore_na=False, name="timestamp"))
        if table.name == "leads" and column in COUNT_COLUMNS:
            checks.append(pa.Check(_whole_where_given(parsed), ignore_na=False, name="whole_number"))
            checks.append(pa.Check(_not_negative(parsed), ignore_na=False, name="non_negative"))
        if table.name == "leads" and column == "lead_id":
            checks.append(pa.Check(lambda s: ~s.duplicated(keep=False), name="duplicate_lead_id"))
        columns[column] = pa.Column(nullable=column not in required, checks=checks, required=False)
    return pa.DataFrameSchema(columns, strict=False, coerce=False)


def _parsed_where_given(parsed: pd.Series) -> Any:
    return lambda text: text.isna() | parsed.notna()


def _whole_where_given(parsed: pd.Series) -> Any:
    return lambda text: text.isna() | (np.isfinite(parsed) & (parsed == np.round(parsed)))


def _not_negative(parsed: pd.Series) -> Any:
    # Only whole numbers are judged here, so "-1.5" is reported once, as not whole.
    return lambda text: ~((parsed < 0) & (parsed == np.round(parsed)))


class _Validation:
    """One validation run; see :func:`validate_tables` for the rules."""

    def __init__(self, tables: Mapping[str, pd.DataFrame], *, lenient: bool) -> None:
        self.lenient = lenient
        self.report = ValidationReport(lenient=lenient)
        frames = self._check_structure(tables)
        self.tables = {name: _prepare(name, frame) for name, frame in frames.items()}

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

    # -- per-table column checks (pandera) --------------------------------

    def _check_columns(self, table: _Table) -> None:
        import pandera.pandas as pa

        try:
            _column_schema(table).validate(table.text, lazy=True, inplace=True)
        except pa.errors.SchemaErrors as exc:
            self._record_failures(table, exc.failure_cases)

    def _record_failures(self, table: _Table, failures: pd.DataFrame) -> None:
        failures = failures[failures["index"].notna() & failures["column"].notna()]
        order = {c: i for i, c in enumerate(table.text.columns)}
        keys = failures[["column", "check"]].drop_duplicates()
        keys = keys.assign(_order=keys["column"].map(order)).sort_values("_order", kind="stable")
        for column, check in keys[["column", "check"]].itertuples(index=False):
            hit = failures[(failures["column"] == column) & (failures["check"] == check)]
            positions = np.unique(pd.to_numeric(hit["index"]).to_numpy(dtype=np.int64))
            phrase, reason = _CHECK_REASONS.get(check, (f"a failed check {check!r}", f"failed check {check}"))
            self._error(table, column, positions, phrase, reason)

    def _error(
        self, table: _Table, column: str | None, positions: np.ndarray, phrase: str, reason: str | pd.Series
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
        self, table: _Table, positions: np.ndarray, column: str | None, reason: str | pd.Series, *, reject: bool
    ) -> None:
        table.keep[positions] = False
        if reject:
            reasons = reason.to_numpy() if isinstance(reason, pd.Series) else reason
            table.rejects.append(pd.DataFrame({"pos": positions, "column": column, "reason": reasons}))

    def _examples(self, table: _Table, positions: np.ndarray, column: str | None) -> list[Example]:
        first = positions[np.argsort(table.rows[positions], kind="stable")[:MAX_EXAMPLES]]
        show_value = (
            column is not None and column != "lead_id" and column in table.text and column not in PERSONAL_COLUMNS
        )
        examples: list[Example] = []
        for position in first:
            example: Example = {"row": int(table.rows[position])}
            lead_id = table.ids.iat[position] if "lead_id" in table.text else None
            example["lead_id"] = None if pd.isna(lead_id) else str(lead_id)
            if show_value:
                value = table.text[column].iat[position]
                if not pd.isna(value):
                    example["value"] = _safe_value(value)
            examples.append(example)
        return examples

    # -- across tables ---------------------------------------------------

    def _kept_lead_created(self) -> pd.Series:
        leads = self.tables["leads"]
        kept = leads.kept_positions()
        created = pd.Series(leads.values["created_at"].to_numpy()[kept], index=leads.ids.to_numpy()[kept])
        return created[~created.index.duplicated()]

    def _check_outcome_times(self) -> None:
        outcomes = self.tables.get("outcomes")
        if outcomes is None:
            return
        created = outcomes.ids.map(self._kept_lead_created())
        for column in ("sql_at", "disqualified_at"):
            if column not in outcomes.values:
                continue
            before = outcomes.keep & (outcomes.values[column] < created).fillna(False).to_numpy(dtype=bool)
            positions = np.flatnonzero(before)
            reasons = f"{column} before the lead's created_at (" + format_iso_utc(created.iloc[positions]) + ")"
            self._error(outcomes, column, positions, f"{column} before the lead's created_at", reasons)

    def _set_aside_leads_of_rejected_outcomes(self) -> None:
        """A lead whose outcome row was rejected would look open: set it aside too."""
        outcomes, leads = self.tables.get("outcomes"), self.tables["leads"]
        if outcomes is None:
            return
        rejected = ~outcomes.keep & outcomes.ids.notna().to_numpy()
        first_row = pd.Series(outcomes.rows[rejected], index=outcomes.ids.to_numpy()[rejected]).groupby(level=0).min()
        hit = leads.keep & _isin(leads.ids, first_row.index)
        positions = np.flatnonzero(hit)
        if len(positions) == 0:
            return
        reasons = "its outcomes row " + leads.ids.iloc[positions].map(first_row).astype(str) + " was rejected"
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
        kept_ids = leads.ids[leads.keep]
        for name in ("activities", "outcomes"):
            table = self.tables.get(name)
            if table is None:
                continue
            candidates = table.keep & table.ids.notna().to_numpy()
            known = _isin(table.ids, kept_ids)
            listed = _isin(table.ids, every_id)
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
                    kept = table.values[column].iloc[table.kept_positions()]
                    stamps += [kept.min(), kept.max()]
        stamps = [s for s in stamps if not pd.isna(s)]
        self.report.time_min = min(stamps) if stamps else None
        self.report.time_max = max(stamps) if stamps else None
        self.report.as_of_given = given is not None
        self.report.as_of = given if given is not None else self.report.time_max
        return self.report.as_of

    def _remove_after_as_of(self, as_of: pd.Timestamp) -> None:
        self._remove_leads_after(as_of)
        activities = self.tables.get("activities")
        if activities is not None:
            late = np.flatnonzero(activities.keep & (activities.values["occurred_at"] > as_of).to_numpy())
            if len(late):
                self._warn(activities, "occurred_at", late, f"{_rows(len(late))} after the as-of time ignored")
                self._set_aside(activities, late, "occurred_at", "after the as-of time", reject=False)
        outcomes = self.tables.get("outcomes")
        if outcomes is not None:
            for column in ("sql_at", "disqualified_at"):
                if column not in outcomes.values:
                    continue
                late = np.flatnonzero(outcomes.keep & (outcomes.values[column] > as_of).to_numpy())
                if len(late):
                    self._warn(
                        outcomes,
                        column,
                        late,
                        f"{_rows(len(late))} with {column} after the as-of time: treated as not happened yet",
                    )
                    outcomes.values.loc[outcomes.values.index[late], column] = pd.NaT

    def _remove_leads_after(self, as_of: pd.Timestamp) -> None:
        leads = self.tables["leads"]
        late = np.flatnonzero(leads.keep & (leads.values["created_at"] > as_of).to_numpy())
        if len(late) == 0:
            return
        late_ids = leads.ids.iloc[late]
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
        kept = activities.kept_positions()
        # Compare parsed values: the same instant written twice in two offsets is one event.
        duplicated = _later_duplicates(activities.clean())
        positions = kept[duplicated]
        self.report.n_duplicate_activities = len(positions)
        if len(positions):
            self._warn(activities, None, positions, f"{_plural(len(positions), 'exact duplicate row')} counted once")
            self._set_aside(activities, positions, None, "exact duplicate", reject=False)

    def _warn_several_outcomes(self) -> None:
        outcomes = self.tables.get("outcomes")
        if outcomes is None:
            return
        kept = outcomes.kept_positions()
        several = kept[outcomes.ids.iloc[kept].duplicated(keep=False).to_numpy()]
        if len(several):
            n_leads = outcomes.ids.iloc[several].nunique()
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
        unknown = np.flatnonzero(table.keep & values.notna().to_numpy() & ~_isin(values, known))
        if len(unknown) == 0:
            return
        counts = values.iloc[unknown].value_counts()
        shown = ", ".join(f"{_safe_value(v)!r} {n:,}" for v, n in counts.head(10).items())
        more = f", and {len(counts) - 10} more" if len(counts) > 10 else ""
        self._warn(table, column, unknown, f"{_rows(len(unknown))} with {phrase}: {shown}{more}")

    def _warn_both_outcomes(self, outcomes: pd.DataFrame) -> None:
        both = outcomes["sql_at"].notna() & outcomes["disqualified_at"].notna()
        if not both.any():
            return
        table = self.tables["outcomes"]
        kept = table.kept_positions()
        ids = table.ids.iloc[kept]
        positions = kept[_isin(ids, outcomes.loc[both, "lead_id"]) & ~ids.duplicated().to_numpy()]
        self._warn(
            table,
            None,
            positions,
            f"{_plural(int(both.sum()), 'lead')} with both sql_at and disqualified_at (kept as given)",
        )

    def _clean_or_empty(self, name: str) -> pd.DataFrame:
        table = self.tables.get(name)
        frame = table.clean() if table is not None else pd.DataFrame(index=pd.RangeIndex(0))
        for column in (*REQUIRED_COLUMNS[name], *TIMESTAMP_COLUMNS[name]):
            if column not in frame.columns:
                empty = TIMESTAMP_DTYPE if column in TIMESTAMP_COLUMNS[name] else "str"
                frame[column] = pd.Series(pd.NA if empty == "str" else pd.NaT, index=frame.index, dtype=empty)
        contract = [c for c in CONTRACT_COLUMNS[name] if c in frame.columns]
        return frame[contract + [c for c in frame.columns if c not in contract]]

    # -- results ---------------------------------------------------------

    def _rejects(self) -> pd.DataFrame:
        parts = [_reject_frame(table) for table in self.tables.values() if table.rejects]
        if not parts:
            return _empty_rejects()
        return pd.concat(parts, ignore_index=True)

    def _summarise(
        self, leads: pd.DataFrame, activities: pd.DataFrame, outcomes: pd.DataFrame, rejects: pd.DataFrame
    ) -> None:
        report = self.report
        report.rows_kept = {"leads": len(leads), "activities": len(activities), "outcomes": len(outcomes)}
        report.rows_kept = {k: v for k, v in report.rows_kept.items() if k in self.tables}
        report.n_sql = int(outcomes["sql_at"].notna().sum())
        report.n_disqualified = int(outcomes["disqualified_at"].notna().sum())
        report.activity_types = {str(k): int(v) for k, v in activities["activity_type"].value_counts().items()}
        report.n_rejects = len(rejects)
        # Errors first, then warnings, each in table order: the order a user fixes them in.
        rank = {name: i for i, name in enumerate(TABLES)}
        report.problems.sort(key=lambda p: (p.severity != "error", rank.get(p.table, len(rank))))


def _later_duplicates(activities: pd.DataFrame) -> np.ndarray:
    """True for each row equal in every column to an earlier row."""
    # Only rows sharing an instant can be duplicates; hashing int64 instants first
    # spares a full multi-column comparison of millions of rows.
    instants = activities["occurred_at"].astype("int64")
    candidates = instants.duplicated(keep=False).to_numpy()
    later = np.zeros(len(activities), dtype=bool)
    if candidates.any():
        later[candidates] = activities[candidates].duplicated(keep="first").to_numpy()
    return later


def _combine_outcomes(outcomes: pd.DataFrame) -> pd.DataFrame:
    """One row per lead: earliest sql_at, earliest disqualified_at, other columns from the first row."""
    if not outcomes["lead_id"].duplicated().any():
        return outcomes
    earliest = outcomes.groupby("lead_id", sort=False)[["sql_at", "disqualified_at"]].min()
    combined = outcomes.drop_duplicates("lead_id", keep="first").reset_index(drop=True)
    for column in ("sql_at", "disqualified_at"):
        combined[column] = combined["lead_id"].map(earliest[column]).astype(TIMESTAMP_DTYPE)
    return combined


def _structure_problems(name: str, frame: pd.DataFrame) -> list[Problem]:
    problems = []
    duplicated = frame.columns[frame.columns.duplicated()].unique()
    for column in duplicated:
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


def _empty_rejects() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "row" else "str") for c in REJECT_COLUMNS})


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
            "row": table.rows[positions],
            "lead_id": pd.Series(table.ids.to_numpy()[positions], dtype="str"),
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
    text = frame.to_json(orient="records", lines=True, date_format="iso", force_ascii=False)
    # JSON escapes newlines inside strings, so a literal newline only ends a record.
    return text.rstrip("\n").split("\n")


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def write_tables(data: Dataset | Mapping[str, pd.DataFrame], folder: Path | str, fmt: str = "csv") -> dict[str, Path]:
    """Write leads, activities and outcomes in contract form (``fmt``: csv or parquet).

    CSV timestamps are ISO-8601 UTC with ``Z``; counts are written as integers.
    Refuses (FileExistsError, before writing anything) when the folder already
    holds the same table in the other format, which would make it ambiguous.
    Returns the paths written, by table.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be csv or parquet, not {fmt!r}")
    frames = _frames_of(data)
    folder = Path(folder)
    other = "parquet" if fmt == "csv" else "csv"
    clashes = [folder / f"{name}.{other}" for name in frames if (folder / f"{name}.{other}").exists()]
    if clashes:
        names = ", ".join(p.name for p in clashes)
        raise FileExistsError(f"{folder} already holds {names}; remove it or write {other} instead")
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, frame in frames.items():
        path = folder / f"{name}.{fmt}"
        partial = path.with_name(path.name + ".partial")
        out = _contract_form(name, frame, fmt)
        if fmt == "csv":
            out.to_csv(partial, index=False)
        else:
            out.to_parquet(partial, index=False)
        partial.replace(path)  # a reader never sees a half-written table
        written[name] = path
    return written


def write_rejects(rejects: pd.DataFrame, path: Path | str) -> Path:
    """Write the rejects (one row per set-aside row, with reason and original record) as CSV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = rejects if len(rejects.columns) else _empty_rejects()
    frame.to_csv(path, index=False)
    return path


def _frames_of(data: Dataset | Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    if isinstance(data, Dataset):
        return {"leads": data.leads, "activities": data.activities, "outcomes": data.outcomes}
    unknown = set(data) - set(TABLES)
    if unknown:
        raise ValueError(f"unknown tables {sorted(unknown)}; expected {TABLES}")
    return {name: data[name] for name in TABLES if name in data and data[name] is not None}


def _contract_form(name: str, frame: pd.DataFrame, fmt: str) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            utc = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
            out[column] = format_iso_utc(utc) if fmt == "csv" else utc.astype(TIMESTAMP_DTYPE)
        elif name == "leads" and column in COUNT_COLUMNS and pd.api.types.is_float_dtype(values):
            out[column] = values.round().astype("Int64")
    return out


def format_iso_utc(values: pd.Series) -> pd.Series:
    """Timestamps as ISO-8601 UTC text with ``Z`` (missing stay missing).

    Whole seconds unless some value has a fraction; vectorised with numpy,
    so millions of values take well under a second.
    """
    naive = values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    has_fraction = bool((values.dt.microsecond.fillna(0) != 0).any())
    unit = "us" if has_fraction else "s"
    text = np.char.add(np.datetime_as_string(naive.astype(f"datetime64[{unit}]"), unit=unit), "Z")
    return pd.Series(text, index=values.index, dtype="str").mask(values.isna())
