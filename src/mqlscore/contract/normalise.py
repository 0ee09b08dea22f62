"""How raw values become the contract's values: stripped text, case-folded
codes, UTC timestamps, counts, and values safe to show in a message.

A text column takes one of two forms with the same values: a pandas ``str``
Series (arrow-backed, one vectorised call per operation: for large inputs), or
an object array of ``str`` and ``None`` built value by value (for small inputs
such as one service request, where each pandas call costs more than the work
it does). Values whose conversion is subtle in plain Python (floats written as
text, bytes, non-ASCII case folding, unusual timestamp spellings) take the
pandas route in both forms, so the two agree by construction.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Collection
from datetime import date
from typing import Any, Union

import numpy as np
import pandas as pd
import pyarrow as pa

from mqlscore.contract.schema import (CODE_COLUMNS, EARLIEST, LATEST, OUT_OF_RANGE, SAFE_TO_ECHO_COLUMNS,
                                      TIMESTAMP_DTYPE)

# A text column: a pandas "str" Series with a 0..n-1 index, or an object array of str and None.
Text = Union[pd.Series, np.ndarray]

PIECE_ROWS = 1 << 18
"""Large columns are stripped, case-folded, parsed and searched in pieces of at most
this many rows: each step then holds one piece's copy at a time, never a second
column (benchmarks/bench_validate_memory.py)."""

_STR = pd.api.types.pandas_dtype("str")  # resolving the alias costs more than building a small array
_UTC = pd.api.types.pandas_dtype(TIMESTAMP_DTYPE)
_NAT = np.datetime64("NaT", "us")
_NAT_MICROS = int(_NAT.astype("int64"))
_EARLIEST = EARLIEST.tz_convert(None).as_unit("us").to_datetime64()
_LATEST = LATEST.tz_convert(None).as_unit("us").to_datetime64()
_INT64_LIMIT = 2.0**63

_EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+")
_DIGIT = re.compile(r"[0-9]")
_ID_LIKE = re.compile(r"\S*[0-9]\S*")
# Counts written as plain digits: short enough to be exact as floats, read alike by int() and pandas.
_PLAIN_COUNT = re.compile(r"[0-9]{1,15}", re.ASCII)
# The most common ISO-8601 spellings, read in Python for a few values (a pandas call costs ~50 us).
# Anything else, or a date or time out of its range, is left to pandas (tests/test_contract_speed_paths.py).
_COMMON_ISO = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?",
    re.ASCII,
)
_COMMON_ISO_MAX = 64  # beyond this many values pandas' parser is quicker
_EPOCH_DAY = date(1970, 1, 1).toordinal()
# Sub-microsecond digits: dropped only to tell an out-of-range instant from an unparsable one.
_NANOSECONDS = re.compile(r"(\.[0-9]{6})[0-9]+")


def _safe_value(value: object) -> str:
    """A value fit for a message: short, and never something that looks like an email."""
    text = str(value)
    # A shifted CSV can put personal data into any column; emails are the usual leak.
    if _EMAIL_LIKE.search(text):
        return "<redacted: looks like an email>"
    return text if len(text) <= 60 else text[:57] + "..."


def _shown_value(column: str, value: str) -> str | None:
    """The value of ``column`` as a message may quote it, or None when only its shape
    may be given (:func:`_shape`); see ``schema.SAFE_TO_ECHO_COLUMNS``."""
    if column not in SAFE_TO_ECHO_COLUMNS:
        return None
    if column not in CODE_COLUMNS and not _DIGIT.search(value):
        return None
    return _safe_value(value)


def _shown_id(value: str) -> str | None:
    """An id as a message may quote it: one token with a digit, as CRM ids are (a name is not)."""
    return _safe_value(value) if _ID_LIKE.fullmatch(value) and not _EMAIL_LIKE.search(value) else None


def _shape(value: str) -> str:
    """What a message says of a value it may not quote."""
    return f"text of {len(value):,} character{'' if len(value) == 1 else 's'}"


# ---------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------


def _as_text(values: pd.Series) -> pd.Series:
    """Values as stripped text, with empty and whitespace-only values missing."""
    if pd.api.types.is_float_dtype(values):
        finite = values.dropna()
        if len(finite) and _whole_ids(finite.to_numpy(dtype="float64")):
            values = values.astype("Int64")  # ids stored as floats by a spreadsheet: 7.0 means "7"
    return _map_pieces(to_text(values), _strip_piece)


def _strip_piece(piece: Any) -> Any:
    """``str.strip()`` of arrow text, with empty and whitespace-only values missing."""
    import pyarrow.compute as pc

    stripped = pc.utf8_trim_whitespace(piece)
    return pc.if_else(pc.equal(stripped, ""), pa.scalar(None, stripped.type), stripped)


def _map_pieces(text: pd.Series, function: Callable[[Any], Any]) -> pd.Series:
    """``function`` of a text column, applied in pieces of at most :data:`PIECE_ROWS` rows;
    a piece it leaves unchanged is kept as it is, so that a column needing no change
    costs no copy (and a column needing one is never held twice in full)."""
    import pyarrow.compute as pc

    column = text.array.__arrow_array__()
    pieces, changed = [], False
    for chunk in column.chunks:
        for start in range(0, max(len(chunk), 1), PIECE_ROWS):
            piece = chunk.slice(start, PIECE_ROWS)
            result = function(piece)
            same = pc.and_(pc.equal(piece.is_null(), result.is_null()), pc.fill_null(pc.equal(piece, result), True))
            if pc.all(same).as_py() is False:
                pieces.append(result)
                changed = True
            else:
                pieces.append(piece)
    if not changed:
        return text
    array = pa.chunked_array(pieces, type=column.type)
    return pd.Series(pd.arrays.ArrowStringArray(array, dtype=_STR), index=text.index, copy=False)


def to_text(values: pd.Series) -> pd.Series:
    """Any column as pandas ``str`` values (missing stay missing), whatever it holds:
    bytes are read as UTF-8 (an undecodable byte becomes U+FFFD, so the value is
    reported as unparsable instead of crashing the run), and instants a local
    calendar cannot write (a year-1 time west of UTC) are written in UTC."""
    try:
        return values.astype("str")
    except UnicodeDecodeError:
        return pd.Series([_decoded(v) for v in values.tolist()], index=values.index, dtype="str")
    except (NotImplementedError, ValueError, OverflowError):
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            return values.dt.tz_convert("UTC").astype("str")
        if not isinstance(values.dtype, pd.ArrowDtype):
            raise
    # An arrow date beyond Python's years (a Parquet date32 of year -221): arrow writes it.
    text = values.array.__arrow_array__().cast(pa.large_string())
    return pd.Series(pd.arrays.ArrowStringArray(text, dtype=_STR), index=values.index, copy=False)


def _decoded(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    return value if value is None or isinstance(value, str) else str(value)


def _whole_ids(finite: np.ndarray) -> bool:
    # Beyond int64 a float cannot be an integer id: it is kept as written ("1e+20").
    return bool(
        np.all(np.isfinite(finite)) and np.all(finite == np.round(finite)) and np.all(np.abs(finite) < _INT64_LIMIT)
    )


def _text_values(values: Any) -> np.ndarray:
    """:func:`_as_text` of a column (array or Series) as an object array of str and None.

    Plain strings, missing values, integers and whole floats are converted here,
    value by value; any other column goes through :func:`_as_text` itself.
    """
    dtype = values.dtype
    n = len(values)
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        # Arrow hands over str and None in one call; iterating the pandas array costs ~1 us a value.
        return _stripped(values.__arrow_array__().to_pylist())
    if isinstance(dtype, pd.StringDtype) or dtype == object:
        items = list(values)
        if all(type(v) is str or v is None or (type(v) is float and v != v) for v in items):
            return _stripped([v if type(v) is str else None for v in items])
    elif isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return _stripped([str(v) for v in values.tolist()])
    elif isinstance(dtype, np.dtype) and dtype.kind == "f":
        numbers = np.asarray(values)
        given = ~np.isnan(numbers)
        if not given.any():
            return np.full(n, None, dtype=object)
        if _whole_ids(numbers[given]):
            return _object_array([str(int(v)) if v == v else None for v in numbers.tolist()])
    return _from_series(_as_text(pd.Series(values, dtype=dtype, copy=False)))


def _stripped(items: list[str | None]) -> np.ndarray:
    # str.strip() removes the same characters as arrow's utf8_trim_whitespace (checked over all of Unicode).
    return _object_array([None if v is None else (v.strip() or None) for v in items])


def _object_array(items: list[Any]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def _from_series(text: pd.Series) -> np.ndarray:
    return _object_array([v if isinstance(v, str) else None for v in text.tolist()])


def _fold(text: Text, *, upper: bool) -> Text:
    """Text in upper or lower case (arrow's Unicode rules; Python's agree on ASCII)."""
    if isinstance(text, pd.Series):
        import pyarrow.compute as pc

        return _map_pieces(text, pc.utf8_upper if upper else pc.utf8_lower)
    items = text.tolist()
    if "".join(filter(None, items)).isascii():
        if upper:
            return _object_array([None if v is None else v.upper() for v in items])
        return _object_array([None if v is None else v.lower() for v in items])
    return _from_series(_fold(_to_series(text), upper=upper))


def _to_series(text: Text) -> pd.Series:
    """Text as a pandas ``str`` Series (positional index)."""
    if isinstance(text, pd.Series):
        return text
    return pd.Series(_str_array(text), copy=False)


def _str_array(text: Text) -> Any:
    """Text as the pandas ``str`` array a clean table holds."""
    if isinstance(text, pd.Series):
        return text.array
    # What pd.array(text, dtype="str") builds from str and None, at a third of its cost.
    return pd.arrays.ArrowStringArray(pa.array(text, type=pa.large_string()), dtype=_STR)


def _missing(text: Text) -> np.ndarray:
    if isinstance(text, pd.Series):
        return text.isna().to_numpy()
    return np.equal(text, None)  # elementwise: an object array holds str and None only


def _take(text: Text, positions: np.ndarray) -> Text:
    if isinstance(text, pd.Series):
        # Through the array: Series.iloc costs four times as much on millions of rows.
        return pd.Series(_take_array(text.array, positions), copy=False)
    return text[positions]


def _take_array(array: Any, positions: np.ndarray) -> Any:
    """``array.take(positions)``; an arrow-backed array is taken chunk by chunk, since
    arrow's own take first joins every chunk into one copy of the whole column."""
    arrow = getattr(array, "__arrow_array__", None)
    if arrow is None or not isinstance(array, pd.arrays.ArrowExtensionArray):
        return array.take(positions)
    column = arrow()
    if column.num_chunks <= 1 or len(positions) == 0:
        return array.take(positions)
    positions = np.asarray(positions, dtype=np.int64)
    order = None
    if np.any(positions[1:] < positions[:-1]):
        order = np.argsort(positions, kind="stable")
        positions = positions[order]
    bounds = np.cumsum([0, *(len(chunk) for chunk in column.chunks)])
    cuts = np.searchsorted(positions, bounds)
    pieces = [_take_chunk(chunk, positions[lo:hi] - start) for chunk, start, lo, hi
              in zip(column.chunks, bounds[:-1], cuts[:-1], cuts[1:], strict=True) if hi > lo]
    taken = pa.chunked_array(pieces, type=column.type)
    if order is not None:
        taken = taken.take(pa.array(np.argsort(order, kind="stable")))
    return type(array)(taken, dtype=array.dtype) if isinstance(array, pd.arrays.ArrowStringArray) \
        else type(array)(taken)


