"""A request as the data contract's tables, through the contract's own validation.

The leads and activities of a request are laid out as the raw tables a CRM export
would hold (one row per lead, one per activity, rows numbered in request order)
and handed to :func:`mqlscore.contract.validate_tables`, the same call batch
scoring and the MLflow model make: one normalisation, one set of rules. What the
contract refuses becomes a 422 naming each field
(``leads[3].activities[2].occurred_at``); what it only notices (an activity dated
after ``as_of``, ignored; an unknown ``org_type``, kept) becomes a warning in the
response, by field path too.

The service's own rules are only those a table cannot express: the size limits
(:func:`check_limits`, before any table is built) and that extra fields are scalars.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mqlscore.config import ServiceConfig
from mqlscore.contract import ContractError, Problem, validate_tables
from mqlscore.contract.schema import ACTIVITY_COLUMNS, LEAD_COLUMNS, REQUIRED_COLUMNS
from mqlscore.serving.errors import MAX_LISTED, FieldProblem, RequestRejected, child, path_order, rejection
from mqlscore.serving.schemas import LeadIn

SCALARS = (str, int, float, bool, type(None))  # allowed values of extra fields
_ACTIVITY_FIELDS = tuple(c for c in ACTIVITY_COLUMNS if c != "lead_id")
_STACKED_IDS = ("lead_id", "account_id")  # ids a batch prefixes with the request's position
_COUNTED = re.compile(r"^[\d,]+ (rows?|leads?) (with |of )?")


@dataclass
class RequestTables:
    """A request as the contract's clean tables, with what the contract noticed."""

    leads: pd.DataFrame
    activities: pd.DataFrame
    as_of: pd.Timestamp
    n_activities: int = 0  # as sent, before duplicates or late ones were set aside
    warnings: list[FieldProblem] = field(default_factory=list)

    @property
    def n_leads(self) -> int:
        """Leads to score (those that existed at ``as_of``)."""
        return len(self.leads)


def check_limits(leads: Sequence[LeadIn], config: ServiceConfig) -> None:
    """RequestRejected (422) when a request is beyond what the service takes: more leads,
    or a lead more activities, than allowed; on any lead or activity, more fields
    outside the contract than ``max_extra_fields_per_lead`` or a field name longer than
    ``max_field_name_chars``; more distinct such names in the request than
    ``max_extra_fields_per_request``; a string longer than ``max_text_chars`` anywhere.

    Runs on the parsed request before anything is laid out as tables: with these
    bounds a request's tables and features grow with its body, not with the product
    of its leads and the names it invents (one message per problem, each naming the
    setting; at most ``MAX_LISTED``)."""
    if len(leads) > config.max_leads_per_request:
        raise RequestRejected(422, "too many leads in one request", [FieldProblem(
            "leads", f"{len(leads):,} leads; at most {config.max_leads_per_request:,} per request "
                     "(max_leads_per_request)")])
    problems = [FieldProblem(f"leads[{i}].activities", f"{len(lead.activities):,} activities; at most "
                             f"{config.max_activities_per_lead:,} per lead (max_activities_per_lead)")
                for i, lead in enumerate(leads) if len(lead.activities) > config.max_activities_per_lead]
    if problems:
        raise RequestRejected(422, "too many activities on a lead", problems[:MAX_LISTED])
    _Bounds(config).check(leads)


