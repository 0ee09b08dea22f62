"""Evaluation stage: metrics against sklearn, gains, calibration, tiers, the written report and card."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (average_precision_score, brier_score_loss, log_loss, precision_score, recall_score,
                             roc_auc_score)

from mqlscore.evaluation import GAINS_SHARES, ModelEvaluation, evaluate_model
from mqlscore.features.decay import DecayReport, HalfLife
from mqlscore.reporting import (DataWindow, EvaluationFiles, Fingerprint, ReportContext, write_evaluation_report,
                                write_model_card)
from mqlscore.scoring import ThresholdChoice

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SENTINEL = "lead-SENTINEL-7f3a9c"


def _derived(p: np.ndarray, threshold: float = 0.3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score, tier and MQL flag from probabilities, the way a model would."""
    score = np.round(100 * p)
    tier = np.select([score >= 60, score >= 40, score >= 20], ["A", "B", "C"], "D")
    return score, tier, p >= threshold


def _evaluate(name: str, y: np.ndarray, p: np.ndarray, threshold: float = 0.3) -> ModelEvaluation:
    return evaluate_model(name, y, p, *_derived(p, threshold))


def _simulated(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    true_p = 1 / (1 + np.exp(-(-2.2 + 1.2 * rng.normal(size=n))))
    y = (rng.random(n) < true_p).astype(int)
    logit = np.log(true_p / (1 - true_p))
    models = {
        "lightgbm": 1 / (1 + np.exp(-(logit + rng.normal(scale=0.5, size=n)))),
        "scorecard": 1 / (1 + np.exp(-(0.9 * logit + rng.normal(scale=0.7, size=n)))),
        "baseline_25pct_quarter": np.round(1 / (1 + np.exp(-(0.5 * logit - 1 + rng.normal(size=n)))), 2),
    }
    return y, models


FULL_CONTEXT = ReportContext(
    model_name="mqlscore-test",
    model_version="7",
    promotion="validation log loss 0.30000 vs champion v6 0.31000: better, promoted",
    trained_at="2025-06-01T12:00:00+00:00",
    champion="lightgbm",
    champion_reason="lowest validation log loss",
    data_window=DataWindow("2023-01-01T00:00:00Z", "2025-05-30T00:00:00Z", "2025-05-31T00:00:00Z"),
    horizon_days=90,
    fingerprint=Fingerprint({"leads": 12345, "activities": 456789, "outcomes": 2345}, ("2023-01-01", "2025-02-28"),
                            "0123abcd" * 8),
    threshold=ThresholdChoice(policy="capacity", probability=0.3125, score=64.0, mqls_per_week=37.5, sql_rate=0.42,
                              share_of_sqls=0.51, detail="capacity of 40 MQLs per week"),
    decay=DecayReport(
        half_lives=[HalfLife("act:demo_request", 14.0, 9.0, 22.0, 0.99, 1.2, 800, True),
                    HalfLife("page:blog", 400.0, 50.0, 1000.0, 0.15, 0.1, 90, False)],
        validation_log_loss=0.2, rule_of_thumb_log_loss=0.21, rule_of_thumb_half_life=220.0, rows_fit=1000,
        rows_validation=500),
    fit_intent_share={"fit": 0.4, "intent": 0.6},
    features_by_group={"fit": 30, "intent": 120, "account": 8},
    notes=("Synthetic data: generated leads, not a real funnel.",),
    oracle={"oracle": {"n": 4000, "positives": 500, "base_rate": 0.125, "roc_auc": 0.81, "pr_auc": 0.44,
                       "log_loss": 0.31, "brier": 0.09}},
)


def write_both(folder: Path, evaluations: list[ModelEvaluation],
               context: ReportContext | None) -> tuple[EvaluationFiles, Path]:
    """The evaluation report and the model card into one folder."""
    return write_evaluation_report(folder, evaluations, context), write_model_card(folder, evaluations, context)


# --------------------------------------------------------------------------- metrics


def test_metrics_match_sklearn_on_a_hand_made_example():
    y = np.array([0, 0, 1, 1, 0, 1, 0, 0, 1, 0])
    p = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.7, 0.05, 0.6, 0.9, 0.3])
    is_mql = p >= 0.5
    ev = evaluate_model("m", y, p, np.round(100 * p), np.array(list("DCCADBDBAC")), is_mql)
    m = ev.metrics
    assert m["n"] == 10 and m["positives"] == 4 and m["base_rate"] == pytest.approx(0.4)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["pr_auc"] == pytest.approx(average_precision_score(y, p))
    assert m["log_loss"] == pytest.approx(log_loss(y, p))
    assert m["brier"] == pytest.approx(brier_score_loss(y, p))
    assert m["recall_at_threshold"] == pytest.approx(recall_score(y, is_mql))
    assert m["precision_at_threshold"] == pytest.approx(precision_score(y, is_mql))
    assert m["mql_share"] == pytest.approx(0.4)
    assert m["one_class"] == 0 and not ev.notes
    assert m["roc_auc_low"] <= m["roc_auc"] <= m["roc_auc_high"]


