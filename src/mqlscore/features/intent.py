"""Intent features: decayed counts, recency and recent counts per signal family,
and how far along the evidence sequence a lead has come.

A *signal family* is an activity type, or for page views a page category
(pricing, security, integrations, ...). All look-ups see only events strictly
before each snapshot's time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mqlscore.features.events import MAX_PAIRS_PER_CHUNK, US_PER_DAY, SortedEvents, chunk_bounds, expand_ranges

# Peer-reviewed evidence, then a reference customer, then EHR integration,
# then ROI or pricing: each step counts only after the previous one.
EVIDENCE_SEQUENCE: tuple[tuple[str, ...], ...] = (
    ("page:evidence",), ("page:case_studies",), ("page:integrations", "act:sandbox_signup"),
    ("page:roi", "page:pricing"),
)


def _pair_ranges(events: SortedEvents, snap_entity: np.ndarray, snap_us: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """For each snapshot, the index range of its entity's events before it."""
    return events.start_of(snap_entity), events.count_before(snap_entity, snap_us)


def intent_measures(half_lives: Sequence[float], windows: Sequence[int]) -> list[str]:
    """Names of the per-family measures, in the order ``family_intent`` lays them out."""
    return [f"decay_{h:g}d" for h in half_lives] + [f"count_{w}d" for w in windows] + ["days_since"]


def family_intent(events: SortedEvents, n_families: int, snap_entity: np.ndarray, snap_us: np.ndarray,
                  half_lives: Sequence[float], windows: Sequence[int]) -> np.ndarray:
    """Per snapshot, family and measure (see :func:`intent_measures`): decayed
    counts at each half-life, counts in each recent window [t - w, t), and days
    since the last event (NaN when none).

    One float32 array of shape (n_snapshots, n_families, n_measures): reshaped to
    (n_snapshots, n_families * n_measures) it is the feature block itself, so
    no copy is made for a million snapshots.
    """
    n, H, W = len(snap_us), len(half_lives), len(windows)
    out = np.zeros((n, n_families, H + W + 1), np.float32)
    out[:, :, -1] = np.nan
    if n == 0 or len(events) == 0:
        return out
    start, end = _pair_ranges(events, snap_entity, snap_us)
    for lo, hi in chunk_bounds(np.maximum(end - start, 0), MAX_PAIRS_PER_CHUNK):
        snap, event = expand_ranges(start[lo:hi], end[lo:hi])
        if not len(snap):
            continue
        age = (snap_us[lo:hi][snap] - events.us[event]) / US_PER_DAY
        cell = snap * n_families + events.payload[event]
        size = (hi - lo) * n_families
        block = out[lo:hi]
        for j, h in enumerate(half_lives):
            block[:, :, j] = np.bincount(cell, np.exp2(-age / h), size).reshape(hi - lo, -1)
        for j, w in enumerate(windows):
            block[:, :, H + j] = np.bincount(cell, age <= w, size).reshape(hi - lo, -1)
        youngest = np.full(size, np.inf)
        np.minimum.at(youngest, cell, age)
        block[:, :, -1] = np.where(np.isinf(youngest), np.nan, youngest).reshape(hi - lo, -1)
    return out


def milestone_times(events: SortedEvents, n_entities: int, family_index: dict[str, int]) -> np.ndarray:
    """For each entity, when it reached each step of the evidence sequence
    (int64 microseconds; the int64 maximum when never). Steps must happen in order."""
    reached = np.full((n_entities, len(EVIDENCE_SEQUENCE)), np.iinfo(np.int64).max, dtype=np.int64)
    previous = np.full(n_entities, np.iinfo(np.int64).min, dtype=np.int64)
    for step, names in enumerate(EVIDENCE_SEQUENCE):
        codes = [family_index[name] for name in names if name in family_index]
        mask = np.isin(events.payload, codes)
        ent, us = events.entity[mask], events.us[mask]
        # first event of this step at or after the previous step, per entity
        ok = us >= previous[ent]
        ent, us = ent[ok], us[ok]
        first = np.full(n_entities, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, ent, us)
        reached[:, step] = first
        previous = first
    return reached


def evidence_stage(milestones: np.ndarray, snap_entity: np.ndarray, snap_us: np.ndarray) -> np.ndarray:
    """How many steps of the evidence sequence were reached strictly before each snapshot."""
    return (milestones[snap_entity] < snap_us[:, None]).sum(axis=1).astype(np.float32)
