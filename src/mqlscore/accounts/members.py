"""Buying groups at a moment: the account rows and their member leads.

An *account row* is one buying group at one as-of time; its *members* are the
group's leads being scored then (open leads in a file or in training, the
request's leads in the service). The group is the one the features and the lead
store use (``features.account.buying_groups``: the account's leads together, a
lead without an account alone). For each member this module gathers what the
account model reads (``models.account.MEMBER_COLUMNS``): its calibrated log-odds
as scored, its calibrated log-odds scored alone (as the only lead of its account:
what it brings whoever its colleagues are), its committee role (parsed from the
title by the features) and the days since its last activity before the as-of time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mqlscore.features.account import buying_groups
from mqlscore.features.events import US_PER_DAY, SortedEvents, time_frame, to_us
from mqlscore.features.fit import lead_facts, stripped_text
from mqlscore.features.titles import NO_COMMITTEE
from mqlscore.models.account import MEMBER_COLUMNS
from mqlscore.scoring import ScoringModel

@dataclass
class Members:
    """Account rows and their members.

    ``frame``: one row per member, ``lead_id``, ``as_of`` and the account model's
    :data:`~mqlscore.models.account.MEMBER_COLUMNS` (``row`` indexes ``rows``), plus
    ``org_type``; ``rows``: one row per account row, ``group`` (the buying group),
    ``account_id`` (None for a lead without one), ``as_of`` and ``org_type`` (the most
    common among its members)."""

    frame: pd.DataFrame
    rows: pd.DataFrame

    @property
    def n_rows(self) -> int:
        """How many account rows."""
        return len(self.rows)


def days_since_activity(activities: pd.DataFrame, lead_ids: np.ndarray, as_of_us: np.ndarray) -> np.ndarray:
    """Per (lead, as-of) pair, days since the lead's last activity strictly before the
    as-of time (NaN when it had none), "before" on the features' own event index
    (``features.events.SortedEvents``: what their "active in the last 30 days" counts)."""
    n = len(lead_ids)
    out = np.full(n, np.nan)
    if not n or activities is None or not len(activities):
        return out
    ids = np.asarray(lead_ids, dtype=object).astype(str)
    acted = activities["lead_id"].astype(str).to_numpy(object)
    index = pd.Index(pd.unique(np.concatenate([ids, acted])))
    query, entity = index.get_indexer(ids), index.get_indexer(acted)
    ev_us, q_us = to_us(activities["occurred_at"]), np.asarray(as_of_us, np.int64)
    base_us, span = time_frame(ev_us, q_us, n_entities=len(index) + 2)
    events = SortedEvents.build(entity, ev_us, None, base_us, span)
    end, start = events.count_before(query, q_us), events.start_of(query)
    has = end > start
    out[has] = (q_us[has] - events.us[end[has] - 1]) / US_PER_DAY
    return out


def lead_log_odds(model: ScoringModel, leads: pd.DataFrame, activities: pd.DataFrame,
                  rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The lead model's calibrated log-odds of each (``lead_id``, ``as_of``) row, as scored
    and as the only lead of its account (``ScoringModel.alone``), from one feature block."""
    if not len(rows):
        return np.empty(0), np.empty(0)
    X = model.builder.transform(leads, activities, rows)
    scored = model.score_features(X, reasons=False, alone=True)
    return scored["log_odds"].to_numpy(float), scored["alone_log_odds"].to_numpy(float)