def test_roc_auc_by_hand():
    # positive pairs ranked correctly: (0.35 > 0.1), (0.8 > 0.1), (0.8 > 0.4); wrong: (0.35 < 0.4) -> 3/4
    ev = _evaluate("m", np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    assert ev.metrics["roc_auc"] == pytest.approx(0.75)


def test_log_loss_is_finite_for_certain_wrong_predictions():
    y = np.array([1, 0, 1, 0])
    p = np.array([0.0, 1.0, 1.0, 0.0])
    m = _evaluate("m", y, p).metrics
    assert np.isfinite(m["log_loss"]) and m["log_loss"] > 10
    assert m["brier"] == pytest.approx(0.5)


def test_perfect_separation_gives_auc_one_and_all_sqls_in_the_top_share():
    rng = np.random.default_rng(1)
    n, positives = 1000, 100
    y = np.r_[np.ones(positives, int), np.zeros(n - positives, int)]
    p = np.r_[rng.uniform(0.6, 0.9, positives), rng.uniform(0.01, 0.5, n - positives)]
    order = rng.permutation(n)
    ev = _evaluate("perfect", y[order], p[order])
    assert ev.metrics["roc_auc"] == pytest.approx(1.0)
    assert ev.metrics["pr_auc"] == pytest.approx(1.0)
    gains = ev.gains.set_index("share_of_leads")
    assert gains.loc[0.10, "share_of_sqls_captured"] == pytest.approx(1.0)  # the positives' share
    assert gains.loc[0.05, "share_of_sqls_captured"] == pytest.approx(0.5)
    assert gains.loc[0.10, "lift"] == pytest.approx(10.0)
    assert gains.loc[0.10, "sql_rate"] == pytest.approx(1.0)
    assert gains.loc[1.00, "share_of_sqls_captured"] == pytest.approx(1.0)


def test_random_model_has_lift_about_one():
    rng = np.random.default_rng(2)
    n = 40_000
    y = (rng.random(n) < 0.2).astype(int)
    p = rng.uniform(0.05, 0.4, n)
    ev = _evaluate("random", y, p)
    assert ev.metrics["roc_auc"] == pytest.approx(0.5, abs=0.02)
    deep = ev.gains[ev.gains["share_of_leads"] >= 0.10]
    assert np.allclose(deep["lift"], 1.0, atol=0.1)
    assert ev.gains["lift"].iloc[-1] == pytest.approx(1.0)
    assert list(ev.gains["share_of_leads"]) == list(GAINS_SHARES)


def test_tied_probabilities_split_in_proportion_and_ignore_row_order():
    rng = np.random.default_rng(3)
    y = (rng.random(500) < 0.3).astype(int)
    constant = _evaluate("constant", y, np.full(500, 0.3))
    assert np.allclose(constant.gains["lift"], 1.0)
    p = rng.choice([0.1, 0.2, 0.5], size=500)
    order = rng.permutation(500)
    a, b = _evaluate("a", y, p).gains, _evaluate("b", y[order], p[order]).gains
    pd.testing.assert_frame_equal(a, b)


def test_calibration_bins_match_a_calibrated_model_within_sampling_error():
    rng = np.random.default_rng(4)
    n = 50_000
    p = rng.beta(1.5, 8, n)
    y = (rng.random(n) < p).astype(int)
    cal = _evaluate("calibrated", y, p).calibration
    assert list(cal.columns[:4]) == ["bin", "n", "mean_predicted", "observed_rate"]
    assert len(cal) == 10 and cal["n"].sum() == n
    assert cal["n"].min() > 0.09 * n  # quantile bins hold about a tenth each
    se = np.sqrt(cal["mean_predicted"] * (1 - cal["mean_predicted"]) / cal["n"])
    assert np.all(np.abs(cal["observed_rate"] - cal["mean_predicted"]) < 4 * se)
    assert cal["mean_predicted"].is_monotonic_increasing


def test_calibration_with_heavy_ties_has_fewer_bins_that_still_cover_every_row():
    rng = np.random.default_rng(5)
    p = rng.choice([0.05, 0.1, 0.4], size=1000, p=[0.7, 0.2, 0.1])
    y = (rng.random(1000) < p).astype(int)
    cal = _evaluate("ties", y, p).calibration
    assert 1 <= len(cal) <= 3 and cal["n"].sum() == 1000


def test_tiers_sum_to_n_and_shares_of_sqls_to_one():
    y, models = _simulated()
    ev = _evaluate("lightgbm", y, models["lightgbm"])
    tiers = ev.tiers
    assert list(tiers["tier"]) == ["A", "B", "C", "D"]
    for col in ("n", "share_of_leads", "sqls", "sql_rate", "share_of_sqls", "lift"):
        assert col in tiers.columns
    assert tiers["n"].sum() == len(y)
    assert tiers["sqls"].sum() == y.sum()
    assert tiers["share_of_sqls"].sum() == pytest.approx(1.0)
    assert tiers["share_of_leads"].sum() == pytest.approx(1.0)
    a = tiers.set_index("tier").loc["A"]
    assert a["lift"] == pytest.approx(a["sql_rate"] / ev.metrics["base_rate"])


def test_unexpected_tier_values_are_counted_as_other_and_never_named():
    y = np.array([1, 0, 0, 1, 0, 0])
    p = np.array([0.9, 0.2, 0.1, 0.6, 0.3, 0.5])
    tier = np.array(["A", "d", None, SENTINEL, "C", np.nan], dtype=object)
    ev = evaluate_model("m", y, p, 100 * p, tier, p > 0.5)
    tiers = ev.tiers.set_index("tier")
    assert tiers.loc["D", "n"] == 1  # lower case is accepted
    assert tiers.loc["other", "n"] == 3
    assert tiers["n"].sum() == 6
    assert SENTINEL not in ev.tiers.to_csv()


def test_score_bands_cover_0_to_100():
    y = np.array([0, 1, 0, 1, 1, 0])
    score = np.array([0, 9.99, 10, 55, 99.5, 100])
    ev = evaluate_model("m", y, score / 100, score, np.array(["D"] * 6), score >= 50)
    bands = ev.score_bands.set_index("band")
    assert list(bands.index) == ["0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89",
                                 "90-100"]
    assert bands.loc["0-9", "n"] == 2 and bands.loc["10-19", "n"] == 1 and bands.loc["90-100", "n"] == 2
    assert bands["n"].sum() == 6 and bands["share_of_sqls"].sum() == pytest.approx(1.0)
    assert bands.loc["90-100", "sql_rate"] == pytest.approx(0.5)
    assert np.isnan(bands.loc["20-29", "sql_rate"])  # an empty band has no rate


@pytest.mark.parametrize("label", [0, 1])
def test_one_class_labels_give_nan_aucs_and_a_note(label, tmp_path):
    y = np.full(50, label)
    p = np.linspace(0.01, 0.9, 50)
    ev = _evaluate("one_class", y, p)
    assert np.isnan(ev.metrics["roc_auc"]) and np.isnan(ev.metrics["pr_auc"])
    assert ev.metrics["one_class"] == 1.0
    assert any("undefined" in note for note in ev.notes)
    assert np.isfinite(ev.metrics["log_loss"]) and np.isfinite(ev.metrics["brier"])
    files = write_evaluation_report(tmp_path / "report", [ev], ReportContext(champion="one_class"))
    assert "undefined" in files.report_md.read_text()


def test_no_mqls_gives_nan_precision_without_raising():
    ev = _evaluate("m", np.array([0, 1, 0, 1]), np.array([0.1, 0.2, 0.15, 0.25]), threshold=0.9)
    assert ev.metrics["mql_share"] == 0 and ev.metrics["recall_at_threshold"] == 0
    assert np.isnan(ev.metrics["precision_at_threshold"])


@pytest.mark.parametrize("y, p", [
    ([], []),
    ([0, 1], [0.1]),
    ([0, 2], [0.1, 0.2]),
    ([0, 1], [0.1, np.nan]),
    ([0, 1], [0.1, 1.2]),
])
def test_bad_input_raises_value_error(y, p):
    y, p = np.asarray(y), np.asarray(p, dtype=float)
    with pytest.raises(ValueError):
        evaluate_model("m", y, p, np.zeros(len(y)), np.array(["A"] * len(y)), np.zeros(len(y), bool))


def test_accepts_pandas_series_and_boolean_labels():
    y = pd.Series([True, False, True, False])
    p = pd.Series([0.8, 0.3, 0.6, 0.1])
    tier = pd.Series(["A", "C", "B", "D"], dtype="string")
    ev = evaluate_model("m", y, p, p * 100, tier, p > 0.5)
    assert ev.metrics["roc_auc"] == 1.0 and ev.tiers["n"].sum() == 4


# --------------------------------------------------------------------------- report


@pytest.fixture(scope="module")
def evaluations() -> list[ModelEvaluation]:
    y, models = _simulated()
    return [_evaluate(name, y, p) for name, p in models.items()]


@pytest.fixture(scope="module")
def full_report(evaluations, tmp_path_factory) -> EvaluationFiles:
    return write_evaluation_report(tmp_path_factory.mktemp("eval") / "report", evaluations, FULL_CONTEXT)


@pytest.fixture(scope="module")
def full_card(full_report, evaluations) -> Path:
    return write_model_card(full_report.folder, evaluations, FULL_CONTEXT)


def test_write_report_creates_every_file(full_report, full_card, evaluations):
    folder = full_report.folder
    expected = {"calibration.png", "gains.png", "lift.png", "tiers.png", "metrics.csv", "report.md",
                "model_card.md"}
    for ev in evaluations:
        expected |= {f"{kind}_{ev.name}.csv" for kind in ("calibration", "gains", "tiers", "score_bands")}
    assert {f.name for f in folder.iterdir()} == expected
    assert {p.name for p in full_report.pngs} == {"calibration.png", "gains.png", "lift.png", "tiers.png"}
    assert len(full_report.csvs) == 1 + 4 * len(evaluations)
    assert all(path.is_file() for path in [*full_report.pngs, *full_report.csvs, full_report.report_md, full_card])


def test_pngs_are_valid_and_non_trivial(full_report):
    for png in full_report.pngs:
        data = png.read_bytes()
        assert data[:8] == PNG_MAGIC, png.name
        assert len(data) > 15_000, png.name


def test_metrics_csv_has_one_row_per_model(full_report, evaluations):
    metrics = pd.read_csv(full_report.folder / "metrics.csv")
    assert list(metrics["model"]) == [ev.name for ev in evaluations]
    for col in ("n", "positives", "base_rate", "roc_auc", "pr_auc", "log_loss", "brier", "recall_at_threshold",
                "precision_at_threshold", "mql_share"):
        assert col in metrics.columns
    assert metrics["roc_auc"].iloc[0] == pytest.approx(evaluations[0].metrics["roc_auc"])


def test_report_names_every_model_the_champion_and_the_context(full_report, evaluations):
    text = full_report.report_md.read_text()
    for ev in evaluations:
        assert ev.name in text
    assert "The champion is **lightgbm**: lowest validation log loss." in text
    assert "oracle (true probabilities)" in text
    assert "- Version: 7" in text and "better, promoted" in text  # the registered version and the promotion
    for png in ("calibration.png", "gains.png", "lift.png", "tiers.png"):
        assert f"]({png})" in text
    assert "0.312" in text and "score >= 64" in text and "about 38 per week" in text
    assert "capacity (capacity of 40 MQLs per week)" in text
    assert "act:demo_request" in text and "rule of thumb" in text and "220" in text
    assert "## Fit versus intent" in text and "60.0 %" in text
    assert "## Honesty" in text and "4,000 validation rows" in text
    assert "## Tiers (lightgbm)" in text and "## Score bands (lightgbm)" in text


def test_model_card_has_its_sections_and_the_threshold(full_card):
    card = full_card.read_text()
    for heading in ("# Model card: mqlscore-test", "## Intended use", "## Not intended for", "## Data",
                    "## Training data fingerprint", "## Features", "## Validation metrics", "## Threshold and policy",
                    "## Limits", "## How to retrain"):
        assert heading in card, heading
    assert "Version: 7" in card
    assert "probability of SQL >= 0.312" in card
    assert "patients" in card and "employment" in card
    assert "0123abcd" * 8 in card and "leads 12,345; activities 456,789; outcomes 2,345" in card
    assert "2023-01-01 to 2025-02-28" in card and "better, promoted" in card
    assert "| total | 158 |" in card
    assert "Synthetic data" in card
    assert "lightgbm" in card and "baseline_25pct_quarter" in card


@pytest.mark.parametrize("context", [
    None,
    ReportContext(),
    ReportContext(champion="not_a_model"),
    ReportContext(model_name="partial", data_window=DataWindow("2025-01-01", "2025-05-30", "2025-05-31"),
                  decay=DecayReport([], 0.2, 0.2, 0.0, 10, 10), fit_intent_share={},
                  notes=("a single note | with a pipe",), oracle={"oracle": {"roc_auc": 0.8}}),
])
def test_missing_context_is_tolerated(context, evaluations, tmp_path):
    files, card_path = write_both(tmp_path / "report", evaluations, context)
    text = files.report_md.read_text()
    card = card_path.read_text()
    assert "## Intended use" in card and "## Limits" in card
    assert "unregistered" in card
    if context is None or context.champion is None or context.champion == "not_a_model":
        assert "tables below are for `lightgbm`" in text
    if context is not None and context.notes:
        assert "a single note \\| with a pipe" in text


def test_write_report_rejects_no_models_and_duplicate_names(evaluations, tmp_path):
    with pytest.raises(ValueError):
        write_evaluation_report(tmp_path / "a", [], ReportContext())
    with pytest.raises(ValueError):
        write_model_card(tmp_path / "a", [], ReportContext())
    with pytest.raises(ValueError):
        write_evaluation_report(tmp_path / "b", [evaluations[0], evaluations[0]], ReportContext())


def test_written_files_hold_aggregates_only(tmp_path):
    rng = np.random.default_rng(6)
    n = 5000
    y = (rng.random(n) < 0.1).astype(int)
    p = np.clip(0.1 + 0.1 * (y - 0.1) + rng.normal(scale=0.05, size=n), 0, 1)
    score, tier, is_mql = _derived(p, 0.2)
    tier = tier.astype(object)
    tier[::50] = [f"{SENTINEL}-{i}" for i in range(len(tier[::50]))]  # id-like values where tiers belong
    ev_a = evaluate_model("model_a", y, p, score, tier, is_mql)
    ev_b = evaluate_model("model_b", y, rng.permutation(p), score, tier, is_mql)
    files, _ = write_both(tmp_path / "report", [ev_a, ev_b], ReportContext(champion="model_a"))

    for path in files.folder.iterdir():
        if path.suffix in {".csv", ".md"}:
            assert SENTINEL not in path.read_text(), path.name
        else:
            assert SENTINEL.encode() not in path.read_bytes(), path.name
    # every table has a small fixed number of rows, whatever the number of leads
    max_rows = {"metrics": 2, "calibration": 10, "gains": len(GAINS_SHARES), "tiers": 5, "score_bands": 10}
    for csv in files.csvs:
        kind = csv.stem.rsplit("_model_", 1)[0] if "_model_" in csv.stem else csv.stem
        assert len(pd.read_csv(csv)) <= max_rows[kind], csv.name
    assert sum(len(line) for line in files.report_md.read_text().splitlines()) < 20_000


def test_constant_scores_calibrated_in_folds_give_roc_auc_exactly_one_half():
    # A model that scores every lead the same, calibrated in two folds by lead (as training
    # does): each fold gets the other's base rate, so p differs between folds although the
    # model cannot rank. Ranked by its own (constant) ordering it is exactly chance.
    from mqlscore.models.calibration import cross_fitted_proba

    rng = np.random.default_rng(5)
    n = 4000
    y = (rng.random(n) < 0.1).astype(int)
    leads = np.array([f"L{i % 1500}" for i in range(n)], dtype=object)
    raw = np.full(n, 42.0)
    p = cross_fitted_proba(raw, y, leads)
    assert np.ptp(p) > 0  # the folds disagree: the defect the rank argument is for
    score, tier, is_mql = _derived(p)
    ev = evaluate_model("constant", y, p, score, tier, is_mql, rank=raw)
    assert ev.metrics["roc_auc"] == 0.5
    assert ev.metrics["pr_auc"] == pytest.approx(y.mean())
    assert np.allclose(ev.gains["lift"], 1.0)
    assert ev.metrics["log_loss"] == pytest.approx(log_loss(y, p))  # probability figures still use p


def test_rank_must_match_the_rows():
    y, p = np.array([0, 1, 0, 1]), np.array([0.1, 0.2, 0.3, 0.4])
    score, tier, is_mql = _derived(p)
    with pytest.raises(ValueError, match="rank"):
        evaluate_model("m", y, p, score, tier, is_mql, rank=np.array([1.0, 2.0]))
