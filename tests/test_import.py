"""`mqlscore import`: declarative mappings, shipped examples, nothing written on errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mqlscore.cli import app
from mqlscore.contract import ContractError, load_folder, validate_tables
from mqlscore.importer import DateFormat, MappingError, ValueMap, convert_dates, import_tables, parse_mapping

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
OLIST = DATASETS / "olist_marketing_funnel"
BAD_OLIST_LEAD = "b91cf8812365f50ff4bda4bcd6206b05"  # its deal is dated two days before first contact
CLOSED_DEAL_ONLY_COLUMNS = (
    "seller_id",
    "sdr_id",
    "sr_id",
    "business_segment",
    "lead_type",
    "lead_behaviour_profile",
    "has_company",
    "has_gtin",
    "average_stock",
    "business_type",
    "declared_product_catalog_size",
    "declared_monthly_revenue",
)

needs_olist = pytest.mark.skipif(not OLIST.is_dir(), reason=f"Olist data set not found at {OLIST}")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["import", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


# --- a Salesforce-style export ------------------------------------------------------

SF_LEAD_HEADER = [
    "Lead ID",
    "First Name",
    "Last Name",
    "Title",
    "Email",
    "Phone",
    "Company / Account",
    "Account ID",
    "Industry",
    "Employees",
    "Lead Source",
    "Lead Status",
    "Created Date",
    "Converted Date",
    "Last Modified Date",
]
SF_LEADS = [
    [
        "00Q01",
        "Ada",
        "Lovelace",
        "Chief Medical Officer",
        "ada@mercy.org",
        "555-0100",
        "Mercy Health",
        "001A",
        "Hospital & Health Care",
        "1,200",
        "Web",
        "Qualified",
        "03/04/2024 09:15 AM",
        "03/20/2024",
        "03/21/2024 10:00 AM",
    ],
    [
        "00Q02",
        "Bob",
        "Payne",
        "VP Benefits",
        "bob@bluepayer.com",
        "555-0101",
        "Blue Payer",
        "001B",
        "Insurance",
        "350",
        "Trade Show",
        "Disqualified",
        "03/05/2024 02:30 PM",
        "",
        "04/01/2024 11:00 AM",
    ],
    [
        "00Q03",
        "Cy",
        "Chen",
        "Director of Innovation",
        "cy@pharma.com",
        "",
        "Pharma Co",
        "001C",
        "Pharmaceuticals",
        "80",
        "Purchased List",
        "Open - Not Contacted",
        "03/06/2024 08:00 AM",
        "",
        "03/06/2024 08:00 AM",
    ],
    [
        "00Q04",
        "Di",
        "Diaz",
        "CFO",
        "di@bank.com",
        "",
        "Big Bank",
        "001D",
        "Banking",
        "",
        "Partner Referral",
        "Working - Contacted",
        "03/07/2024 12:05 PM",
        "",
        "03/08/2024 09:00 AM",
    ],
    [
        "00Q05",
        "Ed",
        "Ng",
        "Practice Manager",
        "ed@clinic.net",
        "",
        "Family Clinic",
        "001E",
        "Medical Practice",
        "12",
        "Seminar",
        "Converted",
        "03/08/2024 04:45 PM",
        "03/08/2024",
        "03/08/2024 05:00 PM",
    ],
]
SF_ACTIVITY_HEADER = ["Lead ID", "Date", "Activity Type", "Subject"]
SF_ACTIVITIES = [
    ["00Q01", "03/05/2024", "Web Visit", "/pricing"],
    ["00Q01", "03/06/2024", "Email Opened", "March newsletter"],
    ["00Q01", "03/06/2024", "Email Opened", "March newsletter"],
    ["00Q02", "03/06/2024", "Call", "Intro call"],
    ["00Q03", "03/07/2024", "Demo Request", "Demo form"],
    ["00Q99", "03/07/2024", "Web Visit", "/blog"],
]
SF_PERSONAL = ("ada@mercy.org", "bob@bluepayer.com", "Chief Medical Officer", "VP Benefits", "Lovelace", "555-0100")


def salesforce_export(root: Path, leads: list[list[str]] | None = None) -> Path:
    write_csv(root / "leads_report.csv", SF_LEAD_HEADER, leads if leads is not None else SF_LEADS)
    write_csv(root / "activity_history.csv", SF_ACTIVITY_HEADER, SF_ACTIVITIES)
    return root


def test_salesforce_export_imports_with_the_shipped_mapping(tmp_path: Path) -> None:
    source, out = salesforce_export(tmp_path / "export"), tmp_path / "contract"
    code, output = run("--mapping", "salesforce", "--source", str(source), "--out", str(out))
    assert code == 0, output
    data = load_folder(out)
    leads = data.leads.set_index("lead_id")
    assert list(leads.index) == ["00Q01", "00Q02", "00Q03", "00Q04", "00Q05"]
    # 09:15 AM in New York (EST, UTC-5) is 14:15 UTC
    assert leads.loc["00Q01", "created_at"] == pd.Timestamp("2024-03-04T14:15:00Z")
    assert leads["org_type"].tolist() == ["hospital", "payer", "life_sciences", "other", "physician_group"]
    assert leads["lead_source"].tolist() == ["organic_search", "conference", "list_import", "partner", "seminar"]
    assert leads.loc["00Q01", "employee_count"] == 1200
    assert leads.loc["00Q01", "company_name"] == "Mercy Health" and leads.loc["00Q01", "account_id"] == "001A"
    # only mapped columns pass: names, phone, status and dates stay behind
    assert set(data.leads.columns) == {
        "lead_id",
        "created_at",
        "job_title",
        "email",
        "company_name",
        "account_id",
        "org_type",
        "employee_count",
        "lead_source",
    }
    outcomes = data.outcomes.set_index("lead_id")
    assert sorted(outcomes.index) == ["00Q01", "00Q02", "00Q05"]  # open leads have no outcome row
    # a date-only Converted Date means the end of that day (New York), never before creation
    assert outcomes.loc["00Q05", "sql_at"] == pd.Timestamp("2024-03-09T04:59:59Z")
    assert outcomes.loc["00Q02", "disqualified_at"] == pd.Timestamp("2024-04-01T15:00:00Z")  # EDT
    assert pd.isna(outcomes.loc["00Q01", "disqualified_at"])
    activities = data.activities
    assert activities["activity_type"].tolist() == ["page_view", "email_open", "call", "demo_request"]
    assert activities["detail"].iloc[0] == "/pricing"
    assert "00Q99" not in set(activities["lead_id"])
    assert "1 row of unknown leads set aside" in output
    assert "1 exact duplicate row counted once" in output
    for value in SF_PERSONAL:
        assert value not in output


def test_salesforce_bad_created_date_fails_and_writes_nothing(tmp_path: Path) -> None:
    leads = [row[:] for row in SF_LEADS]
    leads[2][12] = "2024-13-45 8am"
    source, out = salesforce_export(tmp_path / "export", leads), tmp_path / "contract"
    code, output = run("--mapping", "salesforce", "--source", str(source), "--out", str(out))
    assert code == 1
    assert "leads.created_at: 1 row with an unparsable timestamp (row 4 lead_id=00Q03 value='2024-13-45 8am')" in output
    assert not out.exists()
    for value in SF_PERSONAL:
        assert value not in output


# --- every bad input through import: an error, and no output folder ---------------------

IDENTITY_MAPPING = """
sources:
  crm_leads: {path: leads.csv}
  crm_outcomes: {path: outcomes.csv}
