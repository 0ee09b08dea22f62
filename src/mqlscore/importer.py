"""Turn raw CRM exports into the data contract with a declarative YAML mapping.

A mapping says which raw file feeds which contract table, which raw column
becomes which contract (or extra) column, and how values and dates are
translated. Only mapped or explicitly kept columns pass: a post-outcome field
cannot slip into the features by accident. The format is documented in
``docs/importing.md``; shipped examples live in ``mqlscore/mappings/``.
"""

from __future__ import annotations

import re
import zoneinfo
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mqlscore.contract import REQUIRED_COLUMNS, TABLES, ContractError, format_iso_utc, read_table_file, to_text

SHIPPED_MAPPINGS = ("olist", "olist_raw", "salesforce")


class MappingError(Exception):
    """A mapping file that cannot be used: bad YAML, a bad field, or a raw column or file not found."""


# ---------------------------------------------------------------------------
# The mapping model
# ---------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SourceFile(_Strict):
    """One raw file. ``path`` is relative to the source folder."""

    path: str
    format: Literal["csv", "parquet"] | None = None
    delimiter: str = ","
    encoding: str = "utf-8-sig"

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if len(value) != 1:
            raise ValueError("the delimiter must be a single character")
        return value

    @property
    def file_format(self) -> Literal["csv", "parquet"]:
        """The declared format, else the one the file name says."""
        if self.format:
            return self.format
        return "parquet" if self.path.lower().endswith(".parquet") else "csv"


class Condition(_Strict):
    """A test on one raw column. Values compare ignoring case and surrounding spaces."""

    column: str
    in_: list[str] | None = Field(default=None, alias="in")
    not_in: list[str] | None = None
    empty: bool | None = None

    @field_validator("in_", "not_in", mode="before")
    @classmethod
    def _as_strings(cls, value: Any) -> Any:
        return [str(v) for v in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _exactly_one_test(self) -> Condition:
        given = [name for name in ("in_", "not_in", "empty") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("a condition needs exactly one of 'in', 'not_in' or 'empty'")
        return self

    def holds(self, raw: pd.DataFrame) -> pd.Series:
        """Boolean mask of the raw rows meeting the condition."""
        key = _match_key(raw[self.column])
        if self.empty is not None:
            return key.isna() if self.empty else key.notna()
        listed = {_key(v) for v in (self.in_ if self.in_ is not None else self.not_in or [])}
        inside = key.isin(listed).fillna(False).astype(bool)
        return inside if self.in_ is not None else ~inside


class RowFilter(_Strict):
    """Rows pass when every ``all`` condition holds and, if ``any`` is given, one of those."""

    all: list[Condition] = Field(default_factory=list)
    any: list[Condition] = Field(default_factory=list)

    def mask(self, raw: pd.DataFrame) -> pd.Series:
        """Boolean mask of the rows passing the filter."""
        passed = pd.Series(True, index=raw.index)
        for condition in self.all:
            passed &= condition.holds(raw)
        if self.any:
            either = pd.Series(False, index=raw.index)
            for condition in self.any:
                either |= condition.holds(raw)
            passed &= either
        return passed

    def conditions(self) -> list[Condition]:
        """Every condition, for checking the columns they name."""
        return [*self.all, *self.any]


class ColumnSource(_Strict):
    """A raw column, optionally only where a condition holds (else empty)."""

    from_: str = Field(alias="from")
    when: Condition | None = None


class ValueMap(_Strict):
    """Translate values of one column. ``default`` for values not in ``map``:
    ``keep`` (the default) keeps them, ``null`` (or YAML null) empties them,
    any other text replaces them. Empty raw values stay empty."""

    map: dict[str, str | None]
    default: str | None = "keep"

    @field_validator("map", mode="before")
    @classmethod
    def _keys_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): (None if _is_null(v) else str(v)) for k, v in value.items()}
        return value

    @field_validator("default", mode="before")
    @classmethod
    def _null_default(cls, value: Any) -> Any:
        return None if _is_null(value) else value

    @model_validator(mode="after")
    def _no_clashing_keys(self) -> ValueMap:
        keys = [_key(k) for k in self.map]
        clashes = sorted({k for k in keys if keys.count(k) > 1})
        if clashes:
            raise ValueError(f"keys differ only by case or spaces: {clashes}")
        return self

    def apply(self, values: pd.Series) -> pd.Series:
        """The translated column (text)."""
        key = _match_key(values)
        table = {_key(k): v for k, v in self.map.items()}
        mapped = key.isin(list(table)).fillna(False).astype(bool)
        result = key.map(table).astype("str")
        unmapped = key.notna() & ~mapped
        if self.default == "keep":
            result = result.mask(unmapped, to_text(values).str.strip())
        elif self.default is None:
            result = result.mask(unmapped)
        else:
            result = result.mask(unmapped, self.default)
        return result


