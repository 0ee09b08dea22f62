"""Any input gives a result or a clear error, never a traceback (issue 11, defect 7).

Property-based tests over the contract (``validate_tables`` on random tables), the
importer (``import_tables`` on random raw files with a mapping) and the command line
(``mqlscore validate`` and ``mqlscore import`` on random folders), with the inputs
that once crashed them as fixed cases. Each property runs a bounded number of
examples (``max_examples``, about 10-30 s each).
"""

from __future__ import annotations

import csv
import io
import itertools
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import mqlscore.contract.validate as validate_module
from mqlscore.cli import app
from mqlscore.contract import CONTRACT_COLUMNS, REQUIRED_COLUMNS, ContractError, Dataset, load_folder, validate_tables
from mqlscore.importer import MappingError, import_tables



def bounded(max_examples: int) -> settings:
    """Settings of one property: a bounded number of examples (10-30 s), no deadline."""
    return settings(max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck),
                    print_blob=True)


# --- values and columns ------------------------------------------------------------------

_CELLS = ["", " ", "L1", "L2", "L1 ", "2024-01-01", "2024-01-02T10:00:00Z", "1/5/2024", "45296", "45300.5",
          "1899-12-31", "2199-12-31", "9999-12-31", "0001-01-01", "1e308", "-3", "1,200", "hospital", "EPIC",
          "Dr Jane Secret", "ada@mercy.org", "x\ny", "a,b", '"q"', "ß", "\u00a0", "NaN", "None", "true"]
_cell = st.one_of(st.sampled_from(_CELLS), st.text(max_size=6))
_NAMES = sorted({c for columns in CONTRACT_COLUMNS.values() for c in columns} | {"extra", "notes", "", " lead_id",
                                                                                  "Lead_ID", "0"})


def _instants(n: int) -> st.SearchStrategy[list[Any]]:
    return st.lists(st.one_of(st.none(), st.integers(-2**62, 2**62)), min_size=n, max_size=n)


# Arrow columns of every kind a Parquet file may hold.
_ARROW = {
    "str": lambda n: st.lists(st.one_of(st.none(), _cell), min_size=n, max_size=n).map(
        lambda v: pa.array(v, pa.string())),
    "dictionary": lambda n: st.lists(st.one_of(st.none(), _cell), min_size=n, max_size=n).map(
        lambda v: pa.array(v, pa.string()).dictionary_encode()),
    "bool": lambda n: st.lists(st.one_of(st.none(), st.booleans()), min_size=n, max_size=n).map(pa.array),
    "struct": lambda n: st.lists(st.one_of(st.none(), st.fixed_dictionaries({"a": st.integers(0, 3)})),
                                 min_size=n, max_size=n).map(lambda v: pa.array(v, pa.struct([("a", pa.int64())]))),
    "list": lambda n: st.lists(st.one_of(st.none(), st.lists(st.integers(0, 3), max_size=2)), min_size=n,
                               max_size=n).map(lambda v: pa.array(v, pa.list_(pa.int64()))),
    "binary": lambda n: st.lists(st.one_of(st.none(), st.binary(max_size=5), st.just(b"2024-01-01"),
                                           st.just(b"\xff\x80")), min_size=n, max_size=n).map(
        lambda v: pa.array(v, pa.binary())),
    "float": lambda n: st.lists(st.one_of(st.none(), st.floats(), st.sampled_from([1e308, -1e308, 2.0**63])),
                                min_size=n, max_size=n).map(lambda v: pa.array(v, pa.float64())),
    "int": lambda n: st.lists(st.one_of(st.none(), st.integers(-2**63, 2**63 - 1)), min_size=n, max_size=n).map(
        lambda v: pa.array(v, pa.int64())),
    "uint": lambda n: st.lists(st.one_of(st.none(), st.integers(0, 2**64 - 1)), min_size=n, max_size=n).map(
        lambda v: pa.array(v, pa.uint64())),
    "timestamp": lambda n: st.tuples(_instants(n), st.sampled_from(["s", "ms", "us", "ns"]),
                                     st.sampled_from([None, "UTC", "America/New_York", "Asia/Kolkata"])).map(
        lambda a: pa.array([None if v is None else v // (10**9 if a[1] == "s" else 10**6 if a[1] == "ms" else 1)
                            for v in a[0]], pa.timestamp(a[1], a[2]))),
    "date": lambda n: st.lists(st.one_of(st.none(), st.integers(-700_000, 2_900_000)), min_size=n, max_size=n).map(
        lambda v: pa.array(v, pa.date32())),
    "duration": lambda n: st.lists(st.one_of(st.none(), st.integers(-2**40, 2**40)), min_size=n, max_size=n).map(
        lambda v: pa.array(v, pa.duration("s"))),
    "null": lambda n: st.just(pa.nulls(n)),
}