tables:
  leads:
    source: crm_leads
    columns: {lead_id: id, created_at: created, employee_count: employees}
  outcomes:
    source: crm_outcomes
    columns: {lead_id: id, sql_at: sql, disqualified_at: lost}
"""
RAW_LEADS = [["A1", "2024-01-01", "10"], ["A2", "2024-01-02", "20"], ["A3", "2024-01-03", "30"]]
RAW_OUTCOMES = [["A1", "2024-02-01", ""], ["A2", "", "2024-02-02"]]


def raw_export(root: Path, leads: list[list[str]] = RAW_LEADS, outcomes: list[list[str]] = RAW_OUTCOMES) -> Path:
    write_csv(root / "leads.csv", ["id", "created", "employees"], leads)
    write_csv(root / "outcomes.csv", ["id", "sql", "lost"], outcomes)
    (root / "mapping.yaml").write_text(IDENTITY_MAPPING)
    return root / "mapping.yaml"


def replaced(rows: list[list[str]], index: int, column: int, value: str) -> list[list[str]]:
    copy = [row[:] for row in rows]
    copy[index][column] = value
    return copy


BAD_IMPORTS = {
    "unparsable required value": (
        dict(leads=replaced(RAW_LEADS, 1, 1, "Jan 2")),
        "leads.created_at",
        "1 row with an unparsable timestamp",
        "row 3 lead_id=A2",
    ),
    "empty required value": (
        dict(leads=replaced(RAW_LEADS, 2, 1, "")),
        "leads.created_at",
        "1 row with an empty required value",
        "row 4 lead_id=A3",
    ),
    "duplicate lead_id": (
        dict(leads=replaced(RAW_LEADS, 2, 0, "A1")),
        "leads.lead_id",
        "2 rows with a duplicate lead_id",
        "row 2 lead_id=A1, row 4 lead_id=A1",
    ),
    "sql_at before created_at": (
        dict(outcomes=replaced(RAW_OUTCOMES, 0, 1, "2023-12-01")),
        "outcomes.sql_at",
        "1 row with sql_at before",
        "row 2 lead_id=A1",
    ),
    "disqualified_at before created_at": (
        dict(outcomes=replaced(RAW_OUTCOMES, 1, 2, "2024-01-01")),
        "outcomes.disqualified_at",
        "1 row with disqualified_at before",
        "row 3 lead_id=A2",
    ),
    "negative count": (
        dict(leads=replaced(RAW_LEADS, 0, 2, "-1")),
        "leads.employee_count",
        "1 row with a negative count",
        "row 2 lead_id=A1",
    ),
}


@pytest.mark.parametrize("case", list(BAD_IMPORTS))
def test_each_bad_input_fails_the_import_and_writes_nothing(tmp_path: Path, case: str) -> None:
    tables, where, phrase, rows = BAD_IMPORTS[case]
    mapping, out = raw_export(tmp_path / "raw", **tables), tmp_path / "out"
    code, output = run("--mapping", str(mapping), "--out", str(out))
    assert code == 1, output
    line = next(line for line in output.splitlines() if where in line)
    assert phrase in line and rows in line
    assert not out.exists()


@pytest.mark.parametrize("case", list(BAD_IMPORTS))
def test_lenient_import_writes_the_clean_tables_and_the_rejects(tmp_path: Path, case: str) -> None:
    tables, where, _, rows = BAD_IMPORTS[case]
    mapping, out = raw_export(tmp_path / "raw", **tables), tmp_path / "out"
    code, output = run("--mapping", str(mapping), "--out", str(out), "--lenient")
    assert code == 0, output
    rejects = pd.read_csv(out / "rejects.csv")
    table, column = where.split(".")
    hit = rejects[(rejects["table"] == table) & (rejects["column"] == column)]
    assert sorted(hit["row"]) == sorted(int(part.split()[0]) for part in rows.split("row ")[1:])
    assert load_folder(out).report.ok


def test_a_missing_required_column_is_named_before_anything_is_read(tmp_path: Path) -> None:
    mapping, out = raw_export(tmp_path / "raw"), tmp_path / "out"
    mapping.write_text(IDENTITY_MAPPING.replace("created_at: created", "created_at: created_date"))
    code, output = run("--mapping", str(mapping), "--out", str(out))
    assert code == 1
    assert "tables.leads.columns.created_at: raw column 'created_date' not found in leads.csv" in output
    assert not out.exists()


# --- bad mappings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("  outcomes:\n", "  outcome:\n"), "unknown table(s) ['outcome']"),
        (("source: crm_outcomes", "source: crm_deals"), "'crm_deals' is not one of sources"),
        (
            ("columns: {lead_id: id, sql_at", "columns: {sql_at"),
            "tables.outcomes: no column for the required ['lead_id']",
        ),
        (
            ("  leads:\n    source", "  leads:\n    colour: blue\n    source"),
            "tables.leads.colour: Extra inputs are not permitted",
        ),
        (("{path: leads.csv}", "{path: leads.csv, delimiter: ';;'}"), "the delimiter must be a single character"),
        (("tables:", "tables: ["), "not valid YAML at line"),
    ],
)
def test_bad_mappings_are_clear_errors(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    mapping = raw_export(tmp_path / "raw")
    assert change[0] in IDENTITY_MAPPING
    mapping.write_text(IDENTITY_MAPPING.replace(*change, 1))
    code, output = run("--mapping", str(mapping), "--out", str(tmp_path / "out"))
    assert code == 1, output
    assert expected in output
    assert not (tmp_path / "out").exists()


def test_unknown_timezone_and_option_targets_are_refused() -> None:
    base = "sources: {s: {path: x.csv}}\ntables:\n  leads:\n    source: s\n    columns: {lead_id: a, created_at: b}\n"
    with pytest.raises(MappingError, match="unknown timezone 'Mars/Olympus'"):
        parse_mapping(base + "    dates: {created_at: {timezone: Mars/Olympus}}\n")
    with pytest.raises(MappingError, match=r"values names columns that are not produced: \['org_type'\]"):
        parse_mapping(base + "    values: {org_type: {map: {a: b}}}\n")


def test_unknown_mapping_name_missing_source_and_missing_file(tmp_path: Path) -> None:
    code, output = run("--mapping", "hubspot", "--out", str(tmp_path / "out"))
    assert code == 1 and "shipped mapping (olist, olist_raw, salesforce)" in output
    code, output = run("--mapping", "olist", "--out", str(tmp_path / "out"))
    assert code == 1 and "needs --source" in output
    code, output = run("--mapping", "salesforce", "--source", str(tmp_path), "--out", str(tmp_path / "out"))
    assert code == 1 and "raw file 'leads_report.csv' not found" in output
    assert not (tmp_path / "out").exists()


def test_parquet_output_and_an_existing_folder_of_the_other_format(tmp_path: Path) -> None:
    mapping, out = raw_export(tmp_path / "raw"), tmp_path / "out"
    code, output = run("--mapping", str(mapping), "--out", str(out), "--format", "parquet")
    assert code == 0, output
    assert sorted(p.name for p in out.iterdir()) == ["activities.parquet", "leads.parquet", "outcomes.parquet"]
    assert len(load_folder(out).leads) == 3
    code, output = run("--mapping", str(mapping), "--out", str(out), "--format", "csv")
    assert code == 1 and "already holds" in output


def test_as_of_applies_to_the_import(tmp_path: Path) -> None:
    mapping, out = raw_export(tmp_path / "raw"), tmp_path / "out"
    code, output = run("--mapping", str(mapping), "--out", str(out), "--as-of", "2024-01-15")
    assert code == 0, output
    outcomes = load_folder(out).outcomes
    assert outcomes["sql_at"].isna().all()  # the SQL of 2024-02-01 had not happened yet


# --- mapping pieces ------------------------------------------------------------------------


def test_value_map_defaults() -> None:
    values = pd.Series([" Web ", "Fax", None, "web"], dtype="str")
    mapping = {"web": "organic_search", "Unknown": None}
    assert ValueMap(map=mapping).apply(values).tolist()[:2] == ["organic_search", "Fax"]
    assert pd.isna(ValueMap(map=mapping, default=None).apply(values).iloc[1])
    assert ValueMap(map=mapping, default="other").apply(values).tolist()[1] == "other"
    assert pd.isna(ValueMap(map=mapping).apply(values).iloc[2])  # empty stays empty
    assert ValueMap(map=mapping).apply(values).iloc[3] == "organic_search"  # case is ignored


def test_dates_with_formats_and_timezones() -> None:
    raw = pd.Series(["03/10/2024 02:30 AM", "11/03/2024 01:30 AM", "07/01/2024 12:00 PM", "garbage", None], dtype="str")
    converted = convert_dates(raw, DateFormat(format="%m/%d/%Y %I:%M %p", timezone="America/New_York"))
    assert converted.tolist()[:4] == [
        "2024-03-10T07:00:00Z",  # 02:30 does not exist that night: moved forward to 03:00 EDT
        "2024-11-03T06:30:00Z",  # 01:30 happens twice: standard time (EST)
        "2024-07-01T16:00:00Z",  # summer: EDT
        "garbage",  # left as written, for validation to report with its row
    ]
    assert pd.isna(converted.iloc[4])
    iso = pd.Series(["2024-01-01", "2024-01-01T10:00:00+02:00", "2024-01-01 10:00"], dtype="str")
    assert convert_dates(iso, DateFormat(timezone="Europe/Berlin")).tolist() == [
        "2023-12-31T23:00:00Z",
        "2024-01-01T08:00:00Z",
        "2024-01-01T09:00:00Z",
    ]
    day_end = convert_dates(pd.Series(["20-05-2018"], dtype="str"), DateFormat(format="%d-%m-%Y", day_time="end"))
    assert day_end.tolist() == ["2018-05-20T23:59:59Z"]


def test_where_filter_and_conditional_column(tmp_path: Path) -> None:
    write_csv(
        tmp_path / "crm.csv",
        ["id", "created", "status", "changed"],
        [
            ["A", "2024-01-01", "Won", "2024-02-01"],
            ["B", "2024-01-01", "Lost", "2024-02-02"],
            ["C", "2024-01-01", "Open", "2024-02-03"],
        ],
    )
    (tmp_path / "m.yaml").write_text(
        "sources: {crm: {path: crm.csv}}\n"
        "tables:\n"
        "  leads: {source: crm, columns: {lead_id: id, created_at: created}}\n"
        "  outcomes:\n"
        "    source: crm\n"
        "    where: {any: [{column: status, in: [won, lost]}]}\n"
        "    columns:\n"
        "      lead_id: id\n"
        "      sql_at: {from: changed, when: {column: status, in: [Won]}}\n"
        "      disqualified_at: {from: changed, when: {column: status, not_in: [won]}}\n"
    )
    tables = import_tables(tmp_path / "m.yaml")
    outcomes = validate_tables(tables).outcomes.set_index("lead_id")
    assert list(outcomes.index) == ["A", "B"]
    assert outcomes.loc["A", "sql_at"] == pd.Timestamp("2024-02-01", tz="UTC") and pd.isna(
        outcomes.loc["A", "disqualified_at"]
    )
    assert outcomes.loc["B", "disqualified_at"] == pd.Timestamp("2024-02-02", tz="UTC") and pd.isna(
        outcomes.loc["B", "sql_at"]
    )
    assert tables["outcomes"].index.tolist() == [2, 3]  # raw line numbers survive the filter


# --- Olist, the real data set ------------------------------------------------------------


@needs_olist
def test_olist_import_fails_on_the_deal_dated_before_its_lead(tmp_path: Path) -> None:
    out = tmp_path / "olist"
    code, output = run("--mapping", "olist", "--source", str(OLIST), "--out", str(out))
    assert code == 1
    error = next(line for line in output.splitlines() if "outcomes.sql_at" in line)
    assert "1 row with sql_at before the lead's created_at" in error and BAD_OLIST_LEAD in error
    assert not out.exists()


@needs_olist
def test_olist_lenient_import_keeps_only_pre_outcome_columns(tmp_path: Path) -> None:
    out = tmp_path / "olist"
    code, output = run("--mapping", "olist", "--source", str(OLIST), "--out", str(out), "--lenient")
    assert code == 0, output
    data = load_folder(out)
    assert len(data.leads) == 7_999 and data.leads["lead_id"].is_unique
    assert len(data.outcomes) == 841 and data.report.n_sql == 841
    assert BAD_OLIST_LEAD not in set(data.leads["lead_id"])
    rejects = pd.read_csv(out / "rejects.csv")
    assert sorted(zip(rejects["table"], rejects["lead_id"], strict=True)) == [
        ("leads", BAD_OLIST_LEAD),
        ("outcomes", BAD_OLIST_LEAD),
    ]
    assert list(data.leads.columns) == ["lead_id", "created_at", "lead_source", "landing_page_id"]
    assert list(data.outcomes.columns) == ["lead_id", "sql_at", "disqualified_at"]
    written = " ".join(
        (out / f"{name}.csv").read_text().splitlines()[0] for name in ("leads", "activities", "outcomes")
    )
    for column in CLOSED_DEAL_ONLY_COLUMNS:
        assert column not in written
    sources = data.leads["lead_source"].value_counts(dropna=False)
    assert sources["direct"] == 499 and "direct_traffic" not in sources and "unknown" not in sources
    assert data.leads["lead_source"].isna().sum() == 60 + 1099
    assert data.leads["created_at"].min() == pd.Timestamp("2017-06-14T03:00:00Z")  # midnight in Sao Paulo


@needs_olist
def test_olist_raw_export_gives_the_same_tables(tmp_path: Path) -> None:
    normalised = validate_tables(import_tables("olist", OLIST), lenient=True)
    raw = validate_tables(import_tables("olist_raw", OLIST / "raw"), lenient=True)
    pd.testing.assert_frame_equal(raw.leads, normalised.leads)
    # the spreadsheet dropped the seconds of won_date
    assert (raw.outcomes["sql_at"] == normalised.outcomes["sql_at"].dt.floor("min")).all()
    assert len(raw.rejects) == len(normalised.rejects) == 2


@needs_olist
def test_olist_validation_in_strict_mode_names_the_lead() -> None:
    with pytest.raises(ContractError) as caught:
        validate_tables(import_tables("olist", OLIST))
    [problem] = caught.value.report.errors
    assert (problem.table, problem.column, problem.count) == ("outcomes", "sql_at", 1)
    assert problem.examples[0]["lead_id"] == BAD_OLIST_LEAD


def test_mapping_values_are_read_as_text(tmp_path: Path) -> None:
    write_csv(
        tmp_path / "crm.csv",
        ["id", "created", "vip", "tier"],
        [
            ["A", "2024-01-01", "Yes", "007"],
            ["B", "2024-01-01", "No", "8"],
        ],
    )
    (tmp_path / "m.yaml").write_text(
        "sources: {crm: {path: crm.csv}}\n"
        "tables:\n"
        "  leads:\n"
        "    source: crm\n"
        "    columns: {lead_id: id, created_at: created, vip: vip, tier: tier}\n"
        "    constants: {region: null, plan: 1.50}\n"
        "    values:\n"
        "      vip: {map: {Yes: 'true', No: null}}\n"  # YAML 1.1 would read Yes/No as booleans
        "      tier: {map: {007: gold}, default: ~}\n"  # and 007 as the number 7
    )
    leads = validate_tables(import_tables(tmp_path / "m.yaml")).leads
    assert leads["vip"].tolist()[0] == "true" and pd.isna(leads["vip"].iloc[1])
    assert leads["tier"].tolist()[0] == "gold" and pd.isna(leads["tier"].iloc[1])
    assert leads["region"].isna().all() and leads["plan"].tolist() == ["1.50", "1.50"]