def _take_chunk(chunk: Any, positions: np.ndarray) -> Any:
    """One chunk's values at ``positions`` (sorted); the chunk itself when they are all of
    it in order, as when few rows of a file are set aside: no copy of the rest."""
    whole = len(positions) == len(chunk) and (len(chunk) == 0 or positions[0] == 0)
    if whole and np.all(np.diff(positions) == 1):
        return chunk
    return chunk.take(pa.array(positions))


def _at(text: Text, position: int) -> str | None:
    value = text.iat[position] if isinstance(text, pd.Series) else text[position]
    return value if isinstance(value, str) else None


def _isin(values: Text, allowed: Text | Collection[Any]) -> np.ndarray:
    """Membership as a bool array; missing values are never members.

    pandas' ``isin`` on arrow-backed text builds a Python object per allowed
    value (about 0.6 s for 2M rows against 100k ids); pyarrow's takes 0.07 s.
    For a small object array a Python set is quicker than either.
    """
    if isinstance(values, np.ndarray):
        members = _member_set(allowed)
        return np.array([v in members for v in values.tolist()], dtype=bool)
    import pyarrow.compute as pc

    haystack = _haystack(allowed) if isinstance(allowed, tuple) else _arrow_set(allowed)
    needles = pa.array(values.astype("str")).cast(pa.large_string())
    found = pc.fill_null(pc.is_in(needles, value_set=haystack), False)
    return found.to_numpy(zero_copy_only=False)


