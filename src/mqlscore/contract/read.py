"""Reading a CRM export: a folder of ``leads``, ``activities`` and ``outcomes``
as CSV (read as text) or Parquet, with source row numbers kept."""

from __future__ import annotations

import codecs
import csv
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from mqlscore.contract.report import ContractError, ValidationReport, Problem
from mqlscore.contract.schema import TABLES

_STR = pd.api.types.pandas_dtype("str")


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
    """Read a CSV file as text, without ever holding its bytes or a second copy of its values.

    pyarrow reads the file block by block straight into one string array per column,
    which pandas' ``str`` columns then use as they are: the peak is about the table
    itself (benchmarks/bench_validate_memory.py). Rows with extra fields are refused,
    not shifted into the index.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ContractError.single(label, f"unknown text encoding {encoding!r} for {path}") from None
    try:
        if _is_blank(path):
            raise ContractError.single(label, f"{path} is empty: expected a header row")
        table = pa_csv.read_csv(
            path,
            # One thread: parallel blocks leave more allocator slack (+20% of the table) for
            # little speed on the two or so cores a scoring job gets.
            read_options=pa_csv.ReadOptions(encoding=encoding, use_threads=False),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            # Every column as text, only the empty value missing: nothing is coerced before validation.
            convert_options=pa_csv.ConvertOptions(
                default_column_type=pa.large_string(), strings_can_be_null=True, null_values=[""]
            ),
        )
    except UnicodeDecodeError as exc:
        raise ContractError.single(
            label, f"{path} is not valid {encoding} text (undecodable byte at offset {exc.start}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ContractError.single(label, f"cannot read {path}: {exc.strerror or exc}") from None
    except (pa.ArrowException, ValueError):
        # Parser messages quote the offending row, which may hold personal data: describe it instead.
        raise ContractError.single(
            label, f"{path} could not be read as CSV: {_describe_csv_problem(path, encoding, delimiter)}"
        ) from None
    names = [name if name else f"Unnamed: {i}" for i, name in enumerate(table.column_names)]
    n_rows = table.num_rows
    columns = [table.column(i) for i in range(table.num_columns)]
    del table
    pa.default_memory_pool().release_unused()  # the parser's buffers, back to the system
    # Positional keys: a repeated header stays repeated (validation names it) instead of being renamed.
    frame = pd.DataFrame(
        {i: pd.Series(pd.arrays.ArrowStringArray(column, dtype=_STR), copy=False) for i, column in enumerate(columns)},
        copy=False,
    )
    frame.columns = names
    frame.index = _csv_line_numbers(path, n_rows, encoding, delimiter)
    return frame


def _is_blank(path: Path) -> bool:
    """True for a file holding nothing but whitespace (read until something else shows)."""
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 16):
            if chunk.strip():
                return False
    return True


def _csv_records(path: Path, encoding: str, delimiter: str) -> Iterator[tuple[int, int]]:
    """(first line, field count) of each non-blank CSV record, header included, read as a stream."""
    with open(path, encoding=encoding, errors="replace", newline="") as text:
        reader = csv.reader(text, delimiter=delimiter)
        previous_end = 0
        for record in reader:
            if record:
                yield previous_end + 1, len(record)
            previous_end = reader.line_num


def _csv_line_numbers(path: Path, n_records: int, encoding: str, delimiter: str) -> pd.Index:
    """Line number of each data record; exact even with quoted newlines or blank lines."""
    n_newlines, last = 0, b""
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 24):
            n_newlines += chunk.count(b"\n")
            last = chunk[-1:]
    n_lines = n_newlines + (0 if last == b"\n" else 1)
    if n_lines == n_records + 1:
        return pd.RangeIndex(2, n_records + 2, name="row")
    # Slow path, only for files with multi-line values, blank lines or bare CR endings.
    try:
        starts = [line for line, _ in itertools.islice(_csv_records(path, encoding, delimiter), 1, None)]
    except csv.Error:
        starts = []
    if len(starts) == n_records:
        return pd.Index(np.asarray(starts, dtype=np.int64), name="row")
    return pd.RangeIndex(2, n_records + 2, name="row")


def _describe_csv_problem(path: Path, encoding: str, delimiter: str) -> str:
    try:
        records = _csv_records(path, encoding, delimiter)
        header = next(records, None)
        if header is not None:
            for line, count in records:
                if count != header[1]:
                    return (
                        f"line {line} has {count} fields where the header has {header[1]} "
                        f"(check the delimiter {delimiter!r} and the quoting)"
                    )
    except csv.Error as exc:
        return f"malformed CSV ({exc})"
    except OSError as exc:
        return f"cannot read it again ({exc.strerror or exc})"
    return "the file is not well-formed CSV (check the delimiter, the quoting and the encoding)"


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
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    return frame
