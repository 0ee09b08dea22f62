"""Small inputs (a service request) are validated value by value, large ones
column by column: both must decide the same on any input.

Random small tables go through ``validate_tables`` twice, once down each path
(``SMALL_INPUT_ROWS`` set so that the same input takes the other one), and the
clean tables, the report and the rejects, or the error, must be identical.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mqlscore.contract.normalise as normalise_module
import mqlscore.contract.validate as validate_module
from mqlscore.contract import (CANONICAL_ACTIVITY_TYPES, EHR_VENDORS, ORG_TYPES, ContractError, Dataset,
                               validate_tables)

SMALL, LARGE = 10**9, 0  # values of SMALL_INPUT_ROWS that send every input down one path

# --- values --------------------------------------------------------------------------------

# Text with what CRMs put around and inside values: spaces of every kind, case, non-ASCII
# letters whose case rules differ between Python and arrow (ß, İ), emails, numbers.
_AWKWARD = ["", " ", "\t", "\u00a0", "\u2003", "\x1f", "ß", "İ", "ǅ", "ﬀ", "Ünï", "ada@mercy.org", "7", "7.0"]
_text = st.one_of(
    st.sampled_from(_AWKWARD),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=6),
    st.builds(lambda a, v, b: a + v + b, st.sampled_from(["", " ", "\u3000"]),
              st.sampled_from([*ORG_TYPES, *EHR_VENDORS, *CANONICAL_ACTIVITY_TYPES, "Hospital", "EPIC", "us", "ma",
                               "Straße", "İstanbul", "ǆ", "ŉ"]),
              st.sampled_from(["", " ", "\n"])),
)
_ids = st.one_of(*[st.sampled_from(["L1", "L2", "L3", "L4", "7"])] * 4,
                 st.sampled_from([" L1", "l1", "007", "", " ", "ada@mercy.org"]), _text)


def _part(usual: list[str], unusual: list[str]) -> st.SearchStrategy[str]:
    """One part of a timestamp: usually a valid one, sometimes one out of its range or oddly written."""
    return st.one_of(st.sampled_from(usual), st.sampled_from(usual), st.sampled_from(usual), st.sampled_from(unusual))


@st.composite
def _timestamps(draw: Any) -> str:
    """ISO-8601 spellings, common and not, valid and not, in range and out of it."""
    text = "-".join((draw(_part(["2024", "1900", "2199", "1969", "1970"], ["1899", "2200", "0001", "9999", "0000"])),
                     draw(_part(["01", "02", "12"], ["13", "00", "1"])),
                     draw(_part(["01", "28", "29", "31"], ["30", "32", "00"]))))
    if draw(st.booleans()):
        text += draw(_part(["T", " "], ["t", "  "]))
        text += draw(_part(["00", "09", "23"], ["24", "7"])) + ":" + draw(_part(["00", "30", "59"], ["60", "5"]))
        if draw(st.booleans()):
            text += ":" + draw(_part(["00", "59"], ["60"]))
            text += draw(_part(["", ".5", ".05", ".123456", ".000001"], [".", ".1234567", ".123456789", ",5"]))
        text += draw(_part(["", "Z", "+00:00", "-00:00", "+02:00", "-05:30", "+23:59"],
                           ["+24:00", "+02:60", "+0200", "+02", " Z", "z"]))
    return text


_stamps = st.one_of(st.sampled_from(["2024-01-01T09:00:00Z", "2024-01-02", "2024-01-03T10:00:00+02:00"]), _timestamps(),
                    st.sampled_from(["", " ", "soon", "2024-01", "20240102", "01/02/2024"]))
_counts = st.one_of(
    st.sampled_from(["12", "007", "-3", "-0", "+4", "1.5", "-2.5", "1e3", "1,000", "inf", "nan", "", "x", " 5 "]),
    st.integers(-5, 10**16).map(str),
)


def _maybe_missing(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(values, values, values, st.sampled_from([None, np.nan]))


@st.composite
def _column(draw: Any, values: st.SearchStrategy[Any], n: int, kind: str) -> pd.Series:
    """A column as a reader or a service would hand it over: text ("str" or object) or native."""
    cells = [draw(_maybe_missing(values)) for _ in range(n)]
    form = draw(st.sampled_from(["str", "object", "native"]))
    if form == "native" and kind == "count":
        numbers = draw(st.lists(st.sampled_from([12.0, 3.0, 0.0, -1.0, 2.5, np.nan, 1e20]), min_size=n, max_size=n))
        whole = all(np.isfinite(x) and x == int(x) and abs(x) < 1e18 for x in numbers)
        return pd.Series(numbers, dtype="int64" if whole and draw(st.booleans()) else "float64")
    if form == "native" and kind == "id":
        numbers = draw(st.lists(st.sampled_from([1.0, 2.0, 7.0, np.nan]), min_size=n, max_size=n))
        return pd.Series(numbers, dtype="int64" if not any(np.isnan(numbers)) else "float64")
    if form == "native" and kind == "time":
        unit = draw(st.sampled_from(["s", "ms", "us", "ns"]))
        pool = ["2024-01-01T10:00", "2024-01-02", "NaT"] + (["0001-01-01", "2300-06-01"] if unit != "ns" else [])
        picks = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
        stamps = pd.Series(np.array(picks, dtype=f"datetime64[{unit}]"))
        return stamps.dt.tz_localize("UTC").dt.tz_convert("Europe/Berlin") if draw(st.booleans()) else stamps
    if form == "str":
        return pd.Series([c if isinstance(c, str) else None for c in cells], dtype="str")
    return pd.Series(cells, dtype=object)


@st.composite
def _tables(draw: Any) -> tuple[dict[str, pd.DataFrame], str | None, bool]:
    n = draw(st.integers(1, 5))
    leads = {"lead_id": draw(_column(_ids, n, "id")), "created_at": draw(_column(_stamps, n, "time"))}
    optional = (("org_type", _text, "text"), ("employee_count", _counts, "count"), ("country", _text, "text"),
                ("job_title", _text, "text"), ("bed_count", _counts, "count"), ("campaign", _text, "text"))
    for name, values, kind in optional:
        if draw(st.booleans()):
            leads[name] = draw(_column(values, n, kind))
    raw = {"leads": leads}
    if draw(st.booleans()):
        m = draw(st.integers(0, 8))
        raw["activities"] = {"lead_id": draw(_column(_ids, m, "text")),
                             "occurred_at": draw(_column(_stamps, m, "time")),
                             "activity_type": draw(_column(_text, m, "text")),
                             "detail": draw(_column(_text, m, "text"))}
    if draw(st.booleans()):
        k = draw(st.integers(0, 4))
        raw["outcomes"] = {"lead_id": draw(_column(_ids, k, "text"))}
        for name in ("sql_at", "disqualified_at"):
            if draw(st.booleans()):
                raw["outcomes"][name] = draw(_column(_stamps, k, "time"))
    frames = {}
    for name, columns in raw.items():
        frame = pd.DataFrame(columns)
        if draw(st.booleans()):
            frame.index = pd.RangeIndex(2, len(frame) + 2, name="row")  # rows numbered as read from a CSV
        frames[name] = frame
    as_of = draw(st.sampled_from([None, "2024-01-01T12:00:00+02:00", "2024-06-01", "1990-01-01"]))
    return frames, as_of, draw(st.booleans())


# --- the comparison ----------------------------------------------------------------------


def _run(frames: dict[str, pd.DataFrame], as_of: str | None, lenient: bool, small_input_rows: int,
         piece_rows: int | None = None) -> Any:
    copies = {name: frame.copy() for name, frame in frames.items()}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(validate_module, "SMALL_INPUT_ROWS", small_input_rows)
        if piece_rows is not None:  # large columns are worked on in pieces: make every column large
            patch.setattr(normalise_module, "PIECE_ROWS", piece_rows)
            patch.setattr(validate_module, "PIECE_ROWS", piece_rows)
        try:
            result: Any = validate_tables(copies, as_of=as_of, lenient=lenient)
        except ContractError as exc:
            result = exc
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(copies[name], frame)  # the input is never changed
    return result


def _assert_same(small: Any, large: Any) -> None:
    assert type(small) is type(large)
    if isinstance(small, ContractError):
        assert dataclasses.asdict(small.report) == dataclasses.asdict(large.report)
        return
    assert isinstance(small, Dataset)
    for name in ("leads", "activities", "outcomes", "rejects"):
        pd.testing.assert_frame_equal(getattr(small, name), getattr(large, name), check_exact=True)
    assert small.as_of == large.as_of
    assert dataclasses.asdict(small.report) == dataclasses.asdict(large.report)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_tables())
def test_small_and_large_inputs_are_validated_alike(case: tuple[dict[str, pd.DataFrame], str | None, bool]) -> None:
    frames, as_of, lenient = case
    _assert_same(_run(frames, as_of, lenient, SMALL), _run(frames, as_of, lenient, LARGE))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_tables(), st.integers(1, 3))
def test_columns_worked_on_in_pieces_are_validated_alike(case: tuple[dict[str, pd.DataFrame], str | None, bool],
                                                         piece_rows: int) -> None:
    """Millions of rows are stripped, folded, parsed and searched a piece at a time (to
    bound memory): pieces of one to three rows must decide as whole columns do."""
    frames, as_of, lenient = case
    _assert_same(_run(frames, as_of, lenient, SMALL), _run(frames, as_of, lenient, LARGE, piece_rows))


@settings(max_examples=200, deadline=None)
@given(st.lists(_maybe_missing(_stamps), min_size=1, max_size=3))
def test_timestamps_are_read_alike_on_both_paths(stamps: list[Any]) -> None:
    """The common ISO-8601 spellings are read without pandas on small inputs;
    each value alone too, since one uncommon spelling sends a column to pandas."""
    for column in [stamps, *([stamp] for stamp in stamps)]:
        ids = [f"L{i}" for i in range(len(column))]
        leads = pd.DataFrame({"lead_id": ids, "created_at": pd.Series(column, dtype="str")})
        small = _run({"leads": leads}, "2024-06-01", True, SMALL)
        large = _run({"leads": leads}, "2024-06-01", True, LARGE)
        _assert_same(small, large)