def _member_set(allowed: Any) -> frozenset[str] | set[str]:
    if isinstance(allowed, tuple):
        return _vocabulary(allowed)
    items = allowed.tolist() if isinstance(allowed, (np.ndarray, pd.Series, pd.Index)) else allowed
    return {v for v in items if isinstance(v, str)}


@functools.cache
def _vocabulary(allowed: tuple[str, ...]) -> frozenset[str]:
    """A vocabulary of the schema as a set, built once per process."""
    return frozenset(v for v in allowed if isinstance(v, str))


@functools.cache
def _haystack(allowed: tuple[str, ...]) -> Any:
    """A vocabulary of the schema as an arrow array, built once per process."""
    return _arrow_set(allowed)


def _arrow_set(allowed: Any) -> Any:
    return pa.array(pd.Series(allowed, dtype="str").dropna().unique()).cast(pa.large_string())


def _repeated(text: Text) -> np.ndarray:
    """True for each given value that appears more than once (missing values never do)."""
    if isinstance(text, pd.Series):
        return (text.duplicated(keep=False) & text.notna()).to_numpy()
    items = text.tolist()
    counts = Counter(items)
    return np.array([v is not None and counts[v] > 1 for v in items], dtype=bool)


def _value_counts(text: Text) -> list[tuple[str, int]]:
    """Given values with their counts, most frequent first, ties in order of first appearance."""
    if isinstance(text, pd.Series):
        return [(str(k), int(v)) for k, v in text.value_counts().items()]
    counts = Counter(text.tolist())  # in order of first appearance
    counts.pop(None, None)
    # pandas' value_counts sorts stably by count: the same order.
    return sorted(counts.items(), key=lambda item: -item[1])


