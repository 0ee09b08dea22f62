"""The input data contract: tables, columns, types and the meaning of time.

See ``docs/contract.md`` for the contract in words. The package reads a folder
exported from a CRM (:mod:`.read`), normalises values (:mod:`.normalise`),
validates the tables and reports every problem with its table, column and
offending rows (:mod:`.validate`, :mod:`.report`), and writes tables
(:mod:`.write`). :mod:`.schema` is the one home of column names, dtypes,
vocabularies, tier names and model URIs.

Public entry points: :func:`load_folder` (= :func:`read_tables` +
:func:`validate_tables`), :func:`write_tables`, :func:`write_rejects` and
:func:`parse_as_of`; problems surface as :class:`ContractError` carrying a
:class:`ValidationReport`.
"""

from mqlscore.contract.normalise import parse_as_of
from mqlscore.contract.read import read_table_file, read_tables
from mqlscore.contract.report import ContractError, ContractWarning, Dataset, Example, Problem, ValidationReport
from mqlscore.contract.schema import (ACTIVITY_COLUMNS, CANONICAL_ACTIVITY_TYPES, CATEGORICAL_VALUES,
                                      CONTRACT_COLUMNS, COUNT_COLUMNS, EHR_VENDORS, LEAD_COLUMNS, LEAD_SOURCES,
                                      ORG_TYPES, OUTCOME_COLUMNS, PERSONAL_COLUMNS, REJECT_COLUMNS, REQUIRED_COLUMNS,
                                      TABLES, TIMESTAMP_COLUMNS, TIMESTAMP_DTYPE)
from mqlscore.contract.validate import load_folder, validate_tables
from mqlscore.contract.write import format_iso_utc, write_rejects, write_tables

__all__ = [
    "ACTIVITY_COLUMNS", "CANONICAL_ACTIVITY_TYPES", "CATEGORICAL_VALUES", "CONTRACT_COLUMNS", "COUNT_COLUMNS",
    "EHR_VENDORS", "LEAD_COLUMNS", "LEAD_SOURCES", "ORG_TYPES", "OUTCOME_COLUMNS", "PERSONAL_COLUMNS",
    "REJECT_COLUMNS", "REQUIRED_COLUMNS", "TABLES", "TIMESTAMP_COLUMNS", "TIMESTAMP_DTYPE",
    "ContractError", "ContractWarning", "Dataset", "Example", "Problem", "ValidationReport",
    "format_iso_utc", "load_folder", "parse_as_of", "read_table_file", "read_tables", "validate_tables",
    "write_rejects", "write_tables",
]
