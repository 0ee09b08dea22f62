"""Events in: a batch of lead, activity and outcome events checked by the data
contract, then minimised, ready for the store.

An event is one row of one of the contract's tables with an ``event_id`` and a
``kind`` (``lead``, ``activity`` or ``outcome``). The batch is laid out as the
contract's tables and handed to :func:`mqlscore.contract.validate_tables`, the
same rules as an export, a ``POST /score`` body or the MLflow model; each problem
comes back by the event's index (``events[3].occurred_at``). Activities and
outcomes of leads the batch does not carry are checked against a stand-in row
with the lead's stored creation time, so an activity sent before its lead is
still taken (webhooks arrive in any order).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mqlscore.config import StoreConfig
from mqlscore.contract import ContractError, Problem, validate_tables
from mqlscore.contract.schema import ACTIVITY_COLUMNS, EARLIEST, LATEST, LEAD_COLUMNS, OUTCOME_COLUMNS
from mqlscore.features.fit import minimise_leads

EVENT_KINDS = ("lead", "activity", "outcome")
_KIND_TABLE = {"lead": "leads", "activity": "activities", "outcome": "outcomes"}
_TABLE_COLUMNS = {"leads": LEAD_COLUMNS, "activities": ACTIVITY_COLUMNS, "outcomes": OUTCOME_COLUMNS}
_SCALARS = (str, int, float, bool, type(None))
EVENT_COLUMN = "_event"  # each row's event index, carried through the contract's checks
# Validation looks at every event as already happened: the store keeps what is dated
# later than now too, and scoring at a moment ignores what is dated after it.
_VALIDATE_AS_OF = LATEST - pd.Timedelta(days=1)


class EventsRejected(ValueError):
    """A batch the store refuses, with each problem as (field path, message)."""

    def __init__(self, error: str, problems: list[tuple[str, str]]) -> None:
        super().__init__(error)
        self.error = error
        self.problems = problems


@dataclass
class EventBatch:
    """A checked batch: the events' ids and kinds, and the rows they carry as the
    contract's clean tables (leads minimised), each row with its event's index."""

    ids: list[str]
    kinds: list[str]
    lead_ids: list[str]
    leads: pd.DataFrame  # minimised; column EVENT_COLUMN = the event's index
    activities: pd.DataFrame  # with EVENT_COLUMN
    outcomes: pd.DataFrame  # with EVENT_COLUMN
    warnings: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)


def _id_text(value: Any) -> str | None:
    """Identifiers as text: 7 and 7.0 are "7" (as in the contract and ``POST /score``)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value == int(value) else repr(value)
    if isinstance(value, str):
        return value.strip() or None
    return None


def _path(index: int, name: str | None = None) -> str:
    if name is None:
        return f"events[{index}]"
    if name.isidentifier():
        return f"events[{index}].{name}"
    return f"events[{index}][{name[:40]!r}]"


def _shape_problems(events: Sequence[Any], config: StoreConfig) -> list[tuple[str, str]]:
    """What the tables cannot express: each event an object with an id, a known kind,
    scalar values within the text and extra-field limits."""
    problems: list[tuple[str, str]] = []
    for i, event in enumerate(events):
        if not isinstance(event, Mapping):
            problems.append((_path(i), "must be an object"))
            continue
        if _id_text(event.get("event_id")) is None:
            problems.append((_path(i, "event_id"), "required: a non-empty text or number, unique per event"))
        elif len(str(event.get("event_id"))) > config.max_event_id_chars:
            problems.append((_path(i, "event_id"), f"at most {config.max_event_id_chars} characters"))
        kind = event.get("kind")
        if kind not in EVENT_KINDS:
            problems.append((_path(i, "kind"), f"one of {', '.join(EVENT_KINDS)}"))
            continue
        columns = _TABLE_COLUMNS[_KIND_TABLE[kind]]
        extras = [k for k in event if k not in ("event_id", "kind") and k not in columns]
        if kind != "lead" and extras:
            problems.append((_path(i, extras[0]), f"not a field of a{'n' if kind == 'activity' else 'n'} {kind} event "
                                                  f"({', '.join(columns)})"))
        if len(extras) > config.max_extra_fields_per_lead:
            problems.append((_path(i), f"{len(extras):,} fields outside the contract; at most "
                                       f"{config.max_extra_fields_per_lead:,} (max_extra_fields_per_lead)"))
        for name, value in event.items():
            if not isinstance(name, str) or len(name) > config.max_field_name_chars:
                problems.append((_path(i), f"a field name longer than {config.max_field_name_chars} characters"))
            elif not isinstance(value, _SCALARS):
                problems.append((_path(i, name), "must be a string, number, boolean or null"))
            elif isinstance(value, str) and len(value) > config.max_text_chars:
                problems.append((_path(i, name), f"text of {len(value):,} characters; at most "
                                                 f"{config.max_text_chars:,} (max_text_chars)"))
    return problems