def _n_unique(text: Text) -> int:
    if isinstance(text, pd.Series):
        return int(text.nunique())
    return len({v for v in text if v is not None})


# ---------------------------------------------------------------------------
# Instants and counts
# ---------------------------------------------------------------------------


def _parse_timestamps(values: Any, text: Text) -> tuple[np.ndarray, np.ndarray]:
    """ISO-8601 to UTC: offsets are converted, values without one are read as UTC.

    Returns the instants as ``datetime64[us]`` (UTC, NaT where missing or
    unparsable) and a mask of the parsed values outside the years
    :data:`~mqlscore.contract.schema.EARLIEST` to ``LATEST`` (never NaT: a
    year-1 or year-9999 value is out of range, not unparsable).
    """
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        instants, beyond = _native_instants(pd.Series(values, copy=False))
    elif _missing(text).all():
        # A column nobody filled in (common in requests): nothing to parse.
        instants, beyond = np.full(len(text), _NAT), np.zeros(len(text), dtype=bool)
    elif (micros := _common_iso_micros(text)) is not None:
        instants, beyond = np.array(micros, dtype="int64").view("datetime64[us]"), np.zeros(len(text), dtype=bool)
    elif isinstance(text, pd.Series) and len(text) > PIECE_ROWS:
        # pandas' parser makes a Python string of every value: parse in pieces to bound that.
        instants, beyond = np.empty(len(text), dtype="datetime64[us]"), np.empty(len(text), dtype=bool)
        for start in range(0, len(text), PIECE_ROWS):
            piece = text.iloc[start:start + PIECE_ROWS].reset_index(drop=True)
            instants[start:start + PIECE_ROWS], beyond[start:start + PIECE_ROWS] = _parse_iso(piece)
    else:
        instants, beyond = _parse_iso(text)
    out_of_range = beyond | (instants < _EARLIEST) | (instants >= _LATEST)
    return instants, out_of_range