class DateFormat(_Strict):
    """How a raw date column is written: a strptime ``format`` (default ISO-8601),
    the IANA ``timezone`` of values without an offset (default UTC), and for
    values with a date but no time, whether they mean the ``start`` (00:00:00)
    or the ``end`` (23:59:59) of that local day."""

    format: str | None = None
    timezone: str | None = None
    day_time: Literal["start", "end"] = "start"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown timezone {value!r} (use an IANA name like America/Sao_Paulo)") from None
        return value

    @field_validator("format")
    @classmethod
    def _has_directive(cls, value: str | None) -> str | None:
        if value is not None and "%" not in value:
            raise ValueError(f"{value!r} is not a strptime format (e.g. '%d-%m-%Y %H:%M')")
        return value


class NumberFormat(_Strict):
    """How a raw number is written, e.g. ``thousands: ","`` for ``1,200``."""

    thousands: str | None = None
    decimal: str = "."


class TableMapping(_Strict):
    """How one contract table is built from one raw source."""

    source: str
    columns: dict[str, str | ColumnSource]
    keep: list[str] = Field(default_factory=list)
    constants: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    values: dict[str, ValueMap] = Field(default_factory=dict)
    dates: dict[str, DateFormat] = Field(default_factory=dict)
    numbers: dict[str, NumberFormat] = Field(default_factory=dict)
    where: RowFilter | None = None

    @field_validator("constants", mode="before")
    @classmethod
    def _null_constants(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: None if _is_null(v) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _each_output_once(self) -> TableMapping:
        outputs = [*self.columns, *self.keep, *self.constants]
        twice = sorted({c for c in outputs if outputs.count(c) > 1})
        if twice:
            raise ValueError(f"columns defined more than once (columns/keep/constants): {twice}")
        for option in ("values", "dates", "numbers"):
            unknown = sorted(set(getattr(self, option)) - set(outputs))
            if unknown:
                raise ValueError(f"{option} names columns that are not produced: {unknown}")
        return self

    def outputs(self) -> list[str]:
        """Output column names, in order."""
        return [*self.columns, *self.keep, *self.constants]

    def raw_columns(self) -> list[tuple[str, str]]:
        """(where in the mapping, raw column) for every raw column this table reads."""
        used = []
        for target, spec in self.columns.items():
            if isinstance(spec, ColumnSource):
                used.append((f"columns.{target}", spec.from_))
                if spec.when is not None:
                    used.append((f"columns.{target}.when", spec.when.column))
            else:
                used.append((f"columns.{target}", spec))
        used += [("keep", column) for column in self.keep]
        if self.where is not None:
            used += [("where", c.column) for c in self.where.conditions()]
        return used


class ImportMapping(_Strict):
    """A whole mapping file: raw sources and the contract tables built from them."""

    name: str | None = None
    description: str | None = None
    sources: dict[str, SourceFile]
    tables: dict[str, TableMapping]

    @model_validator(mode="after")
    def _tables_make_sense(self) -> ImportMapping:
        unknown = sorted(set(self.tables) - set(TABLES))
        if unknown:
            raise ValueError(f"unknown table(s) {unknown}: a mapping builds {', '.join(TABLES)}")
        if "leads" not in self.tables:
            raise ValueError("the mapping has no 'leads' table")
        for name, table in self.tables.items():
            if table.source not in self.sources:
                raise ValueError(f"tables.{name}.source: {table.source!r} is not one of sources {sorted(self.sources)}")
            missing = [c for c in REQUIRED_COLUMNS[name] if c not in table.outputs()]
            if missing:
                raise ValueError(f"tables.{name}: no column for the required {missing}")
        return self


# ---------------------------------------------------------------------------
# Loading a mapping
# ---------------------------------------------------------------------------


def load_mapping(reference: str | Path) -> tuple[ImportMapping, Path | None]:
    """Load a mapping from a YAML path or a shipped name (``olist``, ``olist_raw``, ``salesforce``).

    Returns the mapping and the folder its raw paths are relative to by
    default (the mapping file's folder; None for a shipped mapping, whose
    raw files the user names with ``--source``). Raises MappingError.
    """
    path = Path(reference)
    if path.is_file():
        return parse_mapping(path.read_text(encoding="utf-8"), origin=str(path)), path.resolve().parent
    name = str(reference)
    if name in SHIPPED_MAPPINGS:
        text = resources.files("mqlscore").joinpath("mappings", f"{name}.yaml").read_text(encoding="utf-8")
        return parse_mapping(text, origin=f"shipped mapping {name!r}"), None
    raise MappingError(
        f"mapping {name!r} not found: give a YAML file or a shipped mapping ({', '.join(SHIPPED_MAPPINGS)})"
    )


def parse_mapping(text: str, *, origin: str = "mapping") -> ImportMapping:
    """Parse and check mapping YAML text; MappingError lists every problem with its place."""
    import yaml

    try:
        # Every scalar stays text: CRM values like Yes, 007 or 2024-01-01 must match
        # as written, not as YAML 1.1 booleans, octal numbers or dates.
        document = yaml.load(text, Loader=yaml.BaseLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise MappingError(f"{origin}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(document, dict):
        raise MappingError(f"{origin}: expected a YAML mapping with 'sources' and 'tables'")
    try:
        return ImportMapping.model_validate(document)
    except ValidationError as exc:
        raise MappingError(f"{origin} is not a valid mapping:\n{_describe(exc)}") from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        place = ".".join(str(part) for part in error["loc"] if not str(part).startswith("function-after"))
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"  - {place}: {message}" if place else f"  - {message}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Applying a mapping
# ---------------------------------------------------------------------------


def apply_mapping(mapping: ImportMapping, source_dir: Path | str | None) -> dict[str, pd.DataFrame]:
    """Read the raw files and build the contract tables (as text, ready to validate).

    Each table keeps the raw file's row numbers as its ``row`` index, so
    validation problems point at lines of the raw file. Raises MappingError
    for a missing file or raw column, ContractError for an unreadable file.
    """
    if source_dir is None:
        raise MappingError("a shipped mapping needs --source: the folder holding its raw files")
    source_dir = Path(source_dir)
    raw = {name: _read_source(name, spec, source_dir) for name, spec in _used_sources(mapping).items()}
    _check_raw_columns(mapping, raw)
    return {name: _build_table(table, raw[table.source]) for name, table in mapping.tables.items()}


def import_tables(reference: str | Path, source_dir: Path | str | None = None) -> dict[str, pd.DataFrame]:
    """Load a mapping and apply it; ``source_dir`` defaults to the mapping file's folder."""
    mapping, default_dir = load_mapping(reference)
    return apply_mapping(mapping, source_dir if source_dir is not None else default_dir)


def input_files(reference: str | Path, source_dir: Path | str | None = None) -> list[Path]:
    """The files an import reads: the mapping file (unless shipped) and the raw files
    its tables use, without reading them; so that an output can be checked against
    them before any work. Raises MappingError as :func:`import_tables` does."""
    mapping, default_dir = load_mapping(reference)
    folder = source_dir if source_dir is not None else default_dir
    files = [Path(reference)] if Path(reference).is_file() else []
    if folder is not None:
        files += [Path(folder) / spec.path for spec in _used_sources(mapping).values()]
    return files


def _used_sources(mapping: ImportMapping) -> dict[str, SourceFile]:
    used = dict.fromkeys(table.source for table in mapping.tables.values())
    return {name: mapping.sources[name] for name in used}


def _read_source(name: str, spec: SourceFile, source_dir: Path) -> pd.DataFrame:
    path = source_dir / spec.path
    if not path.is_file():
        raise MappingError(f"sources.{name}: raw file {spec.path!r} not found in {source_dir}")
    try:
        return read_table_file(
            path, label=f"source {name}", fmt=spec.file_format, delimiter=spec.delimiter, encoding=spec.encoding
        )
    except ContractError as exc:
        raise MappingError(str(exc.report.problems[0])) from None


def _check_raw_columns(mapping: ImportMapping, raw: dict[str, pd.DataFrame]) -> None:
    missing, repeated = [], []
    for name, table in mapping.tables.items():
        frame = raw[table.source]
        file_name = Path(mapping.sources[table.source].path).name
        for place, column in table.raw_columns():
            if column not in frame.columns:
                found = ", ".join(repr(c) for c in list(frame.columns)[:20])
                missing.append(
                    f"  - tables.{name}.{place}: raw column {column!r} not found in {file_name} (columns: {found})"
                )
            elif (frame.columns == column).sum() > 1:
                repeated.append(f"  - tables.{name}.{place}: raw column {column!r} appears more than once in "
                                f"{file_name}: rename one of them")
    parts = []
    if missing:
        parts.append("the mapping names raw columns that do not exist:\n" + "\n".join(missing))
    if repeated:
        parts.append("the mapping names raw columns that are not unique:\n" + "\n".join(repeated))
    if parts:
        raise MappingError("\n".join(parts))


def _build_table(table: TableMapping, raw: pd.DataFrame) -> pd.DataFrame:
    if table.where is not None:
        raw = raw[table.where.mask(raw).to_numpy()]
    out = pd.DataFrame(index=raw.index)
    for target, spec in table.columns.items():
        out[target] = _column(raw, spec)
    for column in table.keep:
        out[column] = raw[column]
    for column, value in table.constants.items():
        out[column] = pd.Series(None if value is None else str(value), index=raw.index, dtype="str")
    for column, number in table.numbers.items():
        out[column] = _normalise_number(out[column], number)
    for column, value_map in table.values.items():
        out[column] = value_map.apply(out[column])
    for column, date in table.dates.items():
        out[column] = convert_dates(out[column], date)
    out.attrs["source"] = raw.attrs.get("source", "")
    return out


def _column(raw: pd.DataFrame, spec: str | ColumnSource) -> pd.Series:
    if isinstance(spec, str):
        return raw[spec]
    values = raw[spec.from_]
    if spec.when is not None:
        values = values.where(spec.when.holds(raw).to_numpy())
    return values


def _normalise_number(values: pd.Series, number: NumberFormat) -> pd.Series:
    text = to_text(values).str.strip()
    if number.thousands:
        text = text.str.replace(number.thousands, "", regex=False)
    if number.decimal != ".":
        text = text.str.replace(number.decimal, ".", regex=False)
    return text


# An offset only counts after a time of day: "2018-02-01" ends in "-01" but has none.
_OFFSET = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)


def convert_dates(values: pd.Series, date: DateFormat) -> pd.Series:
    """Raw dates to ISO-8601 UTC text (``...Z``).

    Values without an offset are read in ``date.timezone`` (default UTC):
    nonexistent local times (spring-forward gap) move forward, ambiguous ones
    (fall-back hour) take standard time. Values that do not parse are left as
    written so that validation reports them with their row.
    """
    text = to_text(values).str.strip()
    if date.format is None:
        has_offset = text.str.contains(_OFFSET, na=False)
        aware = pd.to_datetime(text.where(has_offset), format="ISO8601", utc=True, errors="coerce")
        naive = pd.to_datetime(text.where(~has_offset), format="ISO8601", errors="coerce")
    elif "%z" in date.format or "%Z" in date.format:
        aware = pd.to_datetime(text, format=date.format, utc=True, errors="coerce")
        naive = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
    else:
        aware = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us, UTC]")
        naive = pd.to_datetime(text, format=date.format, errors="coerce")
    naive = naive.astype("datetime64[us]")
    if date.day_time == "end":
        date_only = _date_only(text, date.format)
        naive = naive.mask(date_only, naive + pd.Timedelta(days=1) - pd.Timedelta(seconds=1))
    local = _localise(naive, date.timezone or "UTC")
    utc = aware.astype("datetime64[us, UTC]").fillna(local)
    return format_iso_utc(utc).where(utc.notna(), text)


_TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%X", "%c", "%T", "%R", "%p")


def _date_only(text: pd.Series, fmt: str | None) -> pd.Series:
    if fmt is not None:
        return pd.Series(not any(d in fmt for d in _TIME_DIRECTIVES), index=text.index)
    return text.str.fullmatch(r"\d{4}-?\d{2}-?\d{2}").fillna(False).astype(bool)


def _localise(naive: pd.Series, timezone: str) -> pd.Series:
    ambiguous = np.zeros(len(naive), dtype=bool)  # False = standard time
    localised = naive.dt.tz_localize(timezone, ambiguous=ambiguous, nonexistent="shift_forward")
    return localised.dt.tz_convert("UTC").astype("datetime64[us, UTC]")


def _is_null(value: object) -> bool:
    """YAML's spellings of null (the mapping is loaded with every scalar as text)."""
    return value is None or (isinstance(value, str) and value.strip() in ("null", "Null", "NULL", "~"))


def _key(value: object) -> str:
    return str(value).strip().casefold()


def _match_key(values: pd.Series) -> pd.Series:
    key = to_text(values).str.strip().str.casefold()
    return key.mask(key == "")
