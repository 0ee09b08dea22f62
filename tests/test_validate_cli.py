"""`mqlscore validate DIR`: summary, exit codes, lenient rejects, no personal data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mqlscore.cli import app

LEADS = """\
lead_id,created_at,email,job_title,org_type,employee_count
L1,2024-01-01T09:00:00Z,ada@mercy.org,Chief Medical Officer,hospital,1200
L2,2024-01-02T09:00:00+01:00,bob@payer.com,VP Benefits,payer,35
L3,2024-01-03,cy@clinic.net,Practice Manager,physician_group,12
"""
ACTIVITIES = """\
lead_id,occurred_at,activity_type,detail
L1,2024-01-05T10:00:00Z,page_view,/pricing
L1,2024-01-05T10:00:00Z,page_view,/pricing
L1,2024-01-06T10:00:00Z,demo_request,
L2,2024-01-07T12:00:00Z,phone_call,
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


def make_folder(root: Path, leads: str = LEADS, activities: str = ACTIVITIES, outcomes: str = OUTCOMES) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in (("leads", leads), ("activities", activities), ("outcomes", outcomes)):
        (root / f"{name}.csv").write_text(text, encoding="utf-8")
    return root


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["validate", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_a_valid_folder_prints_the_summary_and_exits_0(tmp_path: Path) -> None:
    code, output = run(str(make_folder(tmp_path)))
    assert code == 0, output
    for expected in (
        "leads",
        "activities",
        "outcomes",
        "2024-01-01T09:00:00Z to 2024-02-15T00:00:00Z",  # time range in UTC
        "2024-02-15T00:00:00Z (latest timestamp in the data)",
        "1 at or before the as-of time",  # one SQL, one disqualification
        "demo_request",
        "phone_call",
        "canonical",
        "other",
        "1 exact duplicate row counted once",
        "Valid",
    ):
        assert expected in output, expected
    assert "'phone_call' 1" in output  # the unknown type is a warning, printed


def test_as_of_option(tmp_path: Path) -> None:
    code, output = run(str(make_folder(tmp_path)), "--as-of", "2024-01-06")
    assert code == 0, output
    assert "2024-01-06T00:00:00Z (given)" in output
    assert "SQLs" in output and "0 at or before the as-of time" in output


def test_a_bad_as_of_is_a_usage_error(tmp_path: Path) -> None:
    code, output = run(str(make_folder(tmp_path)), "--as-of", "tomorrow")
    assert code == 2
    flat = " ".join(output.replace("│", " ").split())  # typer boxes and wraps usage errors
    assert "'tomorrow' is not an ISO-8601 timestamp" in flat


@pytest.mark.parametrize(
    ("leads", "outcomes", "expected"),
    [
        (
            LEADS.replace("created_at", "created"),
            OUTCOMES,
            ["leads.created_at: required column 'created_at' is missing"],
        ),
        (
            LEADS.replace(",35", ",-35"),
            OUTCOMES,
            ["leads.employee_count: 1 row with a negative count (row 3 lead_id=L2"],
        ),
        (
            LEADS + "L1,2024-01-09,,,,\n",
            OUTCOMES,
            ["leads.lead_id: 2 rows with a duplicate lead_id", "row 2 lead_id=L1, row 5 lead_id=L1"],
        ),
        (
            LEADS,
            OUTCOMES.replace("2024-02-01", "2023-02-01"),
            ["outcomes.sql_at: 1 row with sql_at before the lead's created_at (row 2 lead_id=L1"],
        ),
        (
            LEADS,
            OUTCOMES.replace("2024-02-15", "2023-02-15"),
            ["outcomes.disqualified_at: 1 row with disqualified_at before"],
        ),
        (
            LEADS.replace("2024-01-03", "03/01/2024"),
            OUTCOMES,
            ["leads.created_at: 1 row with an unparsable timestamp", "value='03/01/2024'"],
        ),
        (
            LEADS.replace("2024-01-03", ""),
            OUTCOMES,
            ["leads.created_at: 1 row with an empty required value (row 4 lead_id=L3)"],
        ),
    ],
)
def test_an_invalid_folder_prints_every_error_and_exits_1(
    tmp_path: Path, leads: str, outcomes: str, expected: list[str]
) -> None:
    folder = make_folder(tmp_path, leads=leads, outcomes=outcomes)
    code, output = run(str(folder))
    assert code == 1, output
    for text in expected:
        assert text in output
    assert "Traceback" not in output
    assert "Not valid" in output
    assert not (folder / "rejects.csv").exists()
    for value in PERSONAL:
        assert value not in output


LENIENT_CASES = {
    "unparsable required value": (
        LEADS.replace("2024-01-03", "03/01/2024"),
        OUTCOMES,
        "leads",
        4,
        "unparsable timestamp",
    ),
    "empty required value": (LEADS.replace("2024-01-03", ""), OUTCOMES, "leads", 4, "empty required value"),
    "duplicate lead_id": (LEADS + "L3,2024-01-09,,,,\n", OUTCOMES, "leads", 4, "duplicate lead_id"),
    "sql_at before created_at": (
        LEADS,
        OUTCOMES.replace("2024-02-01", "2023-02-01"),
        "outcomes",
        2,
        "sql_at before the lead's created_at (2024-01-01T09:00:00Z)",
    ),
    "disqualified_at before created_at": (
        LEADS,
        OUTCOMES.replace("2024-02-15", "2023-02-15"),
        "outcomes",
        3,
        "disqualified_at before the lead's created_at (2024-01-02T08:00:00Z)",
    ),
    "negative count": (LEADS.replace(",35", ",-35"), OUTCOMES, "leads", 3, "negative count"),
}


@pytest.mark.parametrize("case", list(LENIENT_CASES))
def test_lenient_puts_each_bad_row_in_the_rejects_with_its_reason(tmp_path: Path, case: str) -> None:
    leads, outcomes, table, row, reason = LENIENT_CASES[case]
    folder = make_folder(tmp_path, leads=leads, outcomes=outcomes)
    code, output = run(str(folder), "--lenient")
    assert code == 0, output
    rejects = pd.read_csv(folder / "rejects.csv")
    mine = rejects[(rejects["table"] == table) & (rejects["row"] == row)]
    assert mine["reason"].tolist() == [reason]
    assert "Usable" in output
    for value in PERSONAL:
        assert value not in output


def test_several_errors_are_all_printed(tmp_path: Path) -> None:
    leads = LEADS.replace(",35", ",-35").replace("2024-01-03", "soon")
    code, output = run(str(make_folder(tmp_path, leads=leads)))
    assert code == 1
    assert "leads.employee_count" in output and "leads.created_at" in output
    assert "2 error(s)" in output


def test_lenient_writes_the_rejects_and_exits_0(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, leads=LEADS.replace(",35", ",-35"))
    code, output = run(str(folder), "--lenient")
    assert code == 0, output
    rejects = pd.read_csv(folder / "rejects.csv")
    leads_rejected = rejects[rejects["table"] == "leads"]
    assert leads_rejected["row"].tolist() == [3]
    assert leads_rejected["reason"].tolist() == ["negative count"]
    # the lead's activity and outcome follow it into the rejects
    assert set(rejects.loc[rejects["table"] != "leads", "reason"]) == {"unknown lead: its leads row was rejected"}
    assert f"{len(rejects)} row(s) set aside, written to {folder / 'rejects.csv'}" in output
    for value in PERSONAL:
        assert value not in output
    # a second run ignores the rejects file sitting in the folder
    code, _ = run(str(folder), "--lenient")
    assert code == 0


def test_lenient_with_a_rejects_path(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "in", outcomes=OUTCOMES + "NOPE,2024-01-20,\n")
    target = tmp_path / "elsewhere" / "bad-rows.csv"
    code, output = run(str(folder), "--lenient", "--rejects", str(target))
    assert code == 0, output
    rejects = pd.read_csv(target)
    assert rejects[["table", "row", "lead_id", "reason"]].values.tolist() == [
        ["outcomes", 4, "NOPE", "unknown lead: lead_id not in leads"]
    ]
    assert not (folder / "rejects.csv").exists()


def test_structural_errors_stop_even_with_lenient(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, leads=LEADS.replace("lead_id", "id"))
    code, output = run(str(folder), "--lenient")
    assert code == 1
    assert "leads.lead_id: required column 'lead_id' is missing" in output


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda root: root / "missing", "does not exist"),
        (lambda root: root, "no leads table"),
    ],
)
def test_user_mistakes_exit_1_without_a_traceback(tmp_path: Path, setup, expected: str) -> None:
    code, output = run(str(setup(tmp_path)))
    assert code == 1
    assert expected in output and "Traceback" not in output