def _parse_iso(text: Text) -> tuple[np.ndarray, np.ndarray]:
    """ISO-8601 text to ``datetime64[us]`` UTC instants, and where a value lies beyond nanoseconds."""
    # One call handles mixed offsets and naive values per element (checked on pandas 3.1).
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    beyond = np.zeros(len(text), dtype=bool)
    if parsed.dtype != _UTC:
        # A value with nanoseconds makes pandas parse all in nanoseconds, whose range
        # (1677-2262) turns year 1 or 9999 into NaT: tell those from unparsable text.
        beyond = _beyond_nanoseconds(parsed, text)
        parsed = parsed.astype(TIMESTAMP_DTYPE)
    return np.array(parsed.to_numpy(dtype="datetime64[us]"), dtype="datetime64[us]"), beyond


def _common_iso_micros(text: Text) -> list[int] | None:
    """Microseconds since 1970 (UTC) of a few timestamps, NaT where missing; None
    when some value is not in a common spelling (pandas then parses them all)."""
    if not isinstance(text, np.ndarray) or len(text) > _COMMON_ISO_MAX:
        return None
    out: list[int] = []
    for value in text.tolist():
        if value is None:
            out.append(_NAT_MICROS)
            continue
        match = _COMMON_ISO.fullmatch(value)
        if match is None:
            return None
        year, month, day, hour, minute, second, fraction, offset = match.groups()
        hours, minutes, seconds = int(hour or 0), int(minute or 0), int(second or 0)
        if hours > 23 or minutes > 59 or seconds > 59:
            return None
        try:
            days = date(int(year), int(month), int(day)).toordinal() - _EPOCH_DAY
        except ValueError:
            return None
        total = days * 86_400 + hours * 3_600 + minutes * 60 + seconds
        if offset and offset != "Z":
            offset_hours, offset_minutes = int(offset[1:3]), int(offset[4:6])
            if offset_hours > 23 or offset_minutes > 59:
                return None
            total -= (offset_hours * 3_600 + offset_minutes * 60) * (1 if offset[0] == "+" else -1)
        out.append(total * 1_000_000 + int((fraction or "").ljust(6, "0")))
    return out


