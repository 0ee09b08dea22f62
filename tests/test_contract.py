"""The input data contract: loading, UTC, as-of time, errors, warnings and rejects."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mqlscore.contract import (
    TIMESTAMP_DTYPE,
    ContractError,
    Problem,
    load_folder,
    parse_as_of,
    read_tables,
    validate_tables,
    write_rejects,
    write_tables,
)

LEADS = """\
lead_id,created_at,email,job_title,org_type,employee_count,lead_source,campaign
L1,2024-01-01T09:00:00Z,ada@mercy.org,Chief Medical Officer,Hospital,1200,webinar,spring
L2,2024-01-02,bob@payer.com,VP Benefits, payer ,35,Referral,spring
L3,2024-01-03T10:00:00+02:00,cy@clinic.net,Practice Manager,physician_group,,direct,fall
"""
ACTIVITIES = """\
lead_id,occurred_at,activity_type,detail
L1,2024-01-05T10:00:00Z,page_view,/pricing
L1,2024-01-06T10:00:00Z,demo_request,
L2,2024-01-07T12:00:00Z,email_open,March newsletter
L3,2024-01-08T12:00:00Z,webinar_attended,FHIR 101
"""
OUTCOMES = """\
lead_id,sql_at,disqualified_at
L1,2024-02-01T00:00:00Z,
L2,,2024-02-15T00:00:00Z
"""
PERSONAL = (
    "ada@mercy.org",
    "bob@payer.com",
    "cy@clinic.net",
    "Chief Medical Officer",
    "VP Benefits",
    "Practice Manager",
)


def make_folder(
    root: Path, leads: str = LEADS, activities: str | None = ACTIVITIES, outcomes: str | None = OUTCOMES
) -> Path:
    """Write a small CSV export; None leaves a table out."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in (("leads", leads), ("activities", activities), ("outcomes", outcomes)):
        if text is not None:
            (root / f"{name}.csv").write_text(text, encoding="utf-8")
    return root


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def assert_no_personal_data(text: str) -> None:
    for value in PERSONAL:
        assert value not in text, value


# --- a valid folder --------------------------------------------------------------


def test_valid_folder_gives_clean_typed_tables(tmp_path: Path) -> None:
    data = load_folder(make_folder(tmp_path))
    leads, activities, outcomes = data.leads, data.activities, data.outcomes
    assert len(leads) == 3 and len(activities) == 4 and len(outcomes) == 2
    assert str(leads["created_at"].dtype) == TIMESTAMP_DTYPE
    assert str(activities["occurred_at"].dtype) == TIMESTAMP_DTYPE
    assert str(outcomes["sql_at"].dtype) == TIMESTAMP_DTYPE
    assert leads["employee_count"].dtype == np.float64
    assert np.isnan(leads["employee_count"].iloc[2])
    assert leads["lead_id"].tolist() == ["L1", "L2", "L3"]
    # categorical columns are stripped and lower-cased; the extra column is kept
    assert leads["org_type"].tolist() == ["hospital", "payer", "physician_group"]
    assert leads["lead_source"].tolist() == ["webinar", "referral", "direct"]
    assert leads["campaign"].tolist() == ["spring", "spring", "fall"]
    assert data.report.ok and data.rejects.empty
    assert data.report.rows_read == {"leads": 3, "activities": 4, "outcomes": 2}
    assert data.report.n_sql == 1 and data.report.n_disqualified == 1


def test_timestamps_are_utc_whatever_the_offset(tmp_path: Path) -> None:
    leads = LEADS + "L4,2024-01-04T09:00:00-05:00,,,,,,\nL5,2024-01-04 14:00,,,,,,\n"
    data = load_folder(make_folder(tmp_path, leads=leads))
    created = dict(zip(data.leads["lead_id"], data.leads["created_at"], strict=True))
    assert created["L1"] == pd.Timestamp("2024-01-01T09:00:00Z")
    assert created["L2"] == pd.Timestamp("2024-01-02T00:00:00Z")  # date only: midnight UTC
    assert created["L3"] == pd.Timestamp("2024-01-03T08:00:00Z")  # +02:00 converted
    assert created["L4"] == pd.Timestamp("2024-01-04T14:00:00Z")  # -05:00 converted
    assert created["L5"] == pd.Timestamp("2024-01-04T14:00:00Z")  # no offset: read as UTC


