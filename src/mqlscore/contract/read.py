"""Reading a CRM export: a folder of ``leads``, ``activities`` and ``outcomes``
as CSV (read as text) or Parquet, with source row numbers kept."""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from mqlscore.contract.report import ContractError, ValidationReport, Problem
from mqlscore.contract.schema import TABLES



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


def table_files(folder: Path | str) -> list[Path]:
    """The table files :func:`read_tables` reads from ``folder`` (``leads.csv``,
    ``activities.parquet``, ...), without reading them; none when it cannot be listed."""
    folder = Path(folder)
    try:
        names = {p.name for p in folder.iterdir() if p.is_file()}
    except OSError:
        return []
    return [folder / f"{table}.{fmt}" for table in TABLES for fmt in ("csv", "parquet") if f"{table}.{fmt}" in names]


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
    header = _csv_header(data, encoding, delimiter)
    if len(header) == frame.shape[1] and len(set(header)) < len(header):
        # The reader renames a repeated header ("created_at.1"): keep the names as written,
        # so that validation (or the importer) names the repeated column instead of losing it.
        frame.columns = header
    return frame


def _csv_header(data: bytes, encoding: str, delimiter: str) -> list[str]:
    """The header row's names as written (empty when it cannot be parsed)."""
    text = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, errors="replace", newline="")
    try:
        return next(csv.reader(text, delimiter=delimiter), [])
    except csv.Error:
        return []


def _read_parquet(path: Path, label: str) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except Exception:  # noqa: BLE001 - reported with the reader's own message below
        names = []
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        listed = ", ".join(repr(name) for name in repeated)
        raise ContractError.single(label, f"{path}: column {listed} appears more than once", column=repeated[0])
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


