"""The points scorecard: binning, monotonicity, missing and unseen values,
additivity, the points table, persistence, selection, signs and its ranking
on the demo export."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from mqlscore.features.registry import FeatureSpec
from mqlscore.models.scorecard import Scorecard

SHAPE_LEVELS = ["a_high", "b_low", "c_lowest", "d_low", "e_high"]
SHAPE_EFFECT = {"a_high": 1.2, "b_low": 0.0, "c_lowest": -1.0, "d_low": 0.0, "e_high": 1.2}


def hand_made(n: int = 6_000, seed: int = 0, missing_share: float = 0.0) -> tuple[pd.DataFrame, np.ndarray]:
    """``fit__driver`` raises conversion monotonically; ``fit__shape`` is a
    U-shaped categorical; ``intent__noise`` is unrelated; ``fit__u`` is a
    U-shaped number. Missing drivers (when asked) convert often."""
    rng = np.random.default_rng(seed)
    driver = rng.normal(size=n)
    shape = rng.choice(SHAPE_LEVELS, n)
    u = rng.uniform(-2, 2, n)
    logit = -2.2 + 1.4 * driver + pd.Series(shape).map(SHAPE_EFFECT).to_numpy() + 0.6 * (u**2 - 1.3)
    missing = rng.random(n) < missing_share
    logit = np.where(missing, 0.5, logit)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame({
        "fit__driver": np.where(missing, np.nan, driver).astype(np.float32),
        "fit__shape": pd.Categorical(shape, categories=[*SHAPE_LEVELS, "never_seen"]),
        "intent__noise": rng.normal(size=n).astype(np.float32),
        "fit__u": u.astype(np.float32),
    })
    return X, y


def rows_of(table: pd.DataFrame, feature: str) -> pd.DataFrame:
    return table[table["feature"] == feature].reset_index(drop=True)


def test_monotone_driver_gets_increasing_points_and_woe() -> None:
    X, y = hand_made()
    card = Scorecard(min_iv=0.0).fit(X, y)
    driver = rows_of(card.points_table(), "fit__driver")
    assert len(driver) == 5
    assert np.all(np.diff(driver["points"]) > 0)
    assert np.all(np.diff(driver["woe"]) > 0)
    assert driver["share"].sum() == pytest.approx(1.0)
    assert card.bins_["fit__driver"].direction == 1


def test_monotone_merges_a_u_shaped_number_but_not_a_u_shaped_category() -> None:
    X, y = hand_made()
    forced = Scorecard(min_iv=0.0).fit(X, y)
    u_woe = np.array(forced.bins_["fit__u"].woe)
    assert np.all(np.diff(u_woe) >= 0) or np.all(np.diff(u_woe) <= 0)
    free = Scorecard(min_iv=0.0, monotone=False).fit(X, y)
    free_woe = np.array(free.bins_["fit__u"].woe)
    assert len(free_woe) == 5 and free_woe[2] < min(free_woe[0], free_woe[-1])
    # the categorical keeps every level, U shape included, in both
    shape = forced.bins_["fit__shape"]
    assert shape.labels == SHAPE_LEVELS
    woe = dict(zip(shape.labels, shape.woe))
    assert woe["a_high"] > woe["b_low"] > woe["c_lowest"] < woe["d_low"] < woe["e_high"]


def test_missing_values_get_their_own_bin_and_points() -> None:
    X, y = hand_made(missing_share=0.2)
    card = Scorecard(min_iv=0.0).fit(X, y)
    driver = rows_of(card.points_table(), "fit__driver")
    assert driver["bin"].iloc[-1] == "missing"
    assert driver["share"].iloc[-1] == pytest.approx(0.2, abs=0.02)
    missing_points = driver["points"].iloc[-1]
    assert missing_points > 0.3  # missing drivers convert often in this world
    rows = X[X["fit__driver"].isna()].head(3)
    assert np.allclose(card.contributions(rows)["fit__driver"], missing_points)
    # the numeric bins stay monotone next to the missing bin
    assert np.all(np.diff(driver["points"].iloc[:-1]) > 0)


def test_unseen_level_and_unseen_missing_score_zero() -> None:
    X, y = hand_made()
    card = Scorecard(min_iv=0.0).fit(X, y)
    assert "never_seen" not in card.bins_["fit__shape"].levels  # no rows in fitting: neutral
    new = X.head(4).copy()
    new["fit__driver"] = np.array([np.nan, np.inf, 0.1, np.nan], dtype=np.float32)
    new["fit__shape"] = pd.Categorical(["brand_new", "never_seen", None, "a_high"])
    contrib = card.contributions(new)
    assert list(contrib["fit__driver"].iloc[[0, 1, 3]]) == [0.0, 0.0, 0.0]
    assert contrib["fit__driver"].iloc[2] != 0.0
    assert list(contrib["fit__shape"].iloc[:3]) == [0.0, 0.0, 0.0]
    assert contrib["fit__shape"].iloc[3] > 0
    # a plain text column is read as categories too
    as_text = new.assign(fit__shape=new["fit__shape"].astype(object))
    np.testing.assert_array_equal(card.decision_function(as_text), card.decision_function(new))


def test_contributions_add_up_to_the_decision_function() -> None:
    X, y = hand_made(missing_share=0.1)
    card = Scorecard(min_iv=0.0).fit(X, y)
    contrib = card.contributions(X)
    assert list(contrib.columns) == card.features_
    np.testing.assert_allclose(card.intercept_ + contrib.sum(axis=1), card.decision_function(X), rtol=0, atol=1e-12)
    proba = card.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.log(proba[:, 1] / proba[:, 0]), card.decision_function(X), atol=1e-9)


def test_points_table_is_readable() -> None:
    X, y = hand_made(missing_share=0.1)
    specs = [FeatureSpec("fit__driver", "fit", "driver_signal", "numeric", "", ""),
             FeatureSpec("fit__shape", "fit", "shape_signal", "categorical", "", "")]
    card = Scorecard(min_iv=0.0, specs=specs).fit(X, y)
    table = card.points_table(points_per_logit=20 / np.log(2), offset=600)
    assert list(table.columns) == ["feature", "signal", "group", "bin", "share", "event_rate", "woe", "log_odds",
                                   "points"]
    assert table.iloc[0]["feature"] == "(base)"
    assert table.iloc[0]["points"] == pytest.approx(600 + card.intercept_ * 20 / np.log(2))
    np.testing.assert_allclose(table["points"].iloc[1:], table["log_odds"].iloc[1:] * 20 / np.log(2))
    groups = table["group"].tolist()
    assert groups == sorted(groups, key=["base", "fit", "intent", "account"].index)
    assert set(rows_of(table, "fit__driver")["signal"]) == {"driver_signal"}
    assert set(rows_of(table, "intent__noise")["group"]) <= {"intent"}
    labels = rows_of(table, "fit__driver")["bin"].tolist()
    assert labels[0].startswith("< ") and labels[-2].startswith("≥ ") and labels[-1] == "missing"
    assert all(re.fullmatch(r"-?[\d.]+ – -?[\d.]+", label) for label in labels[1:-2])
    # categorical levels read strongest first
    shape_points = rows_of(table, "fit__shape")["points"].to_numpy()
    assert np.all(np.diff(shape_points) <= 0)
    # each feature's bins are contiguous rows
    assert table["feature"].ne(table["feature"].shift()).sum() == table["feature"].nunique()


def test_json_round_trip_gives_identical_predictions() -> None:
    X, y = hand_made(missing_share=0.1)
    specs = [FeatureSpec("fit__driver", "fit", "driver_signal", "numeric", "words", "{value}")]
    card = Scorecard(n_bins=4, min_iv=0.0, specs=specs).fit(X, y)
    again = Scorecard.from_dict(json.loads(json.dumps(card.to_dict())))
    new = X.head(50).copy()
    new.loc[new.index[:3], "fit__driver"] = np.nan
    new["fit__shape"] = new["fit__shape"].cat.add_categories(["brand_new"])
    new.loc[new.index[3], "fit__shape"] = "brand_new"
    np.testing.assert_array_equal(again.decision_function(new), card.decision_function(new))
    np.testing.assert_array_equal(again.contributions(X).to_numpy(), card.contributions(X).to_numpy())
    pd.testing.assert_frame_equal(again.points_table(), card.points_table())
    pd.testing.assert_frame_equal(again.selection_, card.selection_)
    assert again.get_params() == card.get_params()


def test_selection_keeps_two_features_per_signal_and_drops_low_iv() -> None:
    X, y = hand_made()
    rng = np.random.default_rng(1)
    for k in range(4):  # four views of one signal, like a family's decayed counts
        X[f"intent__copy{k}"] = (X["fit__driver"] + rng.normal(0, 0.3 + 0.1 * k, len(X))).astype(np.float32)
    specs = [FeatureSpec(f"intent__copy{k}", "intent", "act:copy", "numeric", "", "") for k in range(4)]
    card = Scorecard(specs=specs).fit(X, y)
    sel = card.selection_.set_index("feature")
    chosen_copies = [f for f in card.features_ if f.startswith("intent__copy")]
    assert len(chosen_copies) <= 2
    assert (sel.loc[[f"intent__copy{k}" for k in range(4)], "iv"] > 0.02).all()
    capped = sel[sel["reason"].str.contains("signal 'act:copy'")]
    assert len(capped) == 2
    assert "intent__noise" not in card.features_
    assert "below" in sel.loc["intent__noise", "reason"]
    assert sel.loc["intent__noise", "iv"] < 0.02
    small = Scorecard(max_features=2, specs=specs).fit(X, y)
    assert len(small.features_) <= 2
    assert small.selection_["reason"].str.contains("max_features=2").any()


def test_no_coefficient_is_negative() -> None:
    rng = np.random.default_rng(3)
    n = 8_000
    x1 = rng.normal(size=n)
    x2 = x1 + rng.normal(0, 0.5, n)  # marginally positive, negative given x1
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1.5 + 2.5 * x1 - 1.2 * x2)))).astype(int)
    X = pd.DataFrame({"fit__x1": x1, "fit__x2": x2})
    card = Scorecard(min_iv=0.0).fit(X, y)
    sel = card.selection_.set_index("feature")
    assert sel.loc["fit__x2", "iv"] > 0.02  # on its own x2 looks useful ...
    assert (card.coef_ >= 0).all()
    assert card.features_ == ["fit__x1"]  # ... but next to x1 it would have inverted its bins' meaning
    assert "negative coefficient" in sel.loc["fit__x2", "reason"]


def test_degenerate_inputs() -> None:
    X, y = hand_made(n=300, seed=5)
    X["fit__constant"] = np.float32(3.0)
    X["fit__all_missing"] = np.full(len(X), np.nan, dtype=np.float32)
    X["fit__text"] = pd.Series(np.where(np.arange(len(X)) % 2, "x", None), dtype=object)
    card = Scorecard().fit(X, y)  # a few hundred rows are enough to fit
    sel = card.selection_.set_index("feature")
    assert sel.loc["fit__constant", "iv"] == pytest.approx(0.0, abs=1e-12)
    assert sel.loc["fit__all_missing", "iv"] == pytest.approx(0.0, abs=1e-12)
    assert card.bins_.get("fit__all_missing") is None
    alone = Scorecard(min_iv=0.0).fit(X[["fit__all_missing", "fit__driver"]], y)
    assert alone.bins_["fit__all_missing"].labels == ["missing"]
    assert (alone.contributions(X.assign(fit__all_missing=np.float32(1.0)))["fit__all_missing"] == 0).all()
    assert np.isfinite(card.decision_function(X)).all()
    with pytest.raises(ValueError, match="one class"):
        Scorecard().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="0 and 1"):
        Scorecard().fit(X, np.where(y == 1, 2, 0))
    with pytest.raises(RuntimeError, match="not fitted"):
        Scorecard().decision_function(X)


def test_sample_weights_count_as_repeated_rows() -> None:
    X, y = hand_made(n=3_000, seed=7)
    w = np.random.default_rng(2).integers(1, 4, len(X))
    weighted = Scorecard(min_iv=0.0, C=1e6).fit(X, y, sample_weight=w)
    repeated = Scorecard(min_iv=0.0, C=1e6).fit(X.loc[X.index.repeat(w)], np.repeat(y, w))
    assert weighted.bins_["fit__shape"].woe == pytest.approx(repeated.bins_["fit__shape"].woe)
    np.testing.assert_allclose(weighted.decision_function(X), repeated.decision_function(X), atol=1e-3)


@pytest.fixture(scope="module")
def demo_fit(demo_export):
    from mqlscore.contract import load_folder
    from mqlscore.features import build_training_set
    from mqlscore.features.training_set import split_by_time

    ts = build_training_set(load_folder(demo_export))
    is_fit, is_val = split_by_time(ts.snapshots, ts.as_of, ts.horizon_days)
    card = Scorecard(specs=ts.builder.specs_).fit(ts.X[is_fit], ts.y[is_fit])
    return ts, is_fit, is_val, card


def test_demo_export_validation_ranking(demo_fit) -> None:
    ts, _, is_val, card = demo_fit
    auc = roc_auc_score(ts.y[is_val], card.decision_function(ts.X[is_val]))
    assert auc >= 0.75
    # far from random ranking: the top tenth of scores converts at several times the base rate
    scores = card.decision_function(ts.X[is_val])
    top = scores >= np.quantile(scores, 0.9)
    assert ts.y[is_val][top].mean() > 3 * ts.y[is_val].mean()
    random_auc = roc_auc_score(ts.y[is_val], np.random.default_rng(0).random(int(is_val.sum())))
    assert auc - random_auc > 0.2


def test_demo_points_table_names_business_signals(demo_fit) -> None:
    ts, _, _, card = demo_fit
    table = card.points_table()
    known = {s.signal for s in ts.builder.specs_}
    signals = set(table["signal"]) - {"base"}
    assert signals <= known
    assert any(s.startswith(("act:", "page:")) for s in signals)  # intent families
    assert signals & {"persona", "seniority", "committee_role", "org_type"}  # fit fields
    assert table.groupby("signal")["feature"].nunique().max() <= 2
    assert (card.coef_ >= 0).all()
    assert 5 <= len(card.features_) <= 30


def test_points_table_adds_up_to_the_score_of_each_lead(demo_fit) -> None:
    """On the score's scale: the "(base)" row plus the points of a lead's bin in
    each feature is the lead's score before clipping to 0-100, for thousands of
    validation snapshots, and the base row is the base of a lead's reasons."""
    from mqlscore.config import ScoringConfig
    from mqlscore.models.calibration import PlattCalibrator
    from mqlscore.scoring import ScoreScale, ScoringModel

    ts, _, is_val, card = demo_fit
    X_val, y_val = ts.X[is_val], ts.y[is_val]
    calibrator = PlattCalibrator().fit(card.decision_function(X_val), y_val)
    scale = ScoreScale(float(ts.y.mean()))
    model = ScoringModel(ts.builder, "scorecard", card, calibrator, scale, ScoringConfig(), threshold=0.5)
    table = model.points_table()

    rows = np.sort(np.random.default_rng(3).choice(len(X_val), 3_000, replace=False))
    X = X_val.iloc[rows]
    points = {(f, b): p for f, b, p in zip(table["feature"], table["bin"], table["points"])}
    total = np.full(len(X), points[("(base)", "every lead")])
    for feature in card.features_:
        bins = card.bins_[feature]
        index = bins.bin_index(X[feature])
        # one past the last bin: a value never seen in fitting, which scores 0 points
        total += [points[(feature, bins.labels[i])] if i < len(bins.labels) else 0.0 for i in index]
    unclipped = scale.unclipped(calibrator.logit(card.decision_function(X)))
    assert np.abs(total - unclipped).max() < 0.05
    assert unclipped.std() > 5  # leads differ: the table is read bin by bin, not only its base
    base_points = model.score_features(X.head(20))["base_points"]
    assert np.allclose(base_points, points[("(base)", "every lead")], atol=0.006)


def test_only_a_scorecard_has_a_points_table(demo_fit) -> None:
    from mqlscore.config import ScoringConfig
    from mqlscore.models.calibration import PlattCalibrator
    from mqlscore.scoring import ScoreScale, ScoringModel

    ts, _, _, card = demo_fit
    calibrator = PlattCalibrator.from_dict({"a": 1.0, "b": 0.0})
    model = ScoringModel(ts.builder, "lightgbm", card, calibrator, ScoreScale(0.1), ScoringConfig(), threshold=0.5)
    with pytest.raises(ValueError, match="scorecard"):
        model.points_table()