def members_at(model: ScoringModel, leads: pd.DataFrame, activities: pd.DataFrame, member_rows: pd.DataFrame, *,
               log_odds: np.ndarray | None = None, solo_log_odds: np.ndarray | None = None,
               accounts_only: bool = False) -> Members:
    """The account rows of ``member_rows`` (``lead_id``, ``as_of``: the leads scored at each
    time) and their members, with what the account model reads.

    ``log_odds`` and ``solo_log_odds``: the members' calibrated log-odds as scored and alone
    when already scored (``ScoringModel.score(..., alone=True)``); without ``log_odds`` both
    are computed with ``model`` (given ``log_odds`` alone, ``solo_log_odds`` repeats it: for
    an account model that does not read it). ``accounts_only``: leave out leads without an
    account (outputs show accounts; training keeps them as groups of one). Other columns of
    ``member_rows`` (a label) are kept in ``frame``."""
    leads = leads.reset_index(drop=True)
    ids = leads["lead_id"].astype(str)
    position = pd.Index(ids).get_indexer(member_rows["lead_id"].astype(str))
    if (position < 0).any():
        raise ValueError(f"{int((position < 0).sum()):,} member row(s) name a lead that is not in the leads table")
    account_ids = leads["account_id"] if "account_id" in leads else None
    group = buying_groups(ids.to_numpy(object), account_ids)[position]
    account = (stripped_text(account_ids) if account_ids is not None else np.full(len(leads), None))[position]
    frame = member_rows.reset_index(drop=True).copy()
    if log_odds is not None:
        frame["log_odds"] = np.asarray(log_odds, float)
        frame["solo_log_odds"] = np.asarray(log_odds if solo_log_odds is None else solo_log_odds, float)
    keep = pd.notna(account) if accounts_only else np.ones(len(frame), bool)
    frame, group, account, position = frame[keep].reset_index(drop=True), group[keep], account[keep], position[keep]
    as_of_us = to_us(frame["as_of"]) if len(frame) else np.empty(0, np.int64)
    key = pd.MultiIndex.from_arrays([pd.Index(group, dtype=object), pd.Index(as_of_us)]) if len(frame) else None
    row = pd.factorize(key)[0] if key is not None else np.empty(0, np.int64)
    facts = lead_facts(leads)
    role = np.asarray(facts["committee_role"], dtype=object)[position]
    frame["row"] = row.astype(np.int64)
    frame["role"] = np.where(pd.isna(role), NO_COMMITTEE, role).astype(object)
    frame["org_type"] = np.asarray(facts["org_type"], dtype=object)[position]
    # a model fitted without activity data counts none: no lead is ever active for it
    frame["days_since"] = (days_since_activity(activities, frame["lead_id"].to_numpy(object), as_of_us)
                           if model.builder.intent_learned else np.full(len(frame), np.nan))
    if "log_odds" not in frame:
        frame["log_odds"], frame["solo_log_odds"] = lead_log_odds(model, leads, activities,
                                                                  frame[["lead_id", "as_of"]])
    first = pd.Series(np.arange(len(frame))).groupby(row).min().to_numpy() if len(frame) else np.empty(0, int)
    rows = pd.DataFrame({"group": group[first], "account_id": account[first],
                         "as_of": frame["as_of"].to_numpy()[first] if len(frame) else [],
                         "org_type": _most_common(row, frame["org_type"].to_numpy(object), len(first))})
    ordered = ["lead_id", "as_of", *[c for c in MEMBER_COLUMNS if c not in ("lead_id", "as_of")], "org_type"]
    extra = [c for c in frame.columns if c not in ordered]
    return Members(frame[ordered + extra], rows)


def _most_common(row: np.ndarray, values: np.ndarray, n_rows: int) -> np.ndarray:
    """Per row, its most common non-missing value (ties: the first seen); None when none."""
    out = np.full(n_rows, None, dtype=object)
    given = np.flatnonzero(pd.notna(values))
    if not len(given):
        return out
    codes, uniques = pd.factorize(np.asarray(values, dtype=object)[given])
    counts = np.zeros((n_rows, len(uniques)), np.int64)
    np.add.at(counts, (row[given], codes), 1)
    first = np.full((n_rows, len(uniques)), np.iinfo(np.int64).max)
    np.minimum.at(first, (row[given], codes), given)
    # the largest count, then the earliest first sighting
    best = np.lexsort((first, -counts), axis=1)[:, 0] if len(uniques) > 1 else np.zeros(n_rows, np.int64)
    has = counts.sum(axis=1) > 0
    out[has] = np.asarray(uniques, dtype=object)[best[has]]
    return out
