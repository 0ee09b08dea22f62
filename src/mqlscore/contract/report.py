"""What validation found: problems with where they are, the report, the error
that carries it, and the validated dataset."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import pandas as pd

from mqlscore.contract.schema import CANONICAL_ACTIVITY_TYPES

if TYPE_CHECKING:
    from rich.console import Group

MAX_EXAMPLES = 5

Severity = Literal["error", "warning"]



class Example(TypedDict, total=False):
    """One offending row: source row number, lead and value. A lead id or value a
    message may not quote (``schema.SAFE_TO_ECHO_COLUMNS``) is given by its shape
    in ``lead_id_shape`` or ``value_shape`` instead ("text of 14 characters")."""

    row: int
    lead_id: str | None
    lead_id_shape: str
    value: str
    value_shape: str


@dataclass
class Problem:
    """One problem found in the input, with where it is and how often.

    ``message`` is a complete phrase ("3 rows with an unparsable timestamp");
    ``count`` is the number of offending rows (0 for table-level problems);
    ``examples`` are the first offending rows in source order.
    """

    severity: Severity
    table: str
    column: str | None
    message: str
    count: int = 0
    examples: list[Example] = field(default_factory=list)

    @property
    def location(self) -> str:
        """``table.column``, or just ``table`` for a table-level problem."""
        return f"{self.table}.{self.column}" if self.column else self.table

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        if self.examples:
            shown = ", ".join(_format_example(example) for example in self.examples)
            if self.count > len(self.examples):
                text += f" (first: {shown}, ...)"
            else:
                text += f" ({shown})"
        return text


def _format_example(example: Example) -> str:
    parts = []
    if example.get("row") is not None:
        parts.append(f"row {example['row']}")
    if example.get("lead_id") is not None:
        parts.append(f"lead_id={example['lead_id']}")
    elif "lead_id_shape" in example:
        parts.append(f"lead_id not shown ({example['lead_id_shape']})")
    if "value" in example:
        parts.append(f"value={example['value']!r}")
    elif "value_shape" in example:
        parts.append(f"value not shown ({example['value_shape']})")
    return " ".join(parts)


@dataclass
class ValidationReport:
    """Everything learned while validating a folder: problems and summary facts.

    Counts in ``rows_read`` are rows as given; ``rows_kept`` are rows in the
    clean tables (outcomes: one row per lead). ``as_of`` is UTC; SQL and
    disqualification counts are those at or before it.
    """

    problems: list[Problem] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    rows_read: dict[str, int] = field(default_factory=dict)
    rows_kept: dict[str, int] = field(default_factory=dict)
    time_min: pd.Timestamp | None = None
    time_max: pd.Timestamp | None = None
    as_of: pd.Timestamp | None = None
    as_of_given: bool = False
    n_sql: int = 0
    n_disqualified: int = 0
    activity_types: dict[str, int] = field(default_factory=dict)
    n_duplicate_activities: int = 0
    n_rejects: int = 0
    lenient: bool = False

    @property
    def errors(self) -> list[Problem]:
        """Problems that stop a run (or, in lenient mode, whose rows were set aside)."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """Problems that never stop a run."""
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when no error was found."""
        return not self.errors

    @property
    def canonical_activity_types(self) -> dict[str, int]:
        """Kept activity rows per canonical type."""
        return {k: v for k, v in self.activity_types.items() if k in CANONICAL_ACTIVITY_TYPES}

    @property
    def other_activity_types(self) -> dict[str, int]:
        """Kept activity rows per type outside the canonical list."""
        return {k: v for k, v in self.activity_types.items() if k not in CANONICAL_ACTIVITY_TYPES}

    def error_text(self) -> str:
        """The errors as readable lines, one per problem."""
        errors = self.errors
        if not errors:
            return "The input meets the data contract."
        head = f"The input does not meet the data contract: {_plural(len(errors), 'error')}."
        return "\n".join([head, *(f"  - {p}" for p in errors)])

    def facts(self) -> list[tuple[str, str]]:
        """The summary facts as (label, text) pairs, in display order."""
        facts = [("time range", _range_text(self.time_min, self.time_max))]
        if self.as_of is not None:
            how = "given" if self.as_of_given else "latest timestamp in the data"
            facts.append(("as-of", f"{_iso(self.as_of)} ({how})"))
        facts.append(("SQLs", f"{self.n_sql:,} at or before the as-of time"))
        facts.append(("disqualified", f"{self.n_disqualified:,} at or before the as-of time"))
        facts.append(
            ("duplicate activities", f"{_plural(self.n_duplicate_activities, 'exact duplicate row')} counted once")
        )
        if self.lenient:
            facts.append(("rejects", f"{self.n_rejects:,} rows set aside"))
        return facts

    def to_text(self) -> str:
        """The whole report as plain text (no personal data, by construction)."""
        lines = ["Tables:"]
        for table in self.rows_read:
            kept = self.rows_kept.get(table)
            kept_text = f", kept {kept:,}" if kept is not None else ""
            source = self.sources.get(table, "")
            lines.append(f"  {table:<11} {source}  read {self.rows_read[table]:,}{kept_text}")
        lines += [f"{label}: {text}" for label, text in self.facts()]
        if self.activity_types:
            types = ", ".join(f"{k} {v:,}" for k, v in self.activity_types.items())
            lines.append(f"activity types: {types}")
        for title, problems in (("Warnings", self.warnings), (self._errors_title(), self.errors)):
            if problems:
                lines.append(f"{title} ({len(problems)}):")
                lines += [f"  - {p}" for p in problems]
        return "\n".join(lines)

    def render(self, *, max_types: int = 20, problems: bool = True) -> Group:
        """The report as rich renderables for the command line.

        With ``problems=False`` only the summary is rendered, so that a caller
        can print problems unwrapped (one greppable line each).
        """
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        tables = Table(title="Tables", title_justify="left", show_edge=False)
        # When the run stops, nothing is kept: show what lenient mode would keep.
        kept_title = "rows kept" if self.ok or self.lenient else "rows usable"
        for name in ("table", "source", "rows read", kept_title):
            tables.add_column(name, justify="right" if name.startswith("rows") else "left")
        for table, read in self.rows_read.items():
            kept = self.rows_kept.get(table)
            kept_text = "" if kept is None else f"{kept:,}"
            source = Path(self.sources[table]).name if table in self.sources else ""
            tables.add_row(Text(table), Text(source), f"{read:,}", kept_text)

        facts = Table(show_header=False, show_edge=False, box=None)
        facts.add_column(style="bold")
        facts.add_column()
        for label, text in self.facts():
            facts.add_row(label, Text(text))

        parts: list[Any] = [tables, Text(""), facts]
        if self.activity_types:
            parts += [Text(""), self._activity_table(max_types)]
        if problems:
            parts += self.render_problems()
        return Group(*parts)

    def render_problems(self) -> list[Any]:
        """Warnings then errors as rich Text lines, with a heading each."""
        from rich.text import Text

        parts: list[Any] = []
        titled = (("Warnings", self.warnings, "yellow"), (self._errors_title(), self.errors, "red"))
        for title, found, style in titled:
            if found:
                parts.append(Text(f"\n{title} ({len(found)})", style=f"bold {style}"))
                parts += [Text(f"  - {p}", style=style) for p in found]
        return parts

    def _errors_title(self) -> str:
        return "Errors, rows set aside in the rejects" if self.lenient else "Errors"

    def _activity_table(self, max_types: int) -> Any:
        from rich.table import Table
        from rich.text import Text

        table = Table(title="Activity types", title_justify="left", show_edge=False)
        table.add_column("activity_type")
        table.add_column("rows", justify="right")
        table.add_column("kind")
        items = list(self.activity_types.items())
        for name, count in items[:max_types]:
            kind = "canonical" if name in CANONICAL_ACTIVITY_TYPES else "other"
            table.add_row(Text(name), f"{count:,}", kind)
        if len(items) > max_types:
            rest = sum(count for _, count in items[max_types:])
            table.add_row(f"... {len(items) - max_types} more", f"{rest:,}", "")
        return table