@st.composite
def arrow_column(draw: Any, n: int) -> pa.Array:
    kind = draw(st.sampled_from([*_ARROW, "str", "str", "str"]))
    return draw(_ARROW[kind](n))


@st.composite
def frame_column(draw: Any, n: int) -> pd.Series:
    """A column as a caller may hand it over: text, numbers, booleans, bytes, dicts, lists,
    instants in any unit and zone, categories, or an arrow-backed array of any kind."""
    form = draw(st.sampled_from(["arrow", "object", "str", "str", "float", "category", "mixed"]))
    if form == "arrow":
        array = draw(arrow_column(n))
        try:
            return pd.Series(array.to_pandas(types_mapper=pd.ArrowDtype) if draw(st.booleans()) else array.to_pandas())
        except (pa.ArrowInvalid, OverflowError, ValueError):
            return pd.Series(pd.arrays.ArrowExtensionArray(array))
    if form == "float":
        return pd.Series(draw(st.lists(st.one_of(st.floats(), st.just(1e308)), min_size=n, max_size=n)), dtype=float)
    if form == "mixed":
        values = st.one_of(st.none(), _cell, st.floats(), st.integers(), st.booleans(), st.binary(max_size=3))
        return pd.Series(draw(st.lists(values, min_size=n, max_size=n)), dtype=object)
    cells = draw(st.lists(st.one_of(st.none(), _cell), min_size=n, max_size=n))
    return pd.Series(cells, dtype={"object": object, "str": "str", "category": "category"}[form])


def _column_names(draw: Any, table: str) -> list[str]:
    """Usually the required columns, then random ones: contract names, near misses and repeats."""
    names = list(REQUIRED_COLUMNS[table]) if draw(st.integers(0, 9)) else []
    names += draw(st.lists(st.sampled_from([*CONTRACT_COLUMNS[table], *_NAMES]), max_size=5))
    return draw(st.permutations(names))


@st.composite
def contract_tables(draw: Any) -> dict[str, pd.DataFrame]:
    tables = {}
    for table in ("leads", "activities", "outcomes"):
        if table == "leads" or draw(st.booleans()):
            n = draw(st.integers(0, 6))
            names = _column_names(draw, table)
            frame = pd.DataFrame({i: draw(frame_column(n)) for i in range(len(names))}, index=range(n))
            if n and draw(st.booleans()):  # rows given twice: exact duplicates, whatever the columns hold
                frame = pd.concat([frame, frame.iloc[: draw(st.integers(1, n))]], ignore_index=True)
            frame.columns = names  # repeats included
            tables[table] = frame
    return tables


@st.composite
def csv_file(draw: Any, names: list[str]) -> bytes:
    """A CSV file with the given header: random cells, a row with an extra field now and
    then, another encoding, a truncated file or plain noise."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(names)
    for _ in range(draw(st.integers(0, 5))):
        row = [draw(_cell) for _ in names]
        writer.writerow(row + ["spill"] if draw(st.integers(0, 9)) == 0 else row)
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "latin-1", "utf-16"]))
    try:
        data = buffer.getvalue().encode(encoding)
    except UnicodeEncodeError:
        data = buffer.getvalue().encode("utf-8")
    damage = draw(st.integers(0, 19))
    if damage == 0:
        data = data[: draw(st.integers(0, len(data)))]
    elif damage == 1:
        data = draw(st.binary(max_size=40))
    return data


@st.composite
def parquet_table(draw: Any, names: list[str]) -> pa.Table:
    n = draw(st.integers(0, 5))
    arrays = [draw(arrow_column(n)) for _ in names]
    return pa.Table.from_arrays(arrays, names=names) if names else pa.table({"x": pa.nulls(n)})


def write_table_file(path_without_suffix: Path, content: bytes | pa.Table) -> Path:
    """The content as CSV bytes or a Parquet file; a table arrow cannot store is skipped."""
    if isinstance(content, bytes):
        path = path_without_suffix.with_suffix(".csv")
        path.write_bytes(content)
        return path
    path = path_without_suffix.with_suffix(".parquet")
    try:
        pq.write_table(content, path)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        assume(False)
    return path


@st.composite
def export_folder(draw: Any) -> dict[str, bytes | pa.Table]:
    files: dict[str, bytes | pa.Table] = {}
    for table in ("leads", "activities", "outcomes"):
        if table == "leads" or draw(st.booleans()):
            names = _column_names(draw, table)
            files[table] = draw(st.one_of(csv_file(names), parquet_table(names)))
    return files


class Scratch:
    """Numbered folders in one temporary folder (hypothesis runs many examples per test)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="mqlscore-properties-"))
        self.count = itertools.count()

    def folder(self) -> Path:
        folder = self.root / str(next(self.count))
        folder.mkdir()
        return folder

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def scratch():  # noqa: ANN201
    made = Scratch()
    yield made
    made.close()


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