def _frame(rows: list[dict[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    """Rows as a raw contract table, numbered from 1; a column nobody sent is left
    out, as in an export without it."""
    names = list(dict.fromkeys([*columns, *(k for r in rows for k in r)]))
    data = {c: [r.get(c) for r in rows] for c in names}
    data = {c: v for c, v in data.items() if c in ("lead_id", "created_at") or any(x is not None for x in v)}
    return pd.DataFrame(data, index=pd.RangeIndex(1, len(rows) + 1, name="row"))


def _rows_of(events: Sequence[Mapping[str, Any]], kind: str) -> tuple[list[dict[str, Any]], list[int]]:
    rows, where = [], []
    for i, event in enumerate(events):
        if event.get("kind") == kind:
            rows.append({**{k: v for k, v in event.items() if k not in ("event_id", "kind")}, EVENT_COLUMN: i})
            where.append(i)
    return rows, where


def _by_event(problems: Sequence[Problem], where: dict[str, list[int]]) -> list[tuple[str, str]]:
    """The contract's problems as (events[i].column, message)."""
    out = []
    for problem in problems:
        rows = where.get(problem.table, [])
        if not problem.examples:
            out.append((f"events ({problem.table})", problem.message))
        for example in problem.examples:
            row = int(example.get("row", 0))
            if 0 < row <= len(rows):
                out.append((_path(rows[row - 1], problem.column), _plain(problem.message)))
    return out


def _plain(message: str) -> str:
    """A problem's message without its row count ("1 row with ..." -> "with ...")."""
    import re

    return re.sub(r"^[\d,]+ (rows?|leads?) (with |of )?", "", message)


def check_shape(events: Any, config: StoreConfig) -> None:
    """What can be refused without the contract's tables (EventsRejected): a non-empty
    list within ``max_events_per_request``, each event an object with an id, a known
    kind and scalar values within the limits. Cheap: the service runs it on each
    request before batching requests together."""
    if not isinstance(events, Sequence) or isinstance(events, (str, bytes)) or not events:
        raise EventsRejected("no events", [("events", "give at least one event")])
    if len(events) > config.max_events_per_request:
        raise EventsRejected("too many events in one request", [(
            "events", f"{len(events):,} events; at most {config.max_events_per_request:,} per request "
                      "(max_events_per_request)")])
    problems = _shape_problems(events, config)
    if problems:
        raise EventsRejected("the events break the data contract", problems)


def check_events(events: Sequence[Any], config: StoreConfig,
                 created_of: Mapping[str, pd.Timestamp] | None = None) -> EventBatch:
    """A batch checked by the data contract, or EventsRejected naming each problem by
    the event's index. ``created_of`` gives stored leads' creation times (for the
    contract's "outcome before its lead's created_at" rule on leads not in the batch)."""
    check_shape(events, config)
    created_of = created_of or {}
    # A lead sent twice in one batch: each copy is checked, the last one is kept.
    lead_rows, lead_at = _rows_of(events, "lead")
    act_rows, act_at = _rows_of(events, "activity")
    out_rows, out_at = _rows_of(events, "outcome")
    rounds: dict[str, list[int]] = {}
    for position, row in enumerate(lead_rows):
        rounds.setdefault(str(_id_text(row.get("lead_id"))), []).append(position)
    n_rounds = max((len(v) for v in rounds.values()), default=1)
    clean_leads, warnings = [], []
    problems = []
    for r in range(n_rounds):
        positions = [ps[r] for ps in rounds.values() if len(ps) > r]
        last = r == n_rounds - 1
        data, found, noticed = _validate(
            [lead_rows[p] for p in positions], [lead_at[p] for p in positions],
            act_rows if last else [], act_at if last else [], out_rows if last else [], out_at if last else [],
            created_of)
        problems += found
        warnings += noticed
        if data is not None:
            clean_leads.append(data)
    if problems:
        raise EventsRejected("the events break the data contract", sorted(set(problems), key=_order))
    final = clean_leads[-1]
    leads = pd.concat([c["leads"] for c in clean_leads], ignore_index=True) if len(clean_leads) > 1 else final["leads"]
    leads = leads.drop_duplicates("lead_id", keep="last")  # the last copy in the batch wins
    ids = [str(_id_text(e["event_id"])) for e in events]
    lead_ids = [str(_id_text(e.get("lead_id"))) for e in events]
    # A batch without lead events (most of a webhook's) has nothing to minimise: that call
    # costs as much as validating the batch, even on no rows.
    leads = leads if leads.empty else minimise_leads(leads)
    return EventBatch(ids, [e["kind"] for e in events], lead_ids, leads.reset_index(drop=True),
                      final["activities"], final["outcomes"], sorted(set(warnings), key=_order))


def _order(problem: tuple[str, str]) -> tuple:
    import re

    found = re.match(r"events\[(\d+)\]", problem[0])
    return (int(found.group(1)) if found else -1, problem)


def _validate(lead_rows: list[dict], lead_at: list[int], act_rows: list[dict], act_at: list[int],
              out_rows: list[dict], out_at: list[int], created_of: Mapping[str, pd.Timestamp],
              ) -> tuple[dict[str, pd.DataFrame] | None, list[tuple[str, str]], list[tuple[str, str]]]:
    """One round of the contract on the batch's rows (stand-in leads for the others)."""
    given = {str(_id_text(r.get("lead_id"))) for r in lead_rows}
    others = sorted({str(_id_text(r.get("lead_id"))) for r in act_rows + out_rows} - given - {"None"})
    stand_ins = [{"lead_id": lead, "created_at": created_of.get(lead, EARLIEST)} for lead in others]
    leads = _frame([*lead_rows, *stand_ins], LEAD_COLUMNS)
    tables = {"leads": leads}
    if act_rows:
        tables["activities"] = _frame(act_rows, ACTIVITY_COLUMNS)
    if out_rows:
        tables["outcomes"] = _frame(out_rows, OUTCOME_COLUMNS)
    where = {"leads": lead_at, "activities": act_at, "outcomes": out_at}
    try:
        data = validate_tables(tables, as_of=_VALIDATE_AS_OF, max_examples=len(lead_rows) + len(act_rows)
                               + len(out_rows) + len(stand_ins))
    except ContractError as exc:
        return None, _by_event(exc.report.errors, where), []
    kept = data.leads[data.leads["lead_id"].isin(given)]
    activities = data.activities.copy() if act_rows else pd.DataFrame()
    outcomes = data.outcomes.copy() if out_rows else pd.DataFrame()
    return ({"leads": kept.reset_index(drop=True), "activities": activities.reset_index(drop=True),
             "outcomes": outcomes.reset_index(drop=True)}, [], _by_event(data.report.warnings, where))


def to_micros(values: pd.Series) -> np.ndarray:
    """UTC timestamps as whole microseconds since 1970 (the store's time), -1 where missing."""
    if str(values.dtype) in ("datetime64[us, UTC]", "datetime64[us]"):
        # The contract's clean columns: already microseconds (a few µs, against ~0.3 ms below).
        instants = values.to_numpy(dtype="datetime64[us]")
        out = instants.astype("int64")
        out[np.isnat(instants)] = -1
        return out
    stamps = pd.to_datetime(values, utc=True)
    out = stamps.dt.tz_convert("UTC").astype("datetime64[us, UTC]").astype("int64").to_numpy(copy=True)
    out[stamps.isna().to_numpy()] = -1
    return out