def _native_instants(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Instants of a datetime column (Parquet); naive values are read as UTC."""
    if isinstance(values.dtype, pd.ArrowDtype):
        values = _numpy_instants(values)
    utc = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
    beyond = np.zeros(len(utc), dtype=bool)
    if utc.dt.unit in ("s", "ms"):
        # Seconds reach further than microseconds can hold: such values are out of range, not a crash.
        naive = utc.dt.tz_localize(None).to_numpy()
        given = ~np.isnat(naive)
        beyond = given & ((naive < _EARLIEST.astype(naive.dtype)) | (naive >= _LATEST.astype(naive.dtype)))
        if beyond.any():
            utc = utc.mask(beyond)
    instants = utc.astype(TIMESTAMP_DTYPE).to_numpy(dtype="datetime64[us]")
    return np.array(instants, dtype="datetime64[us]"), beyond


def _numpy_instants(values: pd.Series) -> pd.Series:
    """An arrow-backed date or timestamp column as numpy-backed instants (dates as midnight)."""
    array = values.array.__arrow_array__()
    if pa.types.is_date(array.type):
        array = array.cast(pa.timestamp("s"))  # seconds hold any date arrow can
    return pd.Series(array.to_pandas(), copy=False)


def _beyond_nanoseconds(parsed: Any, text: Text) -> np.ndarray:
    lost = np.asarray(pd.isna(parsed)) & ~_missing(text)
    beyond = np.zeros(len(lost), dtype=bool)
    if lost.any():
        positions = np.flatnonzero(lost)
        texts = [_NANOSECONDS.sub(r"\1", _at(text, p) or "") for p in positions]
        again = pd.to_datetime(pd.Index(texts, dtype=object), utc=True, format="ISO8601", errors="coerce")
        again = np.asarray(again.to_numpy(dtype="datetime64[us]"))
        beyond[positions] = ~np.isnat(again) & ((again < _EARLIEST) | (again >= _LATEST))
    return beyond


def _parse_counts(values: Any, text: Text) -> np.ndarray:
    """Counts as float64 (NaN where missing or not a number)."""
    dtype = values.dtype
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        if isinstance(dtype, np.dtype):
            return np.asarray(values).astype("float64")
        return np.array(pd.Series(values, copy=False).astype("float64").to_numpy(), dtype="float64")
    if isinstance(text, np.ndarray):
        items = text.tolist()
        if all(v is None or _PLAIN_COUNT.fullmatch(v) for v in items):
            return np.array([np.nan if v is None else float(int(v)) for v in items], dtype="float64")
    numbers = pd.to_numeric(_to_series(text), errors="coerce").astype("float64")
    return np.array(numbers.to_numpy(), dtype="float64")


def _utc_array(instants: np.ndarray) -> Any:
    """``datetime64[us]`` UTC instants as the pandas array a clean table holds."""
    if len(instants) > PIECE_ROWS:
        # pd.array holds two copies on the way (the quickest route for a request's few values).
        return pd.DatetimeIndex(instants, copy=False).tz_localize("UTC").array
    return pd.array(instants, dtype=_UTC)


def _iso_texts(instants: np.ndarray) -> list[str]:
    """Instants as ISO-8601 UTC text with ``Z`` (whole seconds unless some value has a fraction)."""
    micros = instants.astype("int64")
    unit = "us" if np.any(micros % 1_000_000 != 0) else "s"
    return [f"{t}Z" for t in np.datetime_as_string(instants.astype(f"datetime64[{unit}]"), unit=unit)]


# ---------------------------------------------------------------------------
# The as-of time
# ---------------------------------------------------------------------------


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
    return _parse_as_of_text(str(value).strip())


@functools.lru_cache(maxsize=256)
def _parse_as_of_text(text: str) -> pd.Timestamp:
    # A service passes the same few as-of times again and again; Timestamps are immutable.
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
    when = parse_as_of(value) if isinstance(value, str) else _to_utc(value)
    _check_as_of_range(when)
    return when


def _check_as_of_range(when: pd.Timestamp) -> None:
    """Raise ValueError when an as-of time lies outside the years the contract takes."""
    if not EARLIEST <= when < LATEST:
        raise ValueError(f"as-of time {when.isoformat().replace('+00:00', 'Z')} is {OUT_OF_RANGE}")


def _as_instant(ts: pd.Timestamp) -> np.datetime64:
    """A UTC Timestamp as a ``datetime64[us]`` to compare with parsed instants."""
    return ts.tz_convert(None).as_unit("us").to_datetime64()


def _timestamp(instant: np.datetime64) -> pd.Timestamp:
    return pd.Timestamp(instant).tz_localize("UTC")