# --- the contract --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["value by value", "vectorised"])
@bounded(500)
@given(tables=contract_tables(), lenient=st.booleans(), as_of=st.sampled_from([None, "2024-06-01", "1900-01-01"]))
def test_any_tables_give_a_dataset_or_a_contract_error(path: str, tables: dict[str, pd.DataFrame], lenient: bool,
                                                        as_of: str | None) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(validate_module, "SMALL_INPUT_ROWS", 10**9 if path == "value by value" else 0)
        try:
            result = validate_tables(tables, lenient=lenient, as_of=as_of)
        except ContractError as exc:
            assert exc.report.errors and str(exc)
            return
    assert isinstance(result, Dataset) and not result.leads.empty
    assert result.report.ok or lenient


# --- the importer ----------------------------------------------------------------------------

MAPPING = """
sources:
  crm_leads: {path: LEADS}
  crm_activities: {path: ACTIVITIES}
tables:
  leads:
    source: crm_leads
    columns: {lead_id: id, created_at: created, employee_count: employees, org_type: kind}
    values:
      org_type: {map: {Hospital: hospital, Payer: payer}}
    dates:
      created_at: {format: DATE_FORMAT, timezone: America/New_York, day_time: end}
    numbers:
      employee_count: {thousands: ","}
    where:
      all: [{column: kind, not_in: [Test]}]
  activities:
    source: crm_activities
    columns: {lead_id: id, occurred_at: when, activity_type: type}
  outcomes:
    source: crm_leads
    columns:
      lead_id: id
      sql_at: {from: converted, when: {column: status, in: [Converted]}}
"""
RAW_COLUMNS = ["id", "created", "employees", "kind", "converted", "status", "when", "type"]


@st.composite
def raw_file(draw: Any) -> bytes | pa.Table:
    """A raw CRM file: usually every column the mapping reads, some missing or repeated."""
    names = RAW_COLUMNS[: draw(st.integers(0, len(RAW_COLUMNS)))] if draw(st.integers(0, 3)) == 0 else RAW_COLUMNS
    names = draw(st.permutations(names + draw(st.lists(st.sampled_from([*RAW_COLUMNS, "extra"]), max_size=2))))
    if draw(st.booleans()):
        return draw(csv_file(names))
    return draw(parquet_table(list(dict.fromkeys(names))))


@bounded(200)
@given(leads=raw_file(), activities=raw_file(), lenient=st.booleans(),
       date_format=st.sampled_from(["null", "'%m/%d/%Y'", "'%Y-%m-%d %H:%M'", "'%d.%m.%Y %z'"]))
def test_any_raw_files_import_or_give_a_clear_error(scratch: Scratch, leads: bytes | pa.Table,
                                                     activities: bytes | pa.Table, lenient: bool,
                                                     date_format: str) -> None:
    folder = scratch.folder()
    leads_path = write_table_file(folder / "crm_leads", leads)
    activities_path = write_table_file(folder / "crm_activities", activities)
    mapping = (MAPPING.replace("LEADS", leads_path.name).replace("ACTIVITIES", activities_path.name)
               .replace("DATE_FORMAT", date_format))
    (folder / "mapping.yaml").write_text(mapping)
    try:
        tables = import_tables(folder / "mapping.yaml")
        validate_tables(tables, lenient=lenient)
    except (MappingError, ContractError) as exc:
        assert str(exc)


# --- the command line --------------------------------------------------------------------------


