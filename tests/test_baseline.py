"""The hand-set baseline: 25 %-per-quarter decay, points arithmetic, what is
counted, the Platt mapping and its (weak) ranking on the demo export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from mqlscore.config import FeatureConfig
from mqlscore.features import FeatureBuilder
from mqlscore.features.decay import QUARTER_DAYS, half_life_for_quarterly_loss
from mqlscore.models.baseline import HandSetBaseline

T = pd.Timestamp("2025-06-01", tz="UTC")
DAY = pd.Timedelta(days=1)
QUARTER = pd.Timedelta(days=QUARTER_DAYS)


def _leads() -> pd.DataFrame:
    return pd.DataFrame({
        "lead_id": ["VP", "STUDENT", "NURSE", "QUIET"],
        "created_at": [T - 400 * DAY] * 4,
        "job_title": ["VP Digital Health", "Student", "Registered Nurse", None],
        "org_type": ["hospital", "payer", None, None],
        "email": ["x@gmail.com", "y@acme.org", None, None],
        "country": ["DE", "US", None, None],
        "state": [None, "NY", None, None],
        "ehr_vendor": ["epic", None, "meditech", None],
    })


def _points(acts: list[tuple[str, pd.Timestamp, str, str | None]], at: pd.Timestamp = T) -> pd.DataFrame:
    """Baseline points of every lead at ``at`` given ``(lead, time, type, detail)`` activities."""
    leads = _leads()
    activities = pd.DataFrame(acts, columns=["lead_id", "occurred_at", "activity_type", "detail"])
    activities["occurred_at"] = pd.to_datetime(activities["occurred_at"], utc=True)
    builder = FeatureBuilder(FeatureConfig(min_category_count=1)).fit(leads, activities)
    snapshots = pd.DataFrame({"lead_id": leads["lead_id"], "as_of": [at] * len(leads)})
    X = builder.transform(leads, activities, snapshots)
    points = HandSetBaseline().points(builder, leads, activities, snapshots, X)
    return points.set_index(snapshots["lead_id"])


def test_half_life_is_the_25_percent_per_quarter_rule() -> None:
    assert HandSetBaseline().half_life_days == pytest.approx(half_life_for_quarterly_loss(0.25))
    assert HandSetBaseline().half_life_days == pytest.approx(220.0, abs=0.1)


@pytest.mark.parametrize(("age", "expected"), [(QUARTER, 15.0), (2 * QUARTER, 11.25), (4 * QUARTER, 20 * 0.75**4)])
def test_a_baa_request_loses_25_percent_per_quarter(age: pd.Timedelta, expected: float) -> None:
    points = _points([("QUIET", T - age, "baa_request", None)])
    assert points.loc["QUIET", "intent_points"] == pytest.approx(expected, abs=1e-4)


def test_points_add_up_per_activity_and_fit_attribute() -> None:
    fresh = T - pd.Timedelta(seconds=1)
    points = _points([
        ("QUIET", fresh, "demo_request", None), ("QUIET", fresh, "page_view", "/pricing"),
        ("QUIET", fresh, "email_open", None), ("QUIET", fresh, "page_view", "/about-us/team"),
        ("QUIET", fresh, "some_new_activity", None),
    ])
    # 25 + 10 + 1 + 1 (other page) + 1 (other activity), a second old
    assert points.loc["QUIET", "intent_points"] == pytest.approx(38.0, abs=1e-3)
    # VP +15, hospital +10, non-US -10, free mail -10, Epic +5
    assert points.loc["VP", "fit_points"] == pytest.approx(10.0)
    assert points.loc["NURSE", "fit_points"] == pytest.approx(-5.0)  # clinician
    np.testing.assert_allclose(points["total"], points["fit_points"] + points["intent_points"])


def test_negative_signals_subtract() -> None:
    fresh = T - pd.Timedelta(seconds=1)
    points = _points([("QUIET", fresh, "page_view", "/careers/open-roles"), ("QUIET", fresh, "unsubscribe", None),
                      ("QUIET", fresh, "demo_request", None)])
    assert points.loc["QUIET", "intent_points"] == pytest.approx(25 - 10 - 20, abs=1e-3)
    assert points.loc["STUDENT", "fit_points"] == pytest.approx(-30 + 10)  # student, payer


def test_an_activity_at_or_after_t_is_not_counted() -> None:
    points = _points([("QUIET", T, "demo_request", None), ("QUIET", T + DAY, "contact_sales", None),
                      ("QUIET", T - QUARTER, "baa_request", None)])
    assert points.loc["QUIET", "intent_points"] == pytest.approx(15.0, abs=1e-4)


def test_platt_mapping_is_monotone_and_calibrated_in_the_large() -> None:
    rng = np.random.default_rng(0)
    total = rng.normal(40, 30, 20_000)
    y = (rng.random(len(total)) < 1 / (1 + np.exp(-(total - 80) / 15))).astype(int)
    baseline = HandSetBaseline().fit(total, y)
    grid = np.linspace(-100, 300, 81)
    assert np.all(np.diff(baseline.predict_proba_from_points(grid)) > 0)
    assert baseline.predict_proba_from_points(total).mean() == pytest.approx(y.mean(), abs=0.005)
    assert baseline.slope_ == pytest.approx(1 / 15, rel=0.15)
    # points that rank backwards get a flat mapping, never a decreasing one
    backwards = HandSetBaseline().fit(-total, y)
    assert backwards.slope_ >= 0
    assert np.all(np.diff(backwards.predict_proba_from_points(grid)) >= 0)


def test_platt_needs_both_outcomes() -> None:
    with pytest.raises(ValueError):
        HandSetBaseline().fit(np.arange(10.0), np.zeros(10))


@pytest.fixture(scope="module")
def demo(demo_export):
    from mqlscore.contract import load_folder
    from mqlscore.features import build_training_set

    dataset = load_folder(demo_export)
    return dataset, build_training_set(dataset)


def test_demo_export_weak_but_real_ranking(demo) -> None:
    from mqlscore.features.training_set import split_by_time

    dataset, ts = demo
    is_fit, is_val = split_by_time(ts.snapshots, ts.as_of, ts.horizon_days)
    baseline = HandSetBaseline()
    points = baseline.points(ts.builder, dataset.leads, dataset.activities, ts.snapshots, ts.X)
    assert list(points.columns) == ["fit_points", "intent_points", "total"]
    assert roc_auc_score(ts.y[is_val], points["total"][is_val]) > 0.6
    baseline.fit(points["total"][is_fit].to_numpy(), ts.y[is_fit])
    proba = baseline.predict_proba_from_points(points["total"][is_val].to_numpy())
    assert proba.min() > 0 and proba.max() < 1