class _Bounds:
    """One pass over a parsed request for the extra-field and text limits."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.names: set[str] = set()  # distinct names of fields outside the contract
        self.problems: list[FieldProblem] = []  # the first MAX_LISTED
        self.found = 0

    def _add(self, path: str, message: str) -> None:
        self.found += 1
        if len(self.problems) < MAX_LISTED:
            self.problems.append(FieldProblem(path, message))

    def check(self, leads: Sequence[LeadIn]) -> None:
        text = self.config.max_text_chars
        for i, lead in enumerate(leads):
            path = f"leads[{i}]"
            self._item(path, lead.__dict__, lead.__pydantic_extra__)
            for j, act in enumerate(lead.activities):
                values = act.__dict__
                # Most activities carry no extra field and short texts: one test each, no call.
                if (act.__pydantic_extra__ or len(values["occurred_at"]) > text or len(values["activity_type"]) > text
                        or (values["detail"] is not None and len(values["detail"]) > text)):
                    self._item(f"{path}.activities[{j}]", values, act.__pydantic_extra__)
        if self.found:
            raise rejection(422, "the request is beyond the service's limits", self.problems, self.found)

    def _item(self, path: str, values: dict[str, Any], extra: dict[str, Any] | None) -> None:
        cfg = self.config
        for name, value in values.items():
            if isinstance(value, str) and len(value) > cfg.max_text_chars:
                self._add(child(path, name), self._too_long(value))
        if not extra:
            return
        if len(extra) > cfg.max_extra_fields_per_lead:
            self._add(path, f"{len(extra):,} fields outside the contract; at most {cfg.max_extra_fields_per_lead:,} "
                            "on a lead or an activity (max_extra_fields_per_lead)")
            return  # its names are not worth a problem each
        for name, value in extra.items():
            if len(name) > cfg.max_field_name_chars:
                self._add(child(path, name), f"a field name of {len(name):,} characters; at most "
                                             f"{cfg.max_field_name_chars:,} (max_field_name_chars)")
                continue
            if name not in self.names:
                if len(self.names) >= cfg.max_extra_fields_per_request:
                    self._add(child(path, name), f"one field name too many: at most "
                                                 f"{cfg.max_extra_fields_per_request:,} distinct fields outside the "
                                                 "contract per request (max_extra_fields_per_request)")
                    continue
                self.names.add(name)
            if isinstance(value, str) and len(value) > cfg.max_text_chars:
                self._add(child(path, name), self._too_long(value))

    def _too_long(self, value: str) -> str:
        return f"text of {len(value):,} characters; at most {self.config.max_text_chars:,} (max_text_chars)"


@dataclass
class _Layout:
    """The raw tables of a request and where each of their rows came from."""

    leads: pd.DataFrame
    activities: pd.DataFrame
    activity_at: list[tuple[int, int]]  # activity row k (0-based) -> (lead i, activity j)
    problems: list[FieldProblem]


def _layout(leads: Sequence[LeadIn]) -> _Layout:
    """The request as raw contract tables (values as sent; rows numbered from 1)."""
    problems: list[FieldProblem] = []
    columns: dict[str, list] = {c: [] for c in LEAD_COLUMNS}
    extras: dict[str, list] = {}
    for i, lead in enumerate(leads):
        values = lead.__dict__
        for name in LEAD_COLUMNS:
            columns[name].append(values[name])
        for name, value in (lead.__pydantic_extra__ or {}).items():
            if not isinstance(value, SCALARS):
                problems.append(FieldProblem(child(f"leads[{i}]", name), "must be a string, number, boolean or null"))
            extras.setdefault(name, [None] * i).append(value)
        for column in extras.values():
            if len(column) < i + 1:
                column.append(None)
    activity_at = [(i, j) for i, lead in enumerate(leads) for j in range(len(lead.activities))]
    items = [act for lead in leads for act in lead.activities]
    lead_ids = columns["lead_id"]
    acts: dict[str, list] = {"lead_id": [lead_ids[i] for i, _ in activity_at]}
    for name in _ACTIVITY_FIELDS:
        acts[name] = [act.__dict__[name] for act in items]
    # An activity's fields outside the contract are checked, then set aside: no feature reads them,
    # and as columns they would cost (activities x distinct names) cells.
    for k, act in enumerate(items):
        for name, value in (act.__pydantic_extra__ or {}).items():
            if not isinstance(value, SCALARS):
                i, j = activity_at[k]
                problems.append(FieldProblem(child(f"leads[{i}].activities[{j}]", name),
                                             "must be a string, number, boolean or null"))
    # A column nobody sent is left out, as in an export without it: building frames is most of the
    # cost of a small request, and the contract treats an absent optional column like an empty one.
    lead_frame = pd.DataFrame(_sent({**columns, **{k: v for k, v in extras.items() if k not in columns}},
                                    REQUIRED_COLUMNS["leads"]),
                              index=pd.RangeIndex(1, len(leads) + 1, name="row"))
    acts = _sent(acts, REQUIRED_COLUMNS["activities"])
    activity_frame = pd.DataFrame(acts, index=pd.RangeIndex(1, len(items) + 1, name="row"), columns=[*acts])
    return _Layout(lead_frame, activity_frame, activity_at, problems)


def _sent(columns: dict[str, list], required: Sequence[str]) -> dict[str, list]:
    """The columns with at least one value, and the required ones."""
    return {name: values for name, values in columns.items()
            if name in required or any(v is not None for v in values)}


def _fields(problem: Problem, layout: _Layout) -> list[FieldProblem]:
    """One problem of the contract's report as problems by field path."""
    message = _COUNTED.sub("", problem.message)
    if not problem.examples:
        return [FieldProblem(problem.table, message)]
    out = []
    for example in problem.examples:
        row = int(example.get("row", 0))
        if problem.table == "activities" and 0 < row <= len(layout.activity_at):
            i, j = layout.activity_at[row - 1]
            out.append(FieldProblem(_in(f"leads[{i}].activities[{j}]", problem.column), message))
        elif problem.table == "leads" and row > 0:
            out.append(FieldProblem(_in(f"leads[{row - 1}]", problem.column), message))
        else:
            out.append(FieldProblem(problem.table, message))
    return out