@bounded(250)
@given(files=export_folder(), lenient=st.booleans())
def test_validate_on_any_folder_exits_0_or_1_with_a_message(scratch: Scratch, files: dict[str, bytes | pa.Table],
                                                             lenient: bool) -> None:
    folder = scratch.folder()
    for table, content in files.items():
        write_table_file(folder / table, content)
    code, output = cli("validate", str(folder), *(["--lenient"] if lenient else []))
    assert code in (0, 1), output
    assert ("Valid" in output or "Usable" in output) if code == 0 else "Not valid" in output


@bounded(120)
@given(leads=raw_file(), activities=raw_file())
def test_import_on_any_raw_files_exits_0_or_1_with_a_message(scratch: Scratch, leads: bytes | pa.Table,
                                                               activities: bytes | pa.Table) -> None:
    folder = scratch.folder()
    leads_path = write_table_file(folder / "crm_leads", leads)
    activities_path = write_table_file(folder / "crm_activities", activities)
    mapping = (MAPPING.replace("LEADS", leads_path.name).replace("ACTIVITIES", activities_path.name)
               .replace("DATE_FORMAT", "'%m/%d/%Y'"))
    (folder / "mapping.yaml").write_text(mapping)
    code, output = cli("import", "--mapping", str(folder / "mapping.yaml"), "--out", str(folder / "out"))
    assert code in (0, 1), output
    assert "Imported" in output if code == 0 else ("Not valid" in output or "Mapping problem" in output)


# --- inputs that crashed, as fixed cases ----------------------------------------------------------

OUTCOMES = "lead_id,sql_at\nL1,2024-03-01T00:00:00Z\n"


def _bool_column() -> pa.Array:
    return pa.array([True, False])


def _struct_column() -> pa.Array:
    return pa.array([{"a": 1}, {"a": 2}])


UNPARSABLE_CREATED_AT = {
    "Excel m/d/Y": "lead_id,created_at\nL1,1/5/2024\nL2,2/6/2024\n",
    "Excel serial numbers": "lead_id,created_at\nL1,45296\nL2,45300.5\n",
    "Parquet bool": _bool_column,
    "Parquet struct": _struct_column,
}


@pytest.mark.parametrize("case", list(UNPARSABLE_CREATED_AT))
def test_every_created_at_unparsable_with_dated_outcomes_is_an_error_in_each_command(tmp_path: Path,
                                                                                     case: str) -> None:
    given_leads = UNPARSABLE_CREATED_AT[case]
    folder = tmp_path / "export"
    folder.mkdir()
    if isinstance(given_leads, str):
        (folder / "leads.csv").write_text(given_leads)
    else:
        pq.write_table(pa.table({"lead_id": ["L1", "L2"], "created_at": given_leads()}), folder / "leads.parquet")
    (folder / "outcomes.csv").write_text(OUTCOMES)
    raw = next(folder.glob("leads.*"))
    (tmp_path / "mapping.yaml").write_text(
        f"sources:\n  crm: {{path: export/{raw.name}}}\n  won: {{path: export/outcomes.csv}}\n"
        "tables:\n  leads: {source: crm, columns: {lead_id: lead_id, created_at: created_at}}\n"
        "  outcomes: {source: won, columns: {lead_id: lead_id, sql_at: sql_at}}\n")
    for args in (["validate", str(folder)], ["validate", str(folder), "--lenient"],
                 ["import", "--mapping", str(tmp_path / "mapping.yaml"), "--out", str(tmp_path / "out")],
                 ["train", "--data", str(folder), "--no-register", "--report-dir", str(tmp_path / "models")]):
        code, output = cli(*args)
        assert code == 1, (args, output)
        assert "leads.created_at" in output and "unparsable timestamp" in output
        assert "Not valid" in output
    assert not (tmp_path / "out").exists() and not (tmp_path / "models").exists()


