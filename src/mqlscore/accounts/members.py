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
from mqlscore.features.fit import committee_facts, stripped_text
from mqlscore.features.titles import NO_COMMITTEE
from mqlscore.models.account import MEMBER_COLUMNS
from mqlscore.scoring import ScoringModel

# Up to this many rows (a service request: at most 1,000 leads by default), plain Python
# beats pandas' per-call overhead; above it, pandas' hashing wins.
SMALL = 1_000


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


@dataclass
class MemberArrays:
    """What :class:`Members` holds, as plain arrays by column name, without the members'
    log-odds (the caller's): for a service request's handful of members, frames cost more
    than the work.

    ``members``: per member, ``lead_id`` (text), ``as_of_us``, ``row``, ``role``,
    ``days_since`` and ``org_type``; ``kept``: each member's position among the pairs asked
    about; ``rows``: per account row, ``group``, ``account_id``, ``org_type`` and ``first``
    (the position of its first member in ``members``)."""

    members: dict[str, np.ndarray]
    kept: np.ndarray
    rows: dict[str, np.ndarray]

    @property
    def n_rows(self) -> int:
        """How many account rows."""
        return len(self.rows["first"])


def _text(values: pd.Series | np.ndarray | list[object]) -> np.ndarray:
    """Identifiers as text (an object array of ``str``)."""
    if isinstance(values, pd.Series) and len(values) > SMALL:
        return values.astype(str).to_numpy(object)
    return np.array([str(v) for v in (values.tolist() if hasattr(values, "tolist") else values)] + [""],
                    dtype=object)[:-1]


def _codes(values: np.ndarray, *more: np.ndarray) -> tuple[list[np.ndarray], int]:
    """The same code for the same text in every array (codes of ``values`` first), and how
    many distinct texts there are."""
    arrays = [values, *more]
    if sum(len(a) for a in arrays) > SMALL:
        # one factorisation of the object arrays (an Index of them would be converted to pandas'
        # string dtype first, which cost more than the look-ups)
        codes, uniques = pd.factorize(np.concatenate(arrays))
        return np.split(codes.astype(np.int64), np.cumsum([len(a) for a in arrays])[:-1]), len(uniques)
    seen: dict[str, int] = {}
    return [np.array([seen.setdefault(v, len(seen)) for v in a], np.int64) for a in arrays], len(seen)