def test_missing_optional_tables_give_empty_frames_with_the_contract_columns(tmp_path: Path) -> None:
    data = load_folder(make_folder(tmp_path, activities=None, outcomes=None))
    assert data.activities.empty and data.outcomes.empty
    assert list(data.activities.columns) == ["lead_id", "occurred_at", "activity_type"]
    assert list(data.outcomes.columns) == ["lead_id", "sql_at", "disqualified_at"]
    assert str(data.outcomes["sql_at"].dtype) == TIMESTAMP_DTYPE
    assert data.as_of == pd.Timestamp("2024-01-03T08:00:00Z")


# --- errors: each names the table, the column, the rows and the count ---------------

BAD_INPUTS = {
    "missing required column": (
        dict(activities=ACTIVITIES.replace("activity_type", "kind")),
        "activities.activity_type",
        "required column 'activity_type' is missing",
        [],
    ),
    "unparsable required value": (
        dict(leads=edit(LEADS, "2024-01-02,", "last tuesday,")),
        "leads.created_at",
        "1 row with an unparsable timestamp",
        ["row 3 lead_id=L2 value not shown (text of 12 characters)"],  # words alone may be a name
    ),
    "empty required value": (
        dict(activities=edit(ACTIVITIES, "L2,2024-01-07T12:00:00Z,email_open", "L2,,email_open")),
        "activities.occurred_at",
        "1 row with an empty required value",
        ["row 4 lead_id=L2"],
    ),
    "empty lead_id": (
        dict(outcomes=OUTCOMES + " ,2024-03-01,\n"),
        "outcomes.lead_id",
        "1 row with an empty required value",
        ["row 4"],
    ),
    "duplicate lead_id": (
        dict(leads=LEADS + "L2,2024-01-09,,,,,,\n"),
        "leads.lead_id",
        "2 rows with a duplicate lead_id",
        ["row 3 lead_id=L2", "row 5 lead_id=L2"],
    ),
    "sql_at before created_at": (
        dict(outcomes=edit(OUTCOMES, "L1,2024-02-01T00:00:00Z", "L1,2023-12-31T00:00:00Z")),
        "outcomes.sql_at",
        "1 row with sql_at before the lead's created_at",
        ["row 2 lead_id=L1 value='2023-12-31T00:00:00Z'"],
    ),
    "disqualified_at before created_at": (
        dict(outcomes=edit(OUTCOMES, "L2,,2024-02-15T00:00:00Z", "L2,,2024-01-01T23:00:00Z")),
        "outcomes.disqualified_at",
        "1 row with disqualified_at before the lead's created_at",
        ["row 3 lead_id=L2 value='2024-01-01T23:00:00Z'"],
    ),
    "negative count": (
        dict(leads=edit(LEADS, ",35,", ",-35,")),
        "leads.employee_count",
        "1 row with a negative count",
        ["row 3 lead_id=L2 value='-35'"],
    ),
    "count not a whole number": (
        dict(leads=edit(LEADS, ",35,", ',"1,000",')),
        "leads.employee_count",
        "1 row with a count that is not a whole number",
        ["row 3 lead_id=L2 value='1,000'"],
    ),
    "unparsable optional timestamp": (
        dict(outcomes=edit(OUTCOMES, "L2,,2024-02-15T00:00:00Z", "L2,,next week")),
        "outcomes.disqualified_at",
        "1 row with an unparsable timestamp",
        ["row 3 lead_id=L2 value not shown (text of 9 characters)"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_each_bad_input_is_an_error_naming_table_column_rows_and_count(tmp_path: Path, case: str) -> None:
    tables, where, phrase, rows = BAD_INPUTS[case]
    folder = make_folder(tmp_path, **tables)
    with pytest.raises(ContractError) as caught:
        load_folder(folder)
    message = str(caught.value)
    line = next(line for line in message.splitlines() if where in line)
    assert phrase in line
    for row in rows:
        assert row in line
    problem = next(p for p in caught.value.report.errors if p.location == where)
    if rows:
        assert problem.count == len(rows)
        assert [e["row"] for e in problem.examples] == sorted(int(r.split()[1]) for r in rows)
    assert_no_personal_data(message)


@pytest.mark.parametrize("case", [c for c in BAD_INPUTS if c != "missing required column"])
def test_lenient_mode_sets_each_bad_row_aside_with_its_reason(tmp_path: Path, case: str) -> None:
    tables, where, _, rows = BAD_INPUTS[case]
    table, column = where.split(".")
    data = load_folder(make_folder(tmp_path, **tables), lenient=True)
    rejected = data.rejects[(data.rejects["table"] == table) & (data.rejects["column"].str.contains(column))]
    expected_rows = sorted(int(r.split()[1]) for r in rows)
    assert sorted(rejected["row"].tolist()) == expected_rows
    assert rejected["reason"].str.len().min() > 0
    for record in rejected["record"]:
        assert isinstance(json.loads(record), dict)
    assert not data.report.ok  # the errors are still reported, with their rows set aside


def test_missing_required_column_stops_even_in_lenient_mode(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, leads=LEADS.replace("created_at", "Created_At"))
    with pytest.raises(ContractError) as caught:
        load_folder(folder, lenient=True)
    assert "leads.created_at: required column 'created_at' is missing" in str(caught.value)
    assert "found 'Created_At'" in str(caught.value)


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    leads = edit(edit(LEADS, ",35,", ",-35,"), "2024-01-02,", "soon,")
    outcomes = edit(OUTCOMES, "L1,2024-02-01T00:00:00Z", "L1,2023-12-31T00:00:00Z")
    with pytest.raises(ContractError) as caught:
        load_folder(make_folder(tmp_path, leads=leads, outcomes=outcomes))
    locations = {p.location for p in caught.value.report.errors}
    assert locations == {"leads.created_at", "leads.employee_count", "outcomes.sql_at"}


def test_duplicate_lead_id_reports_every_row_and_counts_beyond_the_examples(tmp_path: Path) -> None:
    leads = LEADS + "".join(f"L1,2024-01-0{i},,,,,,\n" for i in range(1, 8))
    with pytest.raises(ContractError) as caught:
        load_folder(make_folder(tmp_path, leads=leads))
    problem = caught.value.report.errors[0]
    assert problem.location == "leads.lead_id" and problem.count == 8
    assert [e["row"] for e in problem.examples] == [2, 5, 6, 7, 8]
    assert str(problem).endswith(", ...)")


# --- lenient mode: nothing is dropped silently ---------------------------------------


def test_a_rejected_outcome_takes_its_lead_and_activities_aside(tmp_path: Path) -> None:
    outcomes = edit(OUTCOMES, "L1,2024-02-01T00:00:00Z", "L1,2023-12-31T00:00:00Z")
    data = load_folder(make_folder(tmp_path, outcomes=outcomes), lenient=True)
    assert "L1" not in set(data.leads["lead_id"])
    assert "L1" not in set(data.activities["lead_id"]) and "L1" not in set(data.outcomes["lead_id"])
    reasons = {(r.table, r.row): r.reason for r in data.rejects.itertuples()}
    assert reasons[("outcomes", 2)].startswith("sql_at before the lead's created_at")
    assert reasons[("leads", 2)] == "its outcomes row 2 was rejected"
    assert reasons[("activities", 2)] == reasons[("activities", 3)] == "unknown lead: its leads row was rejected"


def test_every_row_not_kept_is_a_reject_or_counted_in_a_warning(tmp_path: Path) -> None:
    leads = edit(LEADS, ",35,", ",-35,") + "L9,2030-01-01,,,,,,\n"
    activities = ACTIVITIES + "L1,2024-01-05T10:00:00Z,page_view,/pricing\nLX,2024-01-05,page_view,\n"
    data = load_folder(make_folder(tmp_path, leads=leads, activities=activities), lenient=True, as_of="2025-01-01")
    report = data.report
    assert report.rows_kept == {"leads": 2, "activities": 3, "outcomes": 1}
    for table in ("leads", "activities", "outcomes"):
        rejected = int((data.rejects["table"] == table).sum())
        # rows removed without a reject: created after as-of, or exact duplicates
        removing = ("removed", "ignored", "counted once")
        counted = sum(p.count for p in report.warnings if p.table == table and any(w in p.message for w in removing))
        assert report.rows_read[table] - report.rows_kept[table] == rejected + counted, table


# --- as-of time ------------------------------------------------------------------------


def test_as_of_defaults_to_the_latest_timestamp_in_any_table(tmp_path: Path) -> None:
    data = load_folder(make_folder(tmp_path))
    assert data.as_of == pd.Timestamp("2024-02-15T00:00:00Z")  # outcomes.disqualified_at
    assert not data.report.as_of_given
    assert data.report.time_min == pd.Timestamp("2024-01-01T09:00:00Z")


def test_given_as_of_removes_or_forgets_later_facts_and_counts_them(tmp_path: Path) -> None:
    leads = LEADS + "L4,2024-03-01,,,,,,\n"
    activities = ACTIVITIES + "L4,2024-03-02,page_view,\n"
    outcomes = OUTCOMES + "L4,2024-03-05,\n"
    data = load_folder(make_folder(tmp_path, leads, activities, outcomes), as_of="2024-01-06T12:00:00+02:00")
    assert data.as_of == pd.Timestamp("2024-01-06T10:00:00Z") and data.report.as_of_given
    assert set(data.leads["lead_id"]) == {"L1", "L2", "L3"}  # L4 created after as-of
    assert data.activities["occurred_at"].max() <= data.as_of
    assert len(data.activities) == 2  # the L1 demo request at exactly as-of stays
    assert data.outcomes["sql_at"].isna().all() and data.outcomes["disqualified_at"].isna().all()
    assert data.report.n_sql == 0
    messages = {p.location: p for p in data.report.warnings}
    assert messages["leads.created_at"].count == 1
    assert "1 row of activities and 1 row of outcomes" in messages["leads.created_at"].message
    assert messages["activities.occurred_at"].count == 2
    assert messages["outcomes.sql_at"].count == 1
    assert messages["outcomes.disqualified_at"].count == 1


def test_parse_as_of() -> None:
    assert parse_as_of(None) is None
    assert parse_as_of("2024-01-01") == pd.Timestamp("2024-01-01T00:00:00Z")
    assert parse_as_of("2024-01-01T12:00:00+02:00") == pd.Timestamp("2024-01-01T10:00:00Z")
    with pytest.raises(ValueError, match="not an ISO-8601 timestamp"):
        parse_as_of("01/02/2024")


# --- warnings ------------------------------------------------------------------------


def test_warnings_never_stop_and_keep_what_the_contract_keeps(tmp_path: Path) -> None:
    leads = edit(LEADS, "physician_group", "Clinic")
    activities = ACTIVITIES + "L2,2024-01-07T13:00:00Z,Phone_Call,\nNOPE,2024-01-07T13:00:00Z,page_view,\n"
    outcomes = OUTCOMES + "L3,2024-01-20,2024-01-25\nGHOST,2024-01-20,\n"
    data = load_folder(make_folder(tmp_path, leads, activities, outcomes))
    warnings = {p.location: p for p in data.report.warnings}
    assert warnings["activities.lead_id"].count == 1
    assert "unknown leads set aside" in warnings["activities.lead_id"].message
    assert warnings["outcomes.lead_id"].count == 1
    assert "'phone_call' 1" in warnings["activities.activity_type"].message
    assert "phone_call" in set(data.activities["activity_type"])  # unknown type kept
    assert "'clinic' 1" in warnings["leads.org_type"].message
    assert "clinic" in set(data.leads["org_type"])  # unknown category kept
    assert "both sql_at and disqualified_at" in warnings["outcomes"].message
    assert "NOPE" not in set(data.activities["lead_id"]) and "GHOST" not in set(data.outcomes["lead_id"])
    assert data.report.other_activity_types == {"phone_call": 1}


def test_exact_duplicate_activities_count_once(tmp_path: Path) -> None:
    activities = ACTIVITIES + (
        "L1,2024-01-05T10:00:00Z,page_view,/pricing\n"  # the same row again
        "L1,2024-01-05T12:00:00+02:00,Page_View,/pricing\n"  # the same instant, other spelling
        "L1,2024-01-05T10:00:00Z,page_view,/docs\n"  # differs by detail: kept
    )
    data = load_folder(make_folder(tmp_path, activities=activities))
    assert data.report.n_duplicate_activities == 2
    assert len(data.activities) == 5
    assert data.report.activity_types["page_view"] == 2


def test_several_outcome_rows_for_a_lead_are_combined_with_a_warning(tmp_path: Path) -> None:
    outcomes = OUTCOMES + "L1,2024-01-20T00:00:00Z,\nL1,,2024-03-01\n"
    data = load_folder(make_folder(tmp_path, outcomes=outcomes))
    row = data.outcomes.set_index("lead_id").loc["L1"]
    assert row["sql_at"] == pd.Timestamp("2024-01-20T00:00:00Z")
    assert row["disqualified_at"] == pd.Timestamp("2024-03-01T00:00:00Z")
    assert len(data.outcomes) == 2
    warning = next(p for p in data.report.warnings if "several outcome rows" in p.message)
    assert warning.count == 3


# --- personal data ------------------------------------------------------------------


def test_no_personal_data_in_messages_warnings_or_summary(tmp_path: Path) -> None:
    leads = LEADS.replace("2024-01-02,", "bad,") + "LX,2024-01-09,,,,,,\nLX,2024-01-09,dup@x.org,Nurse,,,,\n"
    leads = leads.replace("spring\nL3", "carol@leak.com\nL3")  # an email where a campaign should be
    activities = ACTIVITIES + "L3,2024-01-09,page_view,\nZZ,2024-01-09,page_view,\n"
    with pytest.raises(ContractError) as caught:
        load_folder(make_folder(tmp_path, leads, activities))
    report = caught.value.report
    assert_no_personal_data(str(caught.value) + report.to_text())
    data = load_folder(make_folder(tmp_path, leads, activities), lenient=True)
    assert_no_personal_data(data.report.to_text())
    # the rejects file keeps the original record: it sits next to the user's own data
    assert "bob@payer.com" in " ".join(data.rejects["record"])


def test_an_email_in_a_non_personal_column_is_redacted(tmp_path: Path) -> None:
    leads = edit(LEADS, "2024-01-02,", "bob2@payer.com,")
    with pytest.raises(ContractError) as caught:
        load_folder(make_folder(tmp_path, leads=leads))
    assert "payer.com" not in str(caught.value)
    assert "value='<redacted: looks like an email>'" in str(caught.value)


# --- reading files -------------------------------------------------------------------


def test_parquet_input_with_native_types(tmp_path: Path) -> None:
    leads = pd.DataFrame(
        {
            "lead_id": [101, 102],  # integer ids become text
            "created_at": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 10:00"]).tz_localize("Europe/Berlin"),
            "employee_count": [10, 20],
        }
    )
    activities = pd.DataFrame(
        {"lead_id": ["101"], "occurred_at": pd.to_datetime(["2024-01-03"]), "activity_type": ["page_view"]}
    )
    tmp_path.mkdir(exist_ok=True)
    leads.to_parquet(tmp_path / "leads.parquet")
    activities.to_parquet(tmp_path / "activities.parquet")
    data = load_folder(tmp_path)
    assert data.leads["lead_id"].tolist() == ["101", "102"]
    assert data.leads["created_at"].iloc[0] == pd.Timestamp("2024-01-01T09:00:00Z")
    assert data.activities["occurred_at"].iloc[0] == pd.Timestamp("2024-01-03T00:00:00Z")
    assert data.leads["employee_count"].dtype == np.float64


def test_parquet_rows_are_numbered_from_one(tmp_path: Path) -> None:
    pd.DataFrame({"lead_id": ["A1", "B1", "A1"], "created_at": ["2024-01-01"] * 3}).to_parquet(
        tmp_path / "leads.parquet")
    with pytest.raises(ContractError, match=r"row 1 lead_id=A1, row 3 lead_id=A1"):
        load_folder(tmp_path)


def test_row_numbers_are_lines_of_the_file_even_with_multiline_values(tmp_path: Path) -> None:
    leads = 'lead_id,created_at,note\nL1,2024-01-01,"two\nlines"\n\nL2,oops,x\n'
    with pytest.raises(ContractError, match=r"row 5 lead_id=L2"):
        load_folder(make_folder(tmp_path, leads=leads, activities=None, outcomes=None))


def test_bom_and_crlf_are_read(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_bytes("\ufefflead_id,created_at\r\nL1,2024-01-01\r\n".encode())
    assert load_folder(tmp_path).leads["lead_id"].tolist() == ["L1"]


def test_csv_is_read_as_text_so_ids_keep_their_zeros(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_text("lead_id,created_at,zip\n007,2024-01-01,02139\n")
    tables = read_tables(tmp_path)
    assert tables["leads"]["zip"].iloc[0] == "02139"
    assert tables["leads"].index.name == "row" and tables["leads"].index[0] == 2
    assert load_folder(tmp_path).leads["lead_id"].iloc[0] == "007"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({}, "no leads table"),
        ({"leads.csv": b""}, "leads.csv is empty"),
        ({"leads.csv": b"lead_id,created_at\n"}, "the leads table has no rows"),
        ({"leads.csv": b"lead_id,created_at\nL1,2024-01-01\nL2,2024-01-01,extra\n"}, "line 3 has 3 fields"),
        ({"leads.csv": b"lead_id,created_at\nL\xff1,2024-01-01\n"}, "is not valid utf-8-sig text"),
        ({"leads.parquet": b"not parquet at all"}, "could not be read as Parquet"),
        ({"leads.csv": LEADS.encode(), "leads.parquet": b"x"}, "both leads.csv and leads.parquet"),
        ({"leads.csv": LEADS.encode(), "Activities.csv": ACTIVITIES.encode()}, "file names are exact and lower case"),
    ],
)
def test_user_mistakes_with_files_are_clear_errors(tmp_path: Path, files: dict[str, bytes], expected: str) -> None:
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    with pytest.raises(ContractError, match=expected):
        load_folder(tmp_path)


def test_a_folder_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="does not exist"):
        load_folder(tmp_path / "nope")


def test_a_corrupt_row_never_leaks_its_content(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_text("lead_id,created_at\nL1,2024-01-01,ada@mercy.org\n")
    with pytest.raises(ContractError) as caught:
        load_folder(tmp_path)
    assert "ada@mercy.org" not in str(caught.value)


def test_other_files_in_the_folder_are_ignored(tmp_path: Path) -> None:
    make_folder(tmp_path)
    (tmp_path / "rejects.csv").write_text("garbage")
    (tmp_path / "notes.txt").write_text("hello")
    assert set(read_tables(tmp_path)) == {"leads", "activities", "outcomes"}


# --- writing ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_write_tables_round_trips(tmp_path: Path, fmt: str) -> None:
    data = load_folder(make_folder(tmp_path / "in"))
    write_tables(data, tmp_path / "out", fmt=fmt)
    again = load_folder(tmp_path / "out")
    for name in ("leads", "activities", "outcomes"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(data, name), check_dtype=False)
    if fmt == "csv":
        first = (tmp_path / "out" / "leads.csv").read_text().splitlines()[1]
        assert "2024-01-01T09:00:00Z" in first and ",1200," in first


def test_write_tables_refuses_a_folder_holding_the_other_format(tmp_path: Path) -> None:
    data = load_folder(make_folder(tmp_path / "in"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "leads.parquet").write_bytes(b"old")
    with pytest.raises(FileExistsError, match="leads.parquet"):
        write_tables(data, out, fmt="csv")
    assert not (out / "leads.csv").exists()


def test_write_rejects_writes_the_reject_columns(tmp_path: Path) -> None:
    data = load_folder(make_folder(tmp_path, leads=edit(LEADS, ",35,", ",-35,")), lenient=True)
    path = write_rejects(data.rejects, tmp_path / "x" / "rejects.csv")
    frame = pd.read_csv(path)
    assert list(frame.columns) == ["table", "row", "lead_id", "column", "reason", "record"]
    assert frame.loc[frame["table"] == "leads", "row"].tolist() == [3]


def test_problem_reads_as_one_line() -> None:
    problem = Problem(
        "error",
        "leads",
        "created_at",
        "3 rows with an unparsable timestamp",
        3,
        [{"row": 12, "lead_id": "L00012", "value": "not a date"}],
    )
    assert str(problem) == (
        "leads.created_at: 3 rows with an unparsable timestamp (first: row 12 lead_id=L00012 value='not a date', ...)"
    )


def test_validate_tables_accepts_frames_built_in_memory() -> None:
    leads = pd.DataFrame({"lead_id": ["a1", "b1"], "created_at": ["2024-01-01", "later"]})
    with pytest.raises(ContractError, match=r"row 2 lead_id=b1"):
        validate_tables({"leads": leads})


# --- timestamps the contract cannot take ----------------------------------------------

OUT_OF_RANGE_INPUTS = {
    "created_at before 1900": (
        dict(leads=edit(LEADS, "2024-01-02,", "1899-12-31T23:59:59Z,")),
        "leads.created_at",
        ["row 3 lead_id=L2 value='1899-12-31T23:59:59Z'"],
    ),
    "created_at in 2200": (
        dict(leads=edit(LEADS, "2024-01-02,", "2200-01-01,")),
        "leads.created_at",
        ["row 3 lead_id=L2 value='2200-01-01'"],
    ),
    "created_at before 1900 in UTC only": (
        dict(leads=edit(LEADS, "2024-01-02,", "1900-01-01T00:30:00+01:00,")),
        "leads.created_at",
        ["row 3 lead_id=L2 value='1900-01-01T00:30:00+01:00'"],
    ),
    "occurred_at in year 1": (
        dict(activities=edit(ACTIVITIES, "2024-01-07T12:00:00Z", "0001-01-01T00:00:00Z")),
        "activities.occurred_at",
        ["row 4 lead_id=L2 value='0001-01-01T00:00:00Z'"],
    ),
    "sql_at in year 9999": (
        dict(outcomes=edit(OUTCOMES, "L1,2024-02-01T00:00:00Z", "L1,9999-12-31T23:59:59Z")),
        "outcomes.sql_at",
        ["row 2 lead_id=L1 value='9999-12-31T23:59:59Z'"],
    ),
    "disqualified_at in year 9999": (
        dict(outcomes=edit(OUTCOMES, "L2,,2024-02-15T00:00:00Z", "L2,,9999-01-01")),
        "outcomes.disqualified_at",
        ["row 3 lead_id=L2 value='9999-01-01'"],
    ),
}


@pytest.mark.parametrize("case", list(OUT_OF_RANGE_INPUTS))
def test_a_timestamp_outside_1900_to_2199_is_an_error_naming_table_column_and_rows(tmp_path: Path, case: str) -> None:
    tables, where, rows = OUT_OF_RANGE_INPUTS[case]
    with pytest.raises(ContractError) as caught:
        load_folder(make_folder(tmp_path, **tables))
    problem = next(p for p in caught.value.report.errors if p.location == where)
    assert problem.message == "1 row with a timestamp outside the years 1900-2199"
    assert problem.count == 1
    assert f"{where}: 1 row with a timestamp outside the years 1900-2199 ({rows[0]})" in str(caught.value)
    assert len(caught.value.report.errors) == 1  # not also "unparsable"


@pytest.mark.parametrize("case", list(OUT_OF_RANGE_INPUTS))
def test_lenient_mode_sets_out_of_range_timestamps_aside(tmp_path: Path, case: str) -> None:
    tables, where, rows = OUT_OF_RANGE_INPUTS[case]
    table, column = where.split(".")
    data = load_folder(make_folder(tmp_path, **tables), lenient=True)
    rejected = data.rejects[(data.rejects["table"] == table) & (data.rejects["column"] == column)]
    assert rejected["row"].tolist() == [int(rows[0].split()[1])]
    assert rejected["reason"].tolist() == ["timestamp outside the years 1900-2199"]
    assert data.leads["created_at"].between("1900-01-01T00:00:00Z", "2199-12-31T23:59:59.999999Z").all()


def test_the_first_and_last_instants_of_the_range_are_taken(tmp_path: Path) -> None:
    leads = edit(edit(LEADS, "2024-01-02,", "1900-01-01T00:00:00Z,"), "L3,2024-01-03T10:00:00+02:00",
                 "L3,2199-12-31T23:59:59.999999Z")
    data = load_folder(make_folder(tmp_path, leads=leads, outcomes=None), as_of="2199-12-31T23:59:59.999999Z")
    assert data.report.ok
    assert data.leads["created_at"].min() == pd.Timestamp("1900-01-01T00:00:00Z")
    assert data.leads["created_at"].max() == pd.Timestamp("2199-12-31T23:59:59.999999Z")


def test_year_1_and_9999_are_out_of_range_even_beside_nanosecond_values() -> None:
    # A value with nanoseconds makes pandas parse the column in nanoseconds (years
    # 1677-2262): years 1 and 9999 must still be found out of range, not unparsable.
    leads = pd.DataFrame(
        {
            "lead_id": ["a", "b", "c", "d"],
            "created_at": ["2024-01-01T00:00:00.123456789Z", "0001-01-01", "9999-12-31T23:59:59.999999999Z", "x"],
        }
    )
    with pytest.raises(ContractError) as caught:
        validate_tables({"leads": leads})
    errors = {p.message: p for p in caught.value.report.errors}
    assert [e["row"] for e in errors["2 rows with a timestamp outside the years 1900-2199"].examples] == [2, 3]
    assert [e["row"] for e in errors["1 row with an unparsable timestamp"].examples] == [4]


def test_native_timestamps_out_of_range_are_errors_not_crashes() -> None:
    created = np.array(["2024-01-01", "0001-01-01", "9999-12-31", "300000-01-01"], dtype="datetime64[s]")
    leads = pd.DataFrame({"lead_id": ["a", "b", "c", "d"], "created_at": created})
    with pytest.raises(ContractError) as caught:
        validate_tables({"leads": leads})
    (problem,) = caught.value.report.errors
    assert problem.location == "leads.created_at"
    assert problem.message == "3 rows with a timestamp outside the years 1900-2199"
    data = validate_tables({"leads": leads}, lenient=True)
    assert data.leads["lead_id"].tolist() == ["a"]
    assert data.rejects["row"].tolist() == [2, 3, 4]


# --- examples per problem ------------------------------------------------------------


def test_max_examples_lists_more_offending_rows(tmp_path: Path) -> None:
    leads = LEADS + "".join(f"L1,2024-01-0{i},,,,,,\n" for i in range(1, 8))
    activities = ACTIVITIES + "".join(f"X{i},2024-01-05,page_view,\n" for i in range(8))
    folder = make_folder(tmp_path, leads=leads, activities=activities)
    with pytest.raises(ContractError) as caught:
        load_folder(folder, max_examples=20)
    problem = caught.value.report.errors[0]
    assert problem.count == 8 and [e["row"] for e in problem.examples] == [2, 5, 6, 7, 8, 9, 10, 11]
    assert not str(problem).endswith(", ...)")
    unknown = next(p for p in caught.value.report.warnings if p.location == "activities.lead_id")
    assert len(unknown.examples) == unknown.count == 8
    with pytest.raises(ContractError) as caught:
        validate_tables(read_tables(folder), max_examples=0)
    assert caught.value.report.errors[0].examples == [] and caught.value.report.errors[0].count == 8


def test_max_examples_must_be_a_whole_number_not_below_zero() -> None:
    leads = pd.DataFrame({"lead_id": ["a"], "created_at": ["2024-01-01"]})
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="max_examples"):
            validate_tables({"leads": leads}, max_examples=bad)


# --- inputs that used to crash validation -------------------------------------------


def test_an_outcomes_table_when_every_lead_has_an_error_is_reported_not_a_crash(tmp_path: Path) -> None:
    leads = "lead_id,created_at,employee_count\nL1,2024-01-01,-5\n"
    folder = make_folder(tmp_path, leads=leads, activities=None, outcomes="lead_id,sql_at\nL1,2024-02-01\n")
    with pytest.raises(ContractError) as caught:
        load_folder(folder)
    assert [p.location for p in caught.value.report.errors] == ["leads.employee_count"]
    with pytest.raises(ContractError, match="no lead left to use"):
        load_folder(folder, lenient=True)


def test_a_count_too_large_for_an_integer_is_kept_as_a_number() -> None:
    leads = pd.DataFrame({"lead_id": ["a", "b"], "created_at": ["2024-01-01"] * 2, "employee_count": [1e20, 3.0]})
    data = validate_tables({"leads": leads})
    assert data.leads["employee_count"].tolist() == [1e20, 3.0]