def test_a_csv_header_given_twice_is_an_error_naming_the_column(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_text("lead_id,created_at,org_type,created_at\nL1,2024-01-01,hospital,x\n")
    with pytest.raises(ContractError) as caught:
        load_folder(tmp_path)
    assert [str(p) for p in caught.value.report.errors] == ["leads.created_at: column 'created_at' appears more "
                                                            "than once"]
    code, output = cli("validate", str(tmp_path))
    assert code == 1 and "column 'created_at' appears more than once" in output


def test_a_parquet_column_given_twice_is_an_error_naming_the_column(tmp_path: Path) -> None:
    table = pa.Table.from_arrays([pa.array(["L1"]), pa.array(["2024-01-01"]), pa.array(["x"])],
                                 names=["lead_id", "created_at", "created_at"])
    pq.write_table(table, tmp_path / "leads.parquet")
    code, output = cli("validate", str(tmp_path))
    assert code == 1, output
    assert "leads.created_at" in output and "column 'created_at' appears more than once" in output


def test_a_raw_column_given_twice_is_a_mapping_error_only_when_the_mapping_reads_it(tmp_path: Path) -> None:
    (tmp_path / "crm.csv").write_text("id,created,notes,notes\nA1,2024-01-01,a,b\n")
    (tmp_path / "mapping.yaml").write_text(
        "sources:\n  crm: {path: crm.csv}\ntables:\n  leads: {source: crm, columns: {lead_id: id, created_at: "
        "created}}\n")
    assert import_tables(tmp_path / "mapping.yaml")["leads"]["lead_id"].tolist() == ["A1"]
    (tmp_path / "mapping.yaml").write_text((tmp_path / "mapping.yaml").read_text().replace(
        "created_at: created", "created_at: created, company_name: notes"))
    with pytest.raises(MappingError, match="raw column 'notes' appears more than once in crm.csv"):
        import_tables(tmp_path / "mapping.yaml")


@pytest.mark.parametrize("extra", [
    pd.Series([[1], [1], [2]], dtype=object),
    pd.Series([{"a": 1}, {"a": 1}, {"a": 2}], dtype=object),
    pd.Series(pd.arrays.ArrowExtensionArray(pa.array([[1], [1], [2]]))),
], ids=["lists", "dicts", "arrow lists"])
def test_duplicate_activities_with_values_that_cannot_be_hashed_are_counted_once(extra: pd.Series) -> None:
    # A Parquet list or struct column beside repeated rows once ended in "unhashable type".
    leads = pd.DataFrame({"lead_id": ["L1"], "created_at": ["2024-01-01"]})
    activities = pd.DataFrame({"lead_id": ["L1"] * 3, "occurred_at": ["2024-01-02"] * 3,
                               "activity_type": ["page_view"] * 3, "crm_tags": extra})
    data = validate_tables({"leads": leads, "activities": activities})
    assert data.report.n_duplicate_activities == 1 and len(data.activities) == 2


def test_bytes_that_are_not_utf8_are_unparsable_values_not_a_crash() -> None:
    leads = pd.DataFrame({"lead_id": ["L1", "L2"], "created_at": pd.Series([b"\xff", b"2024-01-01"], dtype=object)})
    with pytest.raises(ContractError, match="1 row with an unparsable timestamp"):
        validate_tables({"leads": leads})
    data = validate_tables({"leads": leads}, lenient=True)
    assert data.rejects["record"].tolist() == ['{"lead_id":"L1","created_at":"\ufffd"}']


def test_an_instant_whose_local_date_is_before_year_1_is_a_value_not_a_crash() -> None:
    # 04:56:01 UTC on 1 January of year 1 is still year 0 in New York's local mean time.
    instant = pd.Timestamp("0001-01-01T04:56:01").as_unit("s")
    column = pd.Series(np.array([instant.to_datetime64(), "NaT"], dtype="datetime64[s]")).dt.tz_localize("UTC")
    leads = pd.DataFrame({"lead_id": ["L1", "L2"], "created_at": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True),
                          "company_name": column.dt.tz_convert("America/New_York")})
    assert len(validate_tables({"leads": leads}).leads) == 2


def test_a_rejected_row_with_an_instant_beyond_year_9999_keeps_its_record() -> None:
    # pandas' JSON writer crashed the whole process on such a value (in a column outside the contract).
    far = np.array([np.datetime64(9 * 10**15, "ms"), np.datetime64("NaT", "ms"), np.datetime64("NaT", "ms")])
    leads = pd.DataFrame({"lead_id": ["L1", "L1", "L2"],
                          "created_at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"], utc=True),
                          "seen": pd.Series(far).dt.tz_localize("UTC").dt.tz_convert("America/New_York")})
    with pytest.raises(ContractError, match="duplicate lead_id"):
        validate_tables({"leads": leads})
    records = validate_tables({"leads": leads}, lenient=True).rejects["record"].tolist()
    expected = f'"seen":"{np.datetime_as_string(far[0])}Z"'
    assert expected in records[0] and '"seen":null' in records[1]
