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
:class:`ValidationReport`. Outputs are checked with :func:`check_output` before
any work and written with :func:`write_atomically`.
"""

from mqlscore.contract.normalise import parse_as_of, to_text
from mqlscore.contract.read import read_table_file, read_tables, table_files
from mqlscore.contract.report import ContractError, ContractWarning, Dataset, Example, Problem, ValidationReport
from mqlscore.contract.schema import (ACTIVITY_COLUMNS, CANONICAL_ACTIVITY_TYPES, CATEGORICAL_VALUES,
                                      CONTRACT_COLUMNS, COUNT_COLUMNS, EHR_VENDORS, LEAD_COLUMNS, LEAD_SOURCES,
                                      ORG_TYPES, OUTCOME_COLUMNS, PERSONAL_COLUMNS, REJECT_COLUMNS, REQUIRED_COLUMNS,
                                      TABLES, TIMESTAMP_COLUMNS, TIMESTAMP_DTYPE)
from mqlscore.contract.validate import load_folder, validate_tables
from mqlscore.contract.write import (OutputError, OutputIsInput, check_output, format_iso_utc, table_format_clashes,
                                     write_atomically, write_files_atomically, write_rejects, write_tables)

__all__ = [
    "ACTIVITY_COLUMNS", "CANONICAL_ACTIVITY_TYPES", "CATEGORICAL_VALUES", "CONTRACT_COLUMNS", "COUNT_COLUMNS",
    "EHR_VENDORS", "LEAD_COLUMNS", "LEAD_SOURCES", "ORG_TYPES", "OUTCOME_COLUMNS", "PERSONAL_COLUMNS",
    "REJECT_COLUMNS", "REQUIRED_COLUMNS", "TABLES", "TIMESTAMP_COLUMNS", "TIMESTAMP_DTYPE",
    "ContractError", "ContractWarning", "Dataset", "Example", "OutputError", "OutputIsInput", "Problem",
    "ValidationReport", "check_output", "format_iso_utc", "load_folder", "parse_as_of", "read_table_file",
    "read_tables", "table_files", "table_format_clashes", "to_text", "validate_tables", "write_atomically",
    "write_files_atomically", "write_rejects", "write_tables",
]
