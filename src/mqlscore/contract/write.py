"""Writing files: contract tables, rejects and (through :func:`write_atomically`)
every other file the command line writes.

Outputs are checked before any work (:func:`check_output`): a path that would
overwrite an input, or one that cannot be written, is refused with a one-line
message. Files are written under a temporary name beside their place and renamed
when complete, so a reader never sees a half-written file and a full disk or a
crash leaves the previous file as it was.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from mqlscore.contract.report import Dataset
from mqlscore.contract.schema import COUNT_COLUMNS, REJECT_COLUMNS, TABLES, TIMESTAMP_DTYPE

TEMPORARY_SUFFIX = ".partial"
# The names a folder's tables are read from (see read.read_tables), in lower case.
TABLE_FILE_NAMES = {f"{table}.{fmt}": table for table in TABLES for fmt in ("csv", "parquet")}


class OutputError(Exception):
    """An output path that cannot be written, found before any work; the message is one line."""


class OutputIsInput(OutputError):
    """An output path that would overwrite an input, or be read as an input table next time."""


def check_output(
    path: Path | str,
    *,
    inputs: Iterable[Path | str] = (),
    input_folders: Iterable[Path | str] = (),
    option: str = "--out",
    folder: bool = False,
) -> Path:
    """Check, before any work, that ``path`` (a file, or with ``folder`` a folder) can be written.

    Raises :class:`OutputIsInput` when the path is one of the ``inputs`` (after
    resolving symlinks and ``..``) or bears a table's file name (``leads.csv``,
    ``activities.parquet``, ...) inside one of the ``input_folders``; raises
    :class:`OutputError` when it is a folder (for a file) or a file (for a
    folder), or when its nearest existing parent is not a writable folder.
    Creates nothing. Returns the path.
    """
    path = Path(path)
    if not folder:
        _check_not_input(path, inputs, input_folders, option)
    if path.is_dir() and not folder:
        raise OutputError(f"Cannot write {path}: it is a folder (give a file name)")
    if path.exists() and not path.is_dir() and folder:
        raise OutputError(f"Cannot write {path}: it is not a folder")
    parent = Path(os.path.abspath(path if folder and path.is_dir() else path.parent))
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"Cannot write {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"Cannot write {path}: {parent} is not writable")
    return path


def _check_not_input(path: Path, inputs: Iterable[Path | str], input_folders: Iterable[Path | str],
                     option: str) -> None:
    resolved = _resolved(path)
    for source in inputs:
        source = Path(source)
        if resolved == _resolved(source) or _same_file(path, source):
            where = "" if path == source else f" ({source})"
            raise OutputIsInput(f"{option} {path} is an input{where}: writing it would overwrite the data; "
                                "choose another path")
    table = TABLE_FILE_NAMES.get(path.name.lower())
    if table is None:
        return
    for input_folder in input_folders:
        if _resolved(path.parent) == _resolved(Path(input_folder)):
            raise OutputIsInput(f"{option} {path} is where the {table} table of {input_folder} is read from: "
                                "choose another name")


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: compare as written
        return Path(os.path.abspath(path))


def _same_file(a: Path, b: Path) -> bool:
    """True for two names of one file (hard links, case-insensitive file systems)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def write_atomically(path: Path | str, write: Callable[[Path], object]) -> Path:
    """Write a file with ``write(temporary_path)`` beside ``path``, then rename it into place.

    The parent folders are made when missing. On any failure (a full disk, an
    interrupted run) the temporary file is removed and the error raised: ``path``
    is either the complete new file or left as it was.
    """
    path = Path(path)
    write_files_atomically({path: write})
    return path


def write_files_atomically(writes: Mapping[Path, Callable[[Path], object]]) -> None:
    """Write several files as :func:`write_atomically` does, renaming them only when
    all are complete: a failure leaves every one of them as it was."""
    staged: dict[Path, Path] = {}
    try:
        for path, write in writes.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{TEMPORARY_SUFFIX}")
            staged[path] = temporary
            write(temporary)
            _flush_to_disk(temporary)  # a full disk may only show when the data reaches it
        for path, temporary in staged.items():
            os.replace(temporary, path)
    except BaseException:
        for temporary in staged.values():
            with contextlib.suppress(OSError):
                temporary.unlink()
        raise


def _flush_to_disk(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def write_tables(
    data: Dataset | Mapping[str, pd.DataFrame],
    folder: Path | str,
    fmt: str = "csv",
    *,
    rejects: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Write leads, activities and outcomes in contract form (``fmt``: csv or parquet),
    and with ``rejects`` the rejects as ``rejects.csv``.

    CSV timestamps are ISO-8601 UTC with ``Z``; counts are written as integers.
    Refuses (FileExistsError, before writing anything) when the folder already
    holds the same table in the other format, which would make it ambiguous.
    Every file is renamed into place only when all are written (see
    :func:`write_files_atomically`). Returns the paths written, by table.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be csv or parquet, not {fmt!r}")
    frames = _frames_of(data)
    folder = Path(folder)
    clashes = table_format_clashes(folder, fmt, frames)
    if clashes:
        other = "parquet" if fmt == "csv" else "csv"
        names = ", ".join(p.name for p in clashes)
        raise FileExistsError(f"{folder} already holds {names}; remove it or write {other} instead")
    paths = {name: folder / f"{name}.{fmt}" for name in frames}
    writes: dict[Path, Callable[[Path], object]] = {
        paths[name]: functools.partial(_write_table, name, frame, fmt) for name, frame in frames.items()
    }
    if rejects is not None:
        paths["rejects"] = folder / "rejects.csv"
        writes[paths["rejects"]] = functools.partial(_write_rejects, rejects)
    write_files_atomically(writes)
    return paths


def table_format_clashes(folder: Path | str, fmt: str, tables: Iterable[str] = TABLES) -> list[Path]:
    """Files of ``folder`` holding one of ``tables`` in the format other than ``fmt``
    (writing ``fmt`` beside them would make the folder ambiguous to read)."""
    other = "parquet" if fmt == "csv" else "csv"
    return [Path(folder) / f"{name}.{other}" for name in tables if (Path(folder) / f"{name}.{other}").exists()]


def _write_table(name: str, frame: pd.DataFrame, fmt: str, path: Path) -> None:
    out = _contract_form(name, frame, fmt)
    if fmt == "csv":
        out.to_csv(path, index=False)
    else:
        out.to_parquet(path, index=False)


def write_rejects(rejects: pd.DataFrame, path: Path | str) -> Path:
    """Write the rejects (one row per set-aside row, with reason and original record) as CSV,
    renamed into place only when complete."""
    return write_atomically(path, functools.partial(_write_rejects, rejects))


def _write_rejects(rejects: pd.DataFrame, path: Path) -> None:
    frame = rejects if len(rejects.columns) else empty_rejects()
    frame.to_csv(path, index=False)


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


def empty_rejects() -> pd.DataFrame:
    """The rejects table with no rows."""
    # Building it takes about 1 ms, most of a small request's validation: copy a built one.
    return _empty_rejects().copy()


@functools.cache
def _empty_rejects() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "row" else "str") for c in REJECT_COLUMNS})
