"""Writing contract tables and rejects; a reader never sees a half-written table."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from mqlscore.contract.report import Dataset
from mqlscore.contract.schema import COUNT_COLUMNS, REJECT_COLUMNS, TABLES, TIMESTAMP_DTYPE



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
    frame = rejects if len(rejects.columns) else empty_rejects()
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


def empty_rejects() -> pd.DataFrame:
    """The rejects table with no rows."""
    # Building it takes about 1 ms, most of a small request's validation: copy a built one.
    return _empty_rejects().copy()


@functools.cache
def _empty_rejects() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "row" else "str") for c in REJECT_COLUMNS})
