"""Messages show values only from columns known to be safe (issue 11, defect 11).

A CSV shifted by one column, or a person typing in the wrong field, puts a name or
a title into any column. Messages quote values only of instants, counts and codes
(``schema.SAFE_TO_ECHO_COLUMNS``) and only when they have such a column's shape; any
other value is described by its shape ("text of 14 characters").
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mqlscore.cli import app
from mqlscore.contract import ContractError, validate_tables
from mqlscore.contract.schema import (CATEGORICAL_VALUES, COUNT_COLUMNS, PERSONAL_COLUMNS, SAFE_TO_ECHO_COLUMNS,
                                      TIMESTAMP_COLUMNS)

NAME = "Dr Jane Secret"
TITLE = "Chief Medical Officer"


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.output


def messages(tables: dict[str, pd.DataFrame], lenient: bool = False) -> str:
    """Every problem the contract reports about the tables, as the command line prints them."""
    try:
        report = validate_tables(tables, lenient=lenient).report
    except ContractError as exc:
        report = exc.report
    return report.to_text()


def test_the_safe_columns_are_instants_counts_and_codes_never_personal_ones() -> None:
    instants = {c for columns in TIMESTAMP_COLUMNS.values() for c in columns}
    codes = {*CATEGORICAL_VALUES, "activity_type", "country", "state"}
    assert SAFE_TO_ECHO_COLUMNS == instants | set(COUNT_COLUMNS) | codes
    assert not SAFE_TO_ECHO_COLUMNS & PERSONAL_COLUMNS
    assert not SAFE_TO_ECHO_COLUMNS & {"lead_id", "account_id", "company_name", "detail"}


@pytest.mark.parametrize("where", ["company_name", "detail", "extra column", "lead_id", "account_id"])
def test_a_name_in_a_column_that_is_not_safe_is_never_shown(tmp_path: Path, where: str) -> None:
    leads = pd.DataFrame({"lead_id": ["L1", "L2", "L3"], "created_at": ["2024-01-01", "later", "2024-01-03"],
                          "company_name": ["Acme", "Acme", "Acme"], "account_id": ["A1", "A1", "A2"],
                          "crm_notes": ["x", "y", "z"], "employee_count": ["12", "-5", "7.5"]})
    activities = pd.DataFrame({"lead_id": ["L1", "L2", "L9"], "occurred_at": ["2024-01-02", "soon", "2024-01-02"],
                               "activity_type": ["page_view"] * 3, "detail": ["/pricing"] * 3})
    column = {"detail": "detail", "extra column": "crm_notes"}.get(where, where)
    table = activities if column == "detail" else leads
    table[column] = table[column].astype(object)
    table.loc[:, column] = NAME
    if column == "lead_id":
        activities.loc[:, "lead_id"] = [NAME, NAME, "L9"]
    text = messages({"leads": leads, "activities": activities}) + messages(
        {"leads": leads, "activities": activities}, lenient=True)
    assert "unparsable timestamp" in text and "negative count" in text
    assert "Jane" not in text and "Secret" not in text
    # ... and on the command line, from files
    for name, frame in (("leads", leads), ("activities", activities)):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    for args in (["validate", str(tmp_path)], ["validate", str(tmp_path), "--lenient"]):
        code, output = cli(*args)
        assert code in (0, 1) and "unparsable timestamp" in output
        assert "Jane" not in output and "Secret" not in output


def test_an_id_that_is_not_shown_is_described_by_its_shape() -> None:
    leads = pd.DataFrame({"lead_id": [NAME, "L2"], "created_at": ["later", "2024-01-02"]})
    with pytest.raises(ContractError) as caught:
        validate_tables({"leads": leads})
    assert str(caught.value.report.errors[0]) == (
        "leads.created_at: 1 row with an unparsable timestamp (row 1 lead_id not shown (text of 14 characters) "
        "value not shown (text of 5 characters))")


@pytest.mark.parametrize("column", ["created_at", "employee_count"])
def test_words_in_an_instant_or_count_column_are_described_not_shown(column: str) -> None:
    # Any way of writing an instant or a count has a digit; words alone may be a name shifted in.
    leads = pd.DataFrame({"lead_id": ["L1", "L2", "L3"], "created_at": ["2024-01-01"] * 3,
                          "employee_count": ["1"] * 3})
    leads[column] = [TITLE, "1/5/2024" if column == "created_at" else "1,000", "2024-01-03" if column ==
                     "created_at" else "5"]
    with pytest.raises(ContractError) as caught:
        validate_tables({"leads": leads})
    text = str(caught.value)
    assert TITLE not in text and "value not shown (text of 21 characters)" in text
    assert ("value='1/5/2024'" if column == "created_at" else "value='1,000'") in text


def test_codes_of_a_vocabulary_are_shown_as_the_warning_lists_them() -> None:
    leads = pd.DataFrame({"lead_id": ["L1", "L2"], "created_at": ["2024-01-01", "2024-01-02"],
                          "lead_source": ["seminar", "webinar"], "country": ["us", "ca"]})
    text = messages({"leads": leads})
    assert "leads.lead_source: 1 row with a value outside the known list (kept): 'seminar' 1" in text
    assert "value='seminar'" in text


def test_emails_are_never_shown_even_in_a_safe_column() -> None:
    leads = pd.DataFrame({"lead_id": ["L1", "L2"], "created_at": ["2024-01-01", "ada7@mercy.org"]})
    with pytest.raises(ContractError) as caught:
        validate_tables({"leads": leads})
    assert "mercy" not in str(caught.value) and "looks like an email" in str(caught.value)
