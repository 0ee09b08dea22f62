"""A stored lead's score through time: now, when it became an MQL, when decay will
end that, and the picture of it for the lead card.

Everything here is ``ScoringModel.score`` on the lead's stored history at chosen
moments (the same call as ``POST /score``), so the numbers are the model's, not a
re-implementation of decay. Between two events a score only moves with time
(decay, windows, the lead's age); the moments looked at are the events (just
before and just after each) and a grid between them, refined where the score
crosses the threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mqlscore.contract import ContractError, validate_tables
from mqlscore.contract.schema import ACTIVITY_COLUMNS, LEAD_COLUMNS, TIMESTAMP_DTYPE

if TYPE_CHECKING:
    from mqlscore.scoring import ScoringModel

ONE_US = pd.Timedelta(microseconds=1)
# The first look ahead for mql_until: every 6 hours for a week, daily to 60 days, then weekly.
_AHEAD_HOURS = np.unique(np.concatenate([np.arange(6, 7 * 24 + 1, 6), np.arange(8, 61) * 24.0,
                                         np.arange(9, 53 * 7 + 1, 7) * 24.0 * 1.0]))
_REFINE_POINTS = 32  # per pass; three passes take a week's gap below a minute
_REFINE_PASSES = 4
MAX_EVENT_SAMPLES = 400  # events looked at when finding mql_since


class LeadNotScorable(ValueError):
    """The lead cannot be scored at that moment (not stored, or created after it)."""


@dataclass
class History:
    """Stored leads (a lead and its buying group) as the contract's clean tables."""

    leads: pd.DataFrame
    activities: pd.DataFrame
    outcomes: pd.DataFrame
    warnings: list[Any]

    def created_at(self, lead_id: str) -> pd.Timestamp:
        """A lead's creation time."""
        return pd.Timestamp(self.leads.loc[self.leads["lead_id"] == lead_id, "created_at"].iloc[0])

    def state_at(self, lead_id: str, at: pd.Timestamp) -> str:
        """``open``, ``sql`` or ``closed`` at ``at`` (``contract.schema.LEAD_STATES``)."""
        rows = self.outcomes[self.outcomes["lead_id"] == lead_id]
        if rows.empty:
            return "open"
        sql_at, dq_at = rows["sql_at"].iloc[0], rows["disqualified_at"].iloc[0]
        if pd.notna(sql_at) and sql_at < at:
            return "sql"
        if pd.notna(dq_at) and dq_at < at:
            return "closed"
        return "open"

    def group_ids(self, lead_id: str) -> set[str]:
        """The lead and the other leads of its account (its buying group)."""
        group = self.leads["lead_id"] == lead_id
        if "account_id" in self.leads:
            account = self.leads.loc[group, "account_id"]
            if len(account) and pd.notna(account.iloc[0]):
                group |= self.leads["account_id"] == account.iloc[0]
        return set(self.leads.loc[group, "lead_id"])

    def event_times(self, lead_id: str, before: pd.Timestamp) -> np.ndarray:
        """Moments before ``before`` at which the lead's features can jump: its group's
        activities and its colleagues' creation (sorted, unique)."""
        ids = self.group_ids(lead_id)
        acts = self.activities.loc[self.activities["lead_id"].isin(ids), "occurred_at"]
        created = self.leads.loc[self.leads["lead_id"].isin(ids), "created_at"]
        times = pd.concat([acts, created]).to_numpy(dtype="datetime64[us]")
        return np.unique(times[times < before.tz_convert("UTC").tz_localize(None).to_datetime64()])


def history(raw: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], as_of: pd.Timestamp) -> History:
    """The stored tables through the contract's validation at ``as_of`` (what is dated
    later has not happened yet); LeadNotScorable when no stored lead existed then."""
    leads, activities, outcomes = raw
    if leads.empty:
        raise LeadNotScorable("no such lead in the store")
    tables = {"leads": leads, "activities": activities, "outcomes": outcomes}
    try:
        data = validate_tables(tables, as_of=as_of, max_examples=5)
    except ContractError as exc:
        raise LeadNotScorable(exc.report.errors[0].message if exc.report.errors else str(exc)) from None
    return History(data.leads, data.activities, data.outcomes, list(data.report.warnings))


