"""Point-in-time training rows: (lead, as-of time t, label).

Policy (documented in docs/features.md):

* a lead is snapshotted ``first_after_hours`` after creation and then every
  ``every_days`` while it is open, plus one minute after its activity (at most
  once per lead per ``after_activity_min_gap_days``), so that fresh leads, quiet
  stretches and the moments right after engagement (when a webhook asks for a
  score) are all represented;
* a lead closed (SQL or disqualified) at or before t gives no row;
* the label is 1 when the lead became an SQL in (t, t + horizon];
* a snapshot whose horizon reaches past the folder's as-of time has an unknown
  label: it is marked ``labelled = False`` and never used as a negative.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mqlscore.config import SnapshotConfig
from mqlscore.contract.schema import HISTORY_FIELDS, LEAD_STATES
from mqlscore.features.events import US_PER_DAY, instant_us, to_us, utc_times

NEVER = np.iinfo(np.int64).max


def _outcome_us(leads: pd.DataFrame, outcomes: pd.DataFrame, column: str) -> np.ndarray:
    if outcomes is None or not len(outcomes) or column not in outcomes:
        return np.full(len(leads), NEVER, np.int64)
    times = outcomes.dropna(subset=[column]).groupby("lead_id")[column].min()
    if times.empty:  # e.g. nobody disqualified (mapping an empty datetime Series fails)
        return np.full(len(leads), NEVER, np.int64)
    mapped = leads["lead_id"].map(times)
    us = np.full(len(leads), NEVER, np.int64)
    given = mapped.notna().to_numpy()
    us[given] = to_us(mapped[given])
    return us


def closing_times(leads: pd.DataFrame, outcomes: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """(SQL time, closing time) per lead in microseconds (``events.to_us``); ``NEVER`` when it has not happened."""
    sql = _outcome_us(leads, outcomes, "sql_at")
    dq = _outcome_us(leads, outcomes, "disqualified_at")
    return sql, np.minimum(sql, dq)


def open_leads_at(leads: pd.DataFrame, outcomes: pd.DataFrame | None, as_of: pd.Timestamp) -> pd.DataFrame:
    """One row per lead open at ``as_of`` (created before it, not closed at or
    before it), with columns ``lead_id`` and ``as_of``: what batch scoring scores."""
    t = instant_us(as_of)
    created = to_us(leads["created_at"])
    _, closed = closing_times(leads, outcomes)
    is_open = (created < t) & (closed > t)
    return pd.DataFrame({"lead_id": leads["lead_id"].to_numpy()[is_open],
                         "as_of": pd.Timestamp(as_of)}).reset_index(drop=True)


def leads_created_before(leads: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """One row per lead created before ``as_of``, open or not, with columns ``lead_id``
    and ``as_of``: what ``mqlscore score --all-leads`` scores."""
    created = to_us(leads["created_at"]) < instant_us(as_of)
    return pd.DataFrame({"lead_id": leads["lead_id"].to_numpy()[created],
                         "as_of": pd.Timestamp(as_of)}).reset_index(drop=True)


def _state_codes(sql: np.ndarray, closed: np.ndarray, t: np.ndarray) -> np.ndarray:
    # Index into LEAD_STATES: an SQL at or before t wins over a disqualification (it is what
    # the lead became); "open" is exactly open_leads_at's rule (not closed at or before t).
    return np.where(sql <= t, LEAD_STATES.index("sql"), np.where(closed <= t, LEAD_STATES.index("closed"),
                                                                  LEAD_STATES.index("open")))


def lead_states_at(leads: pd.DataFrame, outcomes: pd.DataFrame | None, as_of: pd.Timestamp) -> pd.Series:
    """Each lead's state at ``as_of`` (one of ``LEAD_STATES``: open, sql, closed, by
    what happened at or before it), aligned with ``leads``; missing for a lead created
    at or after ``as_of`` (it did not exist yet)."""
    t = instant_us(as_of)
    sql, closed = closing_times(leads, outcomes)
    states = np.asarray(LEAD_STATES, object)[_state_codes(sql, closed, np.int64(t))]
    states[to_us(leads["created_at"]) >= t] = None
    return pd.Series(states, index=leads.index, dtype="str")


def look_back(leads: pd.DataFrame, outcomes: pd.DataFrame | None, rows: pd.DataFrame, horizon_days: float,
              known_until: pd.Timestamp) -> pd.DataFrame:
    """What the export knows at and after each (``lead_id``, ``as_of``) row of ``rows``:
    ``lead_state``, the lead's state at the row's time (:func:`lead_states_at`), and
    ``sql_within_horizon``, whether it became an SQL in (as_of, as_of + horizon] (the
    label of :func:`build_snapshots`), missing where as_of + horizon is after
    ``known_until`` (the export's as-of time: the outcome is censored). Index of ``rows``."""
    position = pd.Index(leads["lead_id"].astype(str)).get_indexer(rows["lead_id"].astype(str))
    if (position < 0).any():
        raise ValueError(f"{int((position < 0).sum()):,} row(s) name a lead that is not in the leads table")
    sql, closed = closing_times(leads, outcomes)
    sql, closed = sql[position], closed[position]
    t = to_us(rows["as_of"])
    horizon = int(horizon_days * US_PER_DAY)
    became = pd.array((sql > t) & (sql <= t + horizon), dtype="boolean")
    became[t + horizon > instant_us(known_until)] = pd.NA
    state_field, became_field = HISTORY_FIELDS
    return pd.DataFrame({state_field: pd.array(np.asarray(LEAD_STATES, object)[_state_codes(sql, closed, t)],
                                               dtype="str"),
                         became_field: became}, index=rows.index)


def _periodic(created: np.ndarray, end: np.ndarray, config: SnapshotConfig) -> tuple[np.ndarray, np.ndarray]:
    first = created + int(config.first_after_hours * 3600 * 10**6)
    step = int(config.every_days * US_PER_DAY)
    n = np.where(end > first, (end - first + step - 1) // step, 0)
    lead = np.repeat(np.arange(len(created)), n)
    k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    return lead, first[lead] + k * step


def _after_activity(lead_ids: pd.Index, created: np.ndarray, end: np.ndarray, activities: pd.DataFrame,
                    config: SnapshotConfig) -> tuple[np.ndarray, np.ndarray]:
    if activities is None or not len(activities):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    lead = lead_ids.get_indexer(activities["lead_id"].astype(str))
    ok = lead >= 0
    lead, t = lead[ok], to_us(activities["occurred_at"][ok]) + 60 * 10**6
    valid = (t > created[lead]) & (t < end[lead])
    lead, t = lead[valid], t[valid]
    bucket = (t - created[lead]) // int(config.after_activity_min_gap_days * US_PER_DAY)
    frame = pd.DataFrame({"lead": lead, "bucket": bucket, "t": t}).sort_values("t", kind="stable")
    first = frame.drop_duplicates(["lead", "bucket"], keep="first")
    return first["lead"].to_numpy(np.int64), first["t"].to_numpy(np.int64)


def build_snapshots(leads: pd.DataFrame, activities: pd.DataFrame | None, outcomes: pd.DataFrame | None,
                    as_of: pd.Timestamp, config: SnapshotConfig) -> pd.DataFrame:
    """Snapshot rows with ``lead_id``, ``as_of``, ``kind``, ``labelled`` and ``label``.

    ``label`` is only meaningful where ``labelled`` is True (the full horizon
    lies before the folder's as-of time).
    """
    as_of_us = instant_us(as_of)
    lead_ids = pd.Index(leads["lead_id"].astype(str))
    created = to_us(leads["created_at"])
    sql, closed = closing_times(leads, outcomes)
    end = np.minimum(closed, as_of_us)
    p_lead, p_t = _periodic(created, end, config)
    a_lead, a_t = (_after_activity(lead_ids, created, end, activities, config) if config.after_activity
                   else (np.empty(0, np.int64), np.empty(0, np.int64)))
    frame = pd.DataFrame({
        "lead": np.concatenate([p_lead, a_lead]), "t": np.concatenate([p_t, a_t]),
        "kind": np.repeat(["periodic", "after_activity"], [len(p_lead), len(a_lead)]),
    }).drop_duplicates(["lead", "t"]).sort_values(["lead", "t"], kind="stable").reset_index(drop=True)
    lead, t = frame["lead"].to_numpy(), frame["t"].to_numpy()
    horizon = int(config.horizon_days * US_PER_DAY)
    labelled = t + horizon <= as_of_us
    label = (sql[lead] > t) & (sql[lead] <= t + horizon)
    return pd.DataFrame({
        "lead_id": lead_ids.to_numpy()[lead],
        "as_of": utc_times(t),
        "kind": frame["kind"].to_numpy(),
        "labelled": labelled,
        "label": label.astype(np.int8),
    })