def _in(path: str, column: str | None) -> str:
    return child(path, column) if column else path


def _by_field(problems: Sequence[Problem], layout: _Layout) -> list[FieldProblem]:
    found = [fp for p in problems for fp in _fields(p, layout)]
    return sorted(found, key=lambda p: path_order(p.field))


def request_tables(leads: Sequence[LeadIn], as_of: pd.Timestamp, config: ServiceConfig) -> RequestTables:
    """The request's leads and activities as the contract's clean tables at ``as_of``,
    or RequestRejected (422) naming every problem's field path."""
    if not leads:
        raise RequestRejected(422, "no leads", [FieldProblem("leads", "give at least one lead")])
    check_limits(leads, config)
    layout = _layout(leads)
    if layout.problems:
        _reject(layout.problems)
    try:
        data = validate_tables({"leads": layout.leads, "activities": layout.activities}, as_of=as_of,
                               max_examples=config.max_activities_per_lead * config.max_leads_per_request)
    except ContractError as exc:
        _reject(_by_field(exc.report.errors, layout))
    return RequestTables(data.leads, data.activities, data.as_of, n_activities=len(layout.activities),
                         warnings=_by_field(data.report.warnings, layout))


def _reject(problems: list[FieldProblem]) -> None:
    raise rejection(422, "the request breaks the data contract", problems)


def stack_tables(parts: Sequence[RequestTables]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The clean tables of several requests as one pair, lead and account ids
    prefixed by the request's position so that buying groups never mix across
    requests. One request's tables come back as they are."""
    if len(parts) == 1:
        return parts[0].leads, parts[0].activities
    leads, activities = [], []
    for k, part in enumerate(parts):
        leads.append(_tagged(part.leads, k))
        activities.append(_tagged(part.activities, k))
    return (pd.concat(leads, ignore_index=True, sort=False),
            pd.concat(activities, ignore_index=True, sort=False))


def _tagged(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    out = frame.copy(deep=False)
    prefix = f"{k}\x1f"
    for name in _STACKED_IDS:
        if name in out:
            values = out[name]
            out[name] = (prefix + values.astype("str")).where(values.notna(), np.nan).astype("str")
    return out