def _positions(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Each of ``wanted``'s position in ``ids`` (unique), -1 when absent."""
    if len(ids) + len(wanted) > SMALL:
        index = pd.Index(ids, dtype=object)  # as they are: no conversion to pandas' string dtype
        if not index.is_unique:
            raise ValueError("leads: lead_id must be unique")
        return index.get_indexer(wanted)
    where = {v: i for i, v in enumerate(ids)}
    if len(where) < len(ids):
        raise ValueError("leads: lead_id must be unique")
    return np.array([where.get(v, -1) for v in wanted], np.int64)


def _first_seen(group: np.ndarray, as_of_us: np.ndarray) -> np.ndarray:
    """Per pair, the code of its (group, time), numbered in order of first appearance."""
    if len(group) > SMALL:
        return pd.factorize(pd.MultiIndex.from_arrays([pd.Index(group, dtype=object), pd.Index(as_of_us)]))[0]
    seen: dict[tuple[str, int], int] = {}
    return np.array([seen.setdefault(k, len(seen)) for k in zip(group.tolist(), as_of_us.tolist())], np.int64)


def days_since_activity(activities: pd.DataFrame, lead_ids: np.ndarray, as_of_us: np.ndarray) -> np.ndarray:
    """Per (lead, as-of) pair, days since the lead's last activity strictly before the
    as-of time (NaN when it had none), "before" on the features' own event index
    (``features.events.SortedEvents``: what their "active in the last 30 days" counts)."""
    n = len(lead_ids)
    out = np.full(n, np.nan)
    if not n or activities is None or not len(activities):
        return out
    (query, entity), n_entities = _codes(_text(lead_ids), _text(activities["lead_id"]))
    ev_us, q_us = to_us(activities["occurred_at"]), np.asarray(as_of_us, np.int64)
    base_us, span = time_frame(ev_us, q_us, n_entities=n_entities + 2)
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


def member_arrays(model: ScoringModel, leads: pd.DataFrame, activities: pd.DataFrame,
                  lead_ids: pd.Series | np.ndarray | list[object], as_of_us: np.ndarray, *,
                  accounts_only: bool = False) -> MemberArrays:
    """The account rows of (``lead_ids``, ``as_of_us``) pairs (the leads scored at each
    time, in microseconds) and their members, as plain arrays (:class:`MemberArrays`);
    ``accounts_only`` as for :func:`members_at`."""
    ids, wanted = _text(leads["lead_id"]), _text(lead_ids)
    position = _positions(ids, wanted)
    if (position < 0).any():
        raise ValueError(f"{int((position < 0).sum()):,} member row(s) name a lead that is not in the leads table")
    raw = np.asarray(leads["account_id"], dtype=object)[position] if "account_id" in leads else None
    account = stripped_text(raw) if raw is not None else np.full(len(position), None)
    kept = np.flatnonzero(pd.notna(account)) if accounts_only else np.arange(len(position))
    position, account, wanted = position[kept], account[kept], wanted[kept]
    as_of_us = np.asarray(as_of_us, np.int64)[kept]
    group = buying_groups(wanted, raw[kept] if raw is not None else None)
    row = _first_seen(group, as_of_us)
    first = np.unique(row, return_index=True)[1]
    role, org = (values[position] for values in committee_facts(leads))
    # a model fitted without activity data counts none: no lead is ever active for it
    days = (days_since_activity(activities, wanted, as_of_us) if model.builder.intent_learned
            else np.full(len(wanted), np.nan))
    members = {"lead_id": wanted, "as_of_us": as_of_us, "row": row.astype(np.int64),
               "role": np.where(pd.isna(role), NO_COMMITTEE, role).astype(object), "days_since": days,
               "org_type": org}
    rows = {"group": group[first], "account_id": account[first], "first": first,
            "org_type": _most_common(row, org, len(first))}
    return MemberArrays(members, kept, rows)


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
    frame = member_rows.reset_index(drop=True).copy()
    if log_odds is not None:
        frame["log_odds"] = np.asarray(log_odds, float)
        frame["solo_log_odds"] = np.asarray(log_odds if solo_log_odds is None else solo_log_odds, float)
    as_of_us = to_us(frame["as_of"]) if len(frame) else np.empty(0, np.int64)
    found = member_arrays(model, leads, activities, frame["lead_id"], as_of_us,
                          accounts_only=accounts_only)
    keep = np.zeros(len(frame), bool)
    keep[found.kept] = True
    frame = frame[keep].reset_index(drop=True)
    for c in ("row", "role", "org_type", "days_since"):
        frame[c] = found.members[c]
    if "log_odds" not in frame:
        frame["log_odds"], frame["solo_log_odds"] = lead_log_odds(model, leads, activities,
                                                                  frame[["lead_id", "as_of"]])
    first = found.rows["first"]
    rows = pd.DataFrame({"group": found.rows["group"], "account_id": found.rows["account_id"],
                         "as_of": frame["as_of"].to_numpy()[first] if len(frame) else [],
                         "org_type": found.rows["org_type"]})
    ordered = ["lead_id", "as_of", *[c for c in MEMBER_COLUMNS if c not in ("lead_id", "as_of")], "org_type"]
    extra = [c for c in frame.columns if c not in ordered]
    return Members(frame[ordered + extra], rows)


def _most_common(row: np.ndarray, values: np.ndarray, n_rows: int) -> np.ndarray:
    """Per row, its most common non-missing value (ties: the first seen); None when none."""
    out = np.full(n_rows, None, dtype=object)
    given = np.flatnonzero(pd.notna(values))
    if not len(given):
        return out
    if len(given) <= SMALL:
        # per row, each value's count in order of first sighting: max() keeps the first of equals
        counts: list[dict[object, int]] = [{} for _ in range(n_rows)]
        for r, v in zip(row[given].tolist(), np.asarray(values, dtype=object)[given].tolist()):
            counts[r][v] = counts[r].get(v, 0) + 1
        out[:] = [max(c, key=c.__getitem__) if c else None for c in counts]
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