def stored_history(raw: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], as_of: pd.Timestamp) -> History:
    """The stored tables as :func:`history` gives them, without checking them again.

    Stored rows are the contract's clean output already (each event was checked on its
    way in, with its values parsed and its texts normalised), so only what depends on
    the moment is redone, by the contract's own rules: what is dated after ``as_of``
    has not happened (leads created later are left out with their rows; later outcomes
    are not yet known), and an activity stored twice under two event ids counts once.
    Costs a third of :func:`history` for a lead's buying group; tests check both give
    the same tables. No warnings: they were answered when the events came in."""
    leads, activities, outcomes = raw
    limit = as_of.value // 1000  # microseconds, as stored (value counts nanoseconds in any unit)
    created = _micros(leads["created_at"]) if len(leads) else np.empty(0, np.int64)
    if not (created <= limit).any():
        raise LeadNotScorable("no lead left to use (all were created after the as-of time)")
    order = [c for c in LEAD_COLUMNS if c in leads.columns]
    order += [c for c in leads.columns if c not in order]
    leads = _rows(leads if order == list(leads.columns) else leads[order], created <= limit)
    known = leads["lead_id"].tolist()
    times = _micros(activities["occurred_at"])
    keep = activities["lead_id"].isin(known).to_numpy(bool) & (times <= limit)
    activities = _rows(activities, keep & _first_of_each(activities, times))
    outcomes = _rows(outcomes, outcomes["lead_id"].isin(known).to_numpy(bool))
    late = {c: _micros(outcomes[c]) > limit for c in ("sql_at", "disqualified_at")}  # NaT: never late
    if any(m.any() for m in late.values()):
        outcomes = outcomes.copy()  # never the stored tables themselves
        for column, mask in late.items():
            outcomes.loc[mask, column] = pd.NaT
    return History(leads, activities, outcomes, [])


def _micros(times: pd.Series) -> np.ndarray:
    """UTC timestamps (the store's microseconds) as integers; NaT as the smallest integer."""
    array = times.array if isinstance(times.dtype, pd.DatetimeTZDtype) else pd.to_datetime(times, utc=True).array
    return array.as_unit("us").asi8


