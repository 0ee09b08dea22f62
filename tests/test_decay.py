"""Learned decay: half-lives are recovered from data whose truth we know."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mqlscore.features import FeatureBuilder
from mqlscore.features.decay import estimate_half_lives, half_life_for_quarterly_loss, quarterly_loss

START = pd.Timestamp("2025-01-01", tz="UTC")


def _simulate(n_leads: int, days: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Leads with demo requests (half-life 8 days) and downloads (half-life 60
    days) whose daily SQL hazard is exp(-7 + 1.8 log1p(D_demo) + 0.8 log1p(D_download))."""
    rng = np.random.default_rng(seed)
    created = rng.integers(0, days // 2, n_leads)
    rate = rng.lognormal(-3.2, 0.7, (n_leads, 2)) * np.array([0.6, 1.6])
    decay = 0.5 ** (1 / np.array([8.0, 60.0]))
    weight = np.array([1.8, 0.8])
    D = np.zeros((n_leads, 2))
    sql_day = np.full(n_leads, -1)
    events = []
    for day in range(days):
        alive = (created < day) & (sql_day < 0)
        hazard = np.exp(-7 + np.log1p(D) @ weight)
        hit = alive & (rng.random(n_leads) < -np.expm1(-hazard))
        sql_day[hit] = day
        active = (created <= day) & (sql_day < 0)
        counts = rng.poisson(rate * active[:, None])
        D = D * decay + counts
        for fam, kind in enumerate(("demo_request", "content_download")):
            for lead in np.flatnonzero(counts[:, fam]):
                events += [(lead, day, kind)] * int(counts[lead, fam])
    ids = np.array([f"L{i:05d}" for i in range(n_leads)])
    leads = pd.DataFrame({"lead_id": ids, "created_at": START + pd.to_timedelta(created, unit="D")})
    ev = np.array(events, dtype=object)
    secs = rng.integers(0, 86_400, len(ev))
    acts = pd.DataFrame({
        "lead_id": ids[ev[:, 0].astype(int)],
        "occurred_at": START + pd.to_timedelta(ev[:, 1].astype(int), unit="D") + pd.to_timedelta(secs, unit="s"),
        "activity_type": ev[:, 2].astype(str), "detail": None,
    })
    has = sql_day >= 0
    outcomes = pd.DataFrame({"lead_id": ids[has],
                             "sql_at": START + pd.to_timedelta(sql_day[has], unit="D")
                             + pd.to_timedelta(rng.integers(0, 86_400, has.sum()), unit="s"),
                             "disqualified_at": pd.NaT})
    return leads, acts, outcomes


def test_quarterly_loss_and_half_life_are_inverse() -> None:
    assert quarterly_loss(half_life_for_quarterly_loss(0.25)) == pytest.approx(0.25)
    assert half_life_for_quarterly_loss(0.25) == pytest.approx(219.9, abs=0.2)
    assert quarterly_loss(365.25 / 4) == pytest.approx(0.5)


def test_recovers_known_half_lives_and_beats_the_rule_of_thumb() -> None:
    leads, acts, outcomes = _simulate(4_000, 240, seed=3)
    as_of = START + pd.Timedelta(days=240)
    builder = FeatureBuilder().fit(leads, acts)
    report = estimate_half_lives(builder, leads, acts, outcomes, as_of, min_events=50, validation_days=60)
    found = {h.family: h for h in report.half_lives}
    demo, download = found["act:demo_request"], found["act:content_download"]
    assert demo.identified and download.identified
    assert 8 / 1.5 <= demo.half_life_days <= 8 * 1.5, demo
    assert 60 / 1.5 <= download.half_life_days <= 60 * 1.5, download
    assert demo.low_days <= 8 <= demo.high_days
    assert demo.weight == pytest.approx(1.8, abs=0.45)
    assert report.validation_log_loss < report.rule_of_thumb_log_loss