def test_parquet_folder(tmp_path: Path) -> None:
    pd.DataFrame(
        {"lead_id": ["A", "B"], "created_at": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True)}
    ).to_parquet(tmp_path / "leads.parquet")
    code, output = run(str(tmp_path))
    assert code == 0, output
    assert "leads.parquet" in output


def test_a_timestamp_outside_1900_to_2199_exits_1_naming_table_column_and_row(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, leads=LEADS.replace("2024-01-03", "1850-01-03"))
    code, output = run(str(folder))
    assert code == 1, output
    assert (
        "leads.created_at: 1 row with a timestamp outside the years 1900-2199 (row 4 lead_id=L3 value='1850-01-03')"
        in output
    )
    assert "Not valid" in output and "Traceback" not in output


def test_a_year_9999_timestamp_exits_1_and_lenient_sets_its_row_aside(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, activities=ACTIVITIES.replace("2024-01-07T12:00:00Z", "9999-12-31T00:00:00Z"))
    code, output = run(str(folder))
    assert code == 1, output
    assert "activities.occurred_at: 1 row with a timestamp outside the years 1900-2199 (row 5 lead_id=L2" in output
    code, output = run(str(folder), "--lenient")
    assert code == 0, output
    rejects = pd.read_csv(folder / "rejects.csv")
    assert rejects[["table", "row", "reason"]].values.tolist() == [
        ["activities", 5, "timestamp outside the years 1900-2199"]
    ]