def _rows(table: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """The rows of ``table`` where ``keep``, numbered from 0; the table itself when it keeps them all
    (what a stored buying group usually does: nothing of it is later than now)."""
    if keep.all():
        return table if isinstance(table.index, pd.RangeIndex) and table.index.start == 0 else \
            table.reset_index(drop=True)
    return table[keep].reset_index(drop=True)


def _first_of_each(activities: pd.DataFrame, times: np.ndarray) -> np.ndarray:
    """False for an activity equal in every contract column to one before it (stored twice
    under two event ids): what ``duplicated`` gives, for the few hundred rows of a group.
    ``times``: the activities' microseconds; when no two are equal, no row repeats another."""
    if len(np.unique(times)) == len(times):
        return np.ones(len(times), bool)
    seen: set[tuple] = set()
    columns = [times.tolist() if c == "occurred_at" else
               [None if v is None or v != v else v for v in activities[c].tolist()]  # every missing value alike
               for c in ACTIVITY_COLUMNS]
    rows = zip(*columns)
    return np.fromiter((not (row in seen or seen.add(row)) for row in rows), bool, len(activities))


def score_at(model: ScoringModel, hist: History, lead_ids: Sequence[str], moments: Sequence[pd.Timestamp],
             reasons: bool = False) -> pd.DataFrame:
    """The model's scores of (lead, moment) pairs, in order."""
    snapshots = pd.DataFrame({"lead_id": np.asarray(lead_ids, dtype=object),
                              "as_of": pd.DatetimeIndex(moments).tz_convert("UTC").astype(TIMESTAMP_DTYPE)})
    return model.score(hist.leads, hist.activities, snapshots, reasons=reasons).reset_index(drop=True)


def mql_until(model: ScoringModel, hist: History, lead_ids: Sequence[str], start: pd.Timestamp,
              lookahead_days: int) -> dict[str, pd.Timestamp | None]:
    """For leads that are MQLs at ``start``: the first moment after it at which the
    score falls below the threshold if nothing else happens (to within a minute),
    or None when it is still an MQL ``lookahead_days`` later.

    A coarse look ahead (every 6 hours for a week, daily to 60 days, then weekly)
    finds the first moment below, then the gap before it is cut in 32 four times."""
    if not len(lead_ids):
        return {}
    end = start + pd.Timedelta(days=lookahead_days)
    offsets = pd.to_timedelta(_AHEAD_HOURS, unit="h")
    grid = [t for t in (start + offsets) if t <= end] + [end]
    lo: dict[str, pd.Timestamp] = {}
    hi: dict[str, pd.Timestamp] = {}
    ids = list(lead_ids)
    scored = score_at(model, hist, np.repeat(ids, len(grid)), list(grid) * len(ids))
    below = ~scored["is_mql"].to_numpy(bool).reshape(len(ids), len(grid))
    for k, lead in enumerate(ids):
        found = np.flatnonzero(below[k])
        if len(found):
            j = int(found[0])
            lo[lead], hi[lead] = (start if j == 0 else grid[j - 1]), grid[j]
    for _ in range(_REFINE_PASSES):
        open_ids = [lead for lead in lo if hi[lead] - lo[lead] > pd.Timedelta(seconds=30)]
        if not open_ids:
            break
        fractions = np.arange(1, _REFINE_POINTS + 1) / (_REFINE_POINTS + 1)
        rows_ids, rows_at = [], []
        for lead in open_ids:
            span = hi[lead] - lo[lead]
            rows_ids += [lead] * len(fractions)
            rows_at += [lo[lead] + span * f for f in fractions]
        flags = ~score_at(model, hist, rows_ids, rows_at)["is_mql"].to_numpy(bool)
        flags = flags.reshape(len(open_ids), len(fractions))
        for k, lead in enumerate(open_ids):
            points = rows_at[k * len(fractions):(k + 1) * len(fractions)]
            found = np.flatnonzero(flags[k])
            if len(found):
                j = int(found[0])
                hi[lead] = points[j]
                if j > 0:
                    lo[lead] = points[j - 1]
            else:
                lo[lead] = points[-1]
    return {lead: (_ceil_us(hi[lead]) if lead in hi else None) for lead in ids}


def _ceil_us(ts: pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(ts).ceil("us")


def mql_since(model: ScoringModel, hist: History, lead_id: str, at: pd.Timestamp) -> pd.Timestamp:
    """For a lead that is an MQL at ``at``: when its current stretch above the
    threshold began (the event that lifted it, or its creation)."""
    times = hist.event_times(lead_id, at)[-MAX_EVENT_SAMPLES:]
    stamps = pd.DatetimeIndex(times).tz_localize("UTC")
    # Just before each event (the lowest point of the decay before it) and just after it.
    moments = [m for t in stamps for m in (t, t + ONE_US)]
    if not moments:
        return hist.created_at(lead_id)
    flags = score_at(model, hist, [lead_id] * len(moments), moments)["is_mql"].to_numpy(bool)
    below = np.flatnonzero(~flags)
    if not len(below):
        return max(hist.created_at(lead_id), stamps[0])
    last = int(below[-1])
    return moments[last + 1] - ONE_US if last + 1 < len(moments) else at


def timeline(model: ScoringModel, hist: History, lead_id: str, now: pd.Timestamp, until: pd.Timestamp | None,
             points: int = 120, ahead_days: int = 30) -> dict[str, Any]:
    """The lead's score from its creation to now (just before and after each event,
    and an even grid between) and ahead, with no new event, to ``until`` (its
    mql_until) or ``ahead_days``: what the lead card draws."""
    created = hist.created_at(lead_id)
    times = hist.event_times(lead_id, now)
    stamps = pd.DatetimeIndex(times).tz_localize("UTC")
    stamps = stamps[stamps >= created][-MAX_EVENT_SAMPLES:]
    start = min(created, stamps[0]) if len(stamps) else created
    grid = pd.date_range(start, now, periods=max(points, 2))
    past = sorted({*grid, *stamps, *(stamps + ONE_US), now})
    end = until + pd.Timedelta(days=3) if until is not None else now + pd.Timedelta(days=ahead_days)
    future = list(pd.date_range(now, end, periods=max(points // 2, 2)))[1:]
    moments = [t for t in past if t >= created] + future
    scored = score_at(model, hist, [lead_id] * len(moments), moments)
    group = hist.group_ids(lead_id)
    acts = hist.activities[hist.activities["lead_id"].isin(group)]
    return {
        "threshold_score": None,  # filled by the caller, who knows the scale
        "points": [{"at": _iso(t), "score": float(s), "probability": float(p), "ahead": bool(t > now)}
                   for t, s, p in zip(moments, scored["score"], scored["probability"])],
        # Its own activities, and its buying group's (which move its account features too).
        "events": [{"at": _iso(t), "kind": str(k), "colleague": bool(who != lead_id)}
                   for t, k, who in zip(acts["occurred_at"], acts["activity_type"], acts["lead_id"]) if t < now],
        "now": _iso(now),
    }


def _iso(ts: pd.Timestamp) -> str:
    return pd.Timestamp(ts).tz_convert("UTC").isoformat().replace("+00:00", "Z")