class ContractError(Exception):
    """The input breaks the data contract; ``report`` holds every problem found."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        super().__init__(report.error_text())

    def __str__(self) -> str:
        return self.report.error_text()

    @classmethod
    def single(cls, table: str, message: str, column: str | None = None) -> ContractError:
        """An error about a whole table or file (missing, unreadable, empty)."""
        return cls(ValidationReport(problems=[Problem("error", table, column, message)]))


@dataclass
class Dataset:
    """A validated folder: clean tables, the as-of time, the report and the rejects.

    Timestamps are ``datetime64[us, UTC]``; ids and text are ``str``; counts
    are float64 (NaN when missing). ``outcomes`` holds at most one row per lead
    and only facts at or before ``as_of``.
    """

    leads: pd.DataFrame
    activities: pd.DataFrame
    outcomes: pd.DataFrame
    as_of: pd.Timestamp
    report: ValidationReport
    rejects: pd.DataFrame


# ---------------------------------------------------------------------------
# Small helpers for text and time
# ---------------------------------------------------------------------------


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _rows(n: int) -> str:
    return _plural(n, "row")


def _iso(ts: pd.Timestamp | None) -> str:
    if ts is None or pd.isna(ts):
        return "-"
    text = ts.tz_convert("UTC").isoformat()
    return text.replace("+00:00", "Z")


def _range_text(first: pd.Timestamp | None, last: pd.Timestamp | None) -> str:
    if first is None or last is None:
        return "no timestamps"
    return f"{_iso(first)} to {_iso(last)}"



class ContractWarning(UserWarning):
    """Something the contract noticed in an input it still scores (a row dated after
    the as-of time ignored, a value outside a known list kept); the message starts
    with the problem's ``table.column``."""
