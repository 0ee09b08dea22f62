"""Buying-committee features: what the *other* leads of a lead's account did.

They use only the account's leads (their titles) and their activities, never
their outcomes, so a service request that carries a buying group computes them
exactly as training does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mqlscore.features.events import MAX_PAIRS_PER_CHUNK, US_PER_DAY, SortedEvents, chunk_bounds, expand_ranges

def buying_groups(lead_ids: np.ndarray | pd.Series, account_ids: np.ndarray | pd.Series | None) -> np.ndarray:
    """Per row, its buying group: ``account:<id>`` when the lead has an account
    (stripped, not empty: the rule the account features use), else ``lead:<id>``.
    Colleagues' outcomes are correlated, so resampling and cross-fitting keep a
    group together."""
    from mqlscore.features.fit import stripped_text

    leads = np.asarray(lead_ids, dtype=object).astype(str)
    if account_ids is None:
        return np.char.add("lead:", leads).astype(object)
    accounts = stripped_text(np.asarray(account_ids, dtype=object))
    has = pd.notna(accounts)
    return np.where(has, np.char.add("account:", np.where(has, accounts, "").astype(str)),
                    np.char.add("lead:", leads)).astype(object)


COMMITTEE_ROLES = ("clinical_champion", "it_security", "finance", "compliance")

# Signal families that count as buying intent at the account level.
HIGH_INTENT_FAMILIES = (
    "act:demo_request", "act:contact_sales", "act:baa_request", "act:security_review", "act:sandbox_signup",
    "act:webinar_attended", "act:event_booth_scan", "page:pricing", "page:security", "page:integrations",
    "page:roi", "page:demo_contact",
)


def committee_activity(role_events: SortedEvents, lead_events: SortedEvents, snap_lead: np.ndarray,
                       snap_account: np.ndarray, lead_role: np.ndarray, snap_us: np.ndarray,
                       window_days: int, members: SortedEvents | None = None,
                       lead_created_us: np.ndarray | None = None) -> np.ndarray:
    """Per snapshot and committee role: 1.0 when another lead of the account in
    that role was active in the window before the snapshot (NaN without an account).

    ``role_events`` has entity ``account * n_roles + role``; ``lead_role`` is each
    lead's role index (-1 for none). Given ``members`` (as in
    :func:`engaged_and_known_leads`) and ``lead_created_us``, a colleague created at
    or after the snapshot is not yet in the CRM and does not count, even with
    activity attributed to it from before its creation.
    """
    n_roles = len(COMMITTEE_ROLES)
    window = int(window_days * US_PER_DAY)
    has_account = snap_account >= 0
    acc = np.where(has_account, snap_account, 0)
    own_recent = lead_events.count_in_window(snap_lead, snap_us, window)
    own_role = lead_role[snap_lead]
    late = np.zeros((len(snap_us), n_roles), np.int64)
    if members is not None and lead_created_us is not None:
        # colleagues created at or after the snapshot: their window activity is taken out
        start = np.where(has_account, members.count_before(acc, snap_us), 0)
        end = np.where(has_account, members.start_of(acc + 1), 0)
        for lo, hi in chunk_bounds(np.maximum(end - start, 0), MAX_PAIRS_PER_CHUNK):
            snap, member = expand_ranges(start[lo:hi], end[lo:hi])
            other = members.payload[member]
            t = snap_us[lo:hi][snap]
            keep = (lead_created_us[other] >= t) & (other != snap_lead[lo:hi][snap]) & (lead_role[other] >= 0)
            snap, other, t = snap[keep], other[keep], t[keep]
            recent = lead_events.count_in_window(other, t, window)
            np.add.at(late, ((snap + lo), lead_role[other]), recent)
    out = np.zeros((len(snap_us), n_roles), np.float32)
    for r in range(n_roles):
        total = role_events.count_in_window(acc * n_roles + r, snap_us, window)
        others = total - np.where(own_role == r, own_recent, 0) - late[:, r]
        out[:, r] = others > 0
    out[~has_account] = np.nan
    return out


def engaged_and_known_leads(members: SortedEvents, lead_events: SortedEvents, lead_created_us: np.ndarray,
                            snap_lead: np.ndarray, snap_account: np.ndarray, snap_us: np.ndarray,
                            window_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Per snapshot: other leads of the account created before the snapshot and
    active in the window, and other leads of the account created before the
    snapshot (NaN without an account).

    ``members`` lists each account's leads (entity = account, payload = lead code).
    """
    n = len(snap_us)
    engaged = np.zeros(n, np.float32)
    known = np.zeros(n, np.float32)
    has_account = snap_account >= 0
    acc = np.where(has_account, snap_account, 0)
    start = members.start_of(acc)
    end = members.start_of(acc + 1)
    end = np.where(has_account, end, start)
    window = int(window_days * US_PER_DAY)
    for lo, hi in chunk_bounds(end - start, MAX_PAIRS_PER_CHUNK):
        snap, member = expand_ranges(start[lo:hi], end[lo:hi])
        other = members.payload[member]
        t = snap_us[lo:hi][snap]
        keep = other != snap_lead[lo:hi][snap]
        snap, other, t = snap[keep], other[keep], t[keep]
        known_then = lead_created_us[other] < t
        active = (lead_events.count_in_window(other, t, window) > 0) & known_then
        engaged[lo:hi] = np.bincount(snap, active, hi - lo)
        known[lo:hi] = np.bincount(snap, known_then, hi - lo)
    engaged[~has_account] = np.nan
    known[~has_account] = np.nan
    return engaged, known


def account_intent(account_events: SortedEvents, snap_lead: np.ndarray, snap_account: np.ndarray,
                   snap_us: np.ndarray, half_life_days: float,
                   lead_created_us: np.ndarray | None = None) -> np.ndarray:
    """Decayed count of high-intent events of the account's *other* leads before
    each snapshot (events older than ten half-lives are ignored; NaN without an account).

    ``account_events`` has entity = account and payload = the acting lead's code.
    Given ``lead_created_us``, leads created at or after the snapshot do not count.
    """
    out = np.zeros(len(snap_us), np.float32)
    has_account = snap_account >= 0
    acc = np.where(has_account, snap_account, 0)
    lookback = int(10 * half_life_days * US_PER_DAY)
    start = account_events.count_before(acc, snap_us - lookback)
    end = np.where(has_account, account_events.count_before(acc, snap_us), start)
    for lo, hi in chunk_bounds(np.maximum(end - start, 0), MAX_PAIRS_PER_CHUNK):
        snap, event = expand_ranges(start[lo:hi], end[lo:hi])
        age = (snap_us[lo:hi][snap] - account_events.us[event]) / US_PER_DAY
        actor = account_events.payload[event]
        weight = np.where(actor == snap_lead[lo:hi][snap], 0.0, np.exp2(-age / half_life_days))
        if lead_created_us is not None:
            weight = np.where(lead_created_us[actor] >= snap_us[lo:hi][snap], 0.0, weight)
        out[lo:hi] = np.bincount(snap, weight, hi - lo)
    out[~has_account] = np.nan
    return out
