"""What was known at an origin: a validated export cut at a time ``T``.

A CRM export cut at ``T`` holds the leads created before ``T``, their
activities that occurred before ``T`` and the outcomes (``sql_at``,
``disqualified_at``) that happened before ``T``; its as-of time is ``T``. A
real export is cut the same way, so this works on any validated
:class:`~mqlscore.contract.Dataset`, not only on synthetic ones (the
generator's ``--also-export-at`` cuts its own tables before they are written).

What cannot be cut: the values of a lead's own columns (title, org type, any
extra column) are those of the full export. A CRM export holds each field's
current value; a field that sales fills in after qualification is exactly what
training's leak guard stops, at every origin.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mqlscore.contract import OUTCOME_COLUMNS, Dataset, ValidationReport
from mqlscore.contract.write import empty_rejects
from mqlscore.features.events import instant_us, to_us


def known_at(dataset: Dataset, t: pd.Timestamp) -> Dataset:
    """``dataset`` as its CRM would have exported it at ``t`` (strictly before ``t``
    for every row: a lead created at ``t`` did not exist yet, an activity or an
    outcome at ``t`` had not been recorded), with as-of time ``t``.

    An outcome at or after ``t`` is blanked, so that lead is open at ``t``; an
    outcome row left without any outcome is dropped, unless it had none in the
    export (a lead the CRM lists as open). The outcome table keeps the contract's
    columns only: an extra column of it (a close reason) is written with the
    outcome, which a cut cannot date. Raises ValueError when ``t`` is after the
    export's as-of time or no lead was created before it."""
    t = _utc(t)
    if t > dataset.as_of:
        raise ValueError(f"cannot cut the export at {_iso(t)}: its as-of time is {_iso(dataset.as_of)}")
    cut_us = instant_us(t)
    leads = dataset.leads[to_us(dataset.leads["created_at"]) < cut_us].reset_index(drop=True)
    if leads.empty:
        first = dataset.leads["created_at"].min()
        raise ValueError(f"no lead was created before {_iso(t)} (the first was created {_iso(first)})")
    known = pd.Index(leads["lead_id"])
    acts = dataset.activities
    if len(acts):
        acts = acts[(to_us(acts["occurred_at"]) < cut_us) & acts["lead_id"].isin(known).to_numpy()]
    acts = acts.reset_index(drop=True)
    outcomes = _outcomes_before(dataset.outcomes, known, cut_us)
    report = _report(dataset.report, leads, acts, outcomes, t)
    return Dataset(leads, acts, outcomes, t, report, empty_rejects())


def _outcomes_before(outcomes: pd.DataFrame, known: pd.Index, cut_us: int) -> pd.DataFrame:
    frame = outcomes[[c for c in OUTCOME_COLUMNS if c in outcomes.columns]]
    frame = frame[frame["lead_id"].isin(known).to_numpy()]
    if frame.empty:
        return frame.reset_index(drop=True)
    listed_open = np.ones(len(frame), bool)
    any_before = np.zeros(len(frame), bool)
    changes = {}
    for column in ("sql_at", "disqualified_at"):
        values = frame[column]
        given = values.notna().to_numpy()
        before = np.zeros(len(frame), bool)
        before[given] = to_us(values[given]) < cut_us
        listed_open &= ~given
        any_before |= before
        changes[column] = values.where(before)
    frame = frame.assign(**changes)
    return frame[any_before | listed_open].reset_index(drop=True)


def _report(full: ValidationReport, leads: pd.DataFrame, acts: pd.DataFrame, outcomes: pd.DataFrame,
            t: pd.Timestamp) -> ValidationReport:
    """The summary validation would give for the cut tables. Problems are not
    carried over: they describe rows of the whole export."""
    stamps = [leads["created_at"]]
    if len(acts):
        stamps.append(acts["occurred_at"])
    for column in ("sql_at", "disqualified_at"):
        if len(outcomes) and column in outcomes:
            stamps.append(outcomes[column].dropna())
    present = [s for s in stamps if len(s)]
    activity_types = acts["activity_type"].value_counts().to_dict() if len(acts) else {}
    return ValidationReport(
        sources=dict(full.sources), rows_read={}, time_min=min(s.min() for s in present),
        time_max=max(s.max() for s in present), as_of=t, as_of_given=True,
        rows_kept={"leads": len(leads), "activities": len(acts), "outcomes": len(outcomes)},
        n_sql=int(outcomes["sql_at"].notna().sum()) if len(outcomes) else 0,
        n_disqualified=int(outcomes["disqualified_at"].notna().sum()) if len(outcomes) else 0,
        activity_types={str(k): int(v) for k, v in activity_types.items()}, lenient=full.lenient)


def _utc(t: pd.Timestamp | str) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _iso(t: pd.Timestamp) -> str:
    return pd.Timestamp(t).isoformat().replace("+00:00", "Z")
