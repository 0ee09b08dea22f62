"""An export without activities and with generic CRM columns, as a new user's
(issue 12): a baseline that cannot rank gets exactly 0.5, the promotion decision
says what happened, and training, registering and reporting stay quiet."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mqlscore.config import Settings, TrainConfig
from mqlscore.contract import load_folder
from mqlscore.reporting import write_report
from mqlscore.training import BASELINE, register, train


def generic_export(folder: Path, n: int = 3000, seed: int = 0) -> Path:
    """Leads with only an id, a creation time and two extra columns in a CRM's own
    names (a numeric time on site, a categorical origin), no activities at all, and
    outcomes that depend on both extras."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    created = pd.Timestamp("2023-01-01", tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, 365, n)), unit="D")
    minutes = rng.gamma(2.0, 300.0, n).round()
    origin = rng.choice(["Landing Page Submission", "API", "Lead Add Form"], n, p=[0.5, 0.3, 0.2])
    log_odds = -2.2 + 0.0012 * (minutes - 600) + np.where(origin == "Lead Add Form", 1.5, 0.0)
    sql = rng.random(n) < 1 / (1 + np.exp(-log_odds))
    leads = pd.DataFrame({"lead_id": [f"L{i:05d}" for i in range(n)], "created_at": created,
                          "Total Time Spent on Website": minutes, "Lead Origin": origin})
    sql_at = pd.Series(created + pd.to_timedelta(rng.uniform(1, 40, n), unit="D")).where(sql)
    leads.to_csv(folder / "leads.csv", index=False)
    pd.DataFrame(columns=["lead_id", "occurred_at", "activity_type"]).to_csv(folder / "activities.csv", index=False)
    pd.DataFrame({"lead_id": leads["lead_id"], "sql_at": sql_at}).to_csv(folder / "outcomes.csv", index=False)
    return folder


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    """Train, register into a fresh MLflow store and write the report, recording
    every warning and every MLflow log message on the way."""
    root = tmp_path_factory.mktemp("no-activities")
    dataset = load_folder(generic_export(root / "export"))
    settings = Settings(train=TrainConfig(model_name="generic", experiment="generic"))
    old, cwd = os.environ.get("MLFLOW_TRACKING_URI"), Path.cwd()
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    os.chdir(root)
    import mlflow  # noqa: F401  (configures its loggers on import, replacing any handler added before)

    records = _Records()
    logging.getLogger("mlflow").addHandler(records)  # MLflow's logger does not propagate to pytest's
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = train(dataset, settings)
            registration = register(result, dataset, settings)
            files = write_report(result, registration, root / "report")
    finally:
        logging.getLogger("mlflow").removeHandler(records)
        os.chdir(cwd)
        if old is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old
    return {"dataset": dataset, "result": result, "registration": registration, "files": files,
            "warnings": [f"{w.category.__name__}: {w.message}" for w in caught], "logs": records.messages}


def test_a_baseline_that_scores_every_lead_the_same_has_roc_auc_exactly_one_half(run) -> None:
    baseline = run["result"].candidates[BASELINE]
    assert np.ptp(baseline.raw_validation) == 0  # no activities, no fit fields it knows: one score for all
    assert baseline.evaluation.metrics["roc_auc"] == 0.5
    assert baseline.evaluation.metrics["pr_auc"] == pytest.approx(baseline.evaluation.metrics["base_rate"])
    assert np.allclose(baseline.evaluation.gains["lift"], 1.0)


def test_the_first_registration_says_it_became_the_champion(run) -> None:
    registration = run["registration"]
    assert registration.promoted
    assert registration.decision == f"no champion yet: v{registration.version} is now the champion"


def test_training_registering_and_reporting_emit_no_pip_or_all_nan_noise(run) -> None:
    assert not [w for w in run["warnings"] if "All-NaN" in w]
    assert not [m for m in run["logs"] if "pip version" in m]
    assert run["registration"].version == "1"  # the model was logged, so the pip check did run


# ------------------------------------------------------------------- intent not learned


def test_a_builder_fitted_without_activities_invents_no_intent_features(run) -> None:
    builder = run["result"].scoring_model.builder
    assert not builder.intent_learned
    assert builder.families_ == []
    assert not [name for name in builder.feature_names_ if name.startswith("intent__")]
    # of the account features only the colleagues in the CRM: the others count colleagues' activity
    assert [s.name for s in builder.specs_ if s.group == "account"] == ["account__known_leads"]
    assert {"extra__total_time_spent_on_website", "extra__lead_origin"} <= set(builder.feature_names_)


def test_report_and_model_card_say_intent_was_not_learned_and_leave_empty_groups_out(run) -> None:
    files = run["files"]
    report = files.report_md.read_text()
    card = files.model_card_md.read_text()
    for text in (report, card):
        assert "No activity data: intent not learned" in text
    fit_vs_intent = report.split("## Fit versus intent", 1)[1].split("\n## ", 1)[0]
    assert "The score's points come from fit" in fit_vs_intent
    features = card.split("## Features", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1].strip() for line in features.splitlines() if line.startswith("| ")]
    assert rows[2:] == ["fit", "total"]  # after the header: no intent row, no constant account row
    assert "Left out, every value the same on the validation rows: account (1 feature)." in features


def test_the_drivers_show_only_signals_that_carry_something(run) -> None:
    explanations = run["files"].explanations_md.read_text()
    table = explanations.split("| signal | group |", 1)[1].split("\n\n", 1)[0]
    drivers = [line.split("|")[1:3] for line in table.splitlines()[2:]]
    assert drivers and {group.strip() for _, group in drivers} == {"fit"}
    labels = {label.strip() for label, _ in drivers}
    for digital_health in ("Requested a demo", "Visited the pricing page", "Recency of any activity",
                           "Buying committee active"):
        assert digital_health not in labels
    assert "Total Time Spent on Website (lead column)" in labels
    assert "No activity data: intent not learned" in explanations


def test_a_model_fitted_without_activities_scores_requests_that_carry_activities(run) -> None:
    """The service, the MLflow model and batch scoring may send activities to a model
    that never saw any: they are not counted, and the scores are those without them."""
    from mqlscore.batch import score_request_frame
    from mqlscore.contract.schema import example_lead

    model = run["result"].scoring_model
    lead = {**example_lead(), "Total Time Spent on Website": 1400, "Lead Origin": "Lead Add Form"}
    unknown = {"occurred_at": "2026-01-22T10:00:00Z", "activity_type": "g2_intent_surge", "detail": None}
    with_acts = pd.DataFrame([{**lead, "activities": [*lead["activities"], unknown]}])
    without = pd.DataFrame([{**lead, "activities": []}])
    as_of = "2026-02-01T00:00:00Z"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scored = score_request_frame(model, with_acts, as_of=as_of)
        plain = score_request_frame(model, without, as_of=as_of)
    assert np.isfinite(scored["probability"]).all()
    np.testing.assert_allclose(scored["probability"], plain["probability"], rtol=0, atol=1e-12)
    assert scored["reasons_text"].iloc[0] == plain["reasons_text"].iloc[0]
    assert not any(r["signal"].startswith(("act:", "page:")) for r in scored["reasons"].iloc[0])


def test_a_builder_without_activities_round_trips_and_ignores_activities_it_is_sent() -> None:
    import json

    from mqlscore.explain import describe, signal_label
    from mqlscore.features import FeatureBuilder

    t0 = pd.Timestamp("2025-06-01", tz="UTC")
    leads = pd.DataFrame({"lead_id": ["A", "B"], "created_at": [t0 - pd.Timedelta(days=9)] * 2,
                          "account_id": ["ACC", "ACC"], "job_title": ["CISO", "CFO"]})
    no_acts = pd.DataFrame({"lead_id": pd.Series(dtype=str), "occurred_at": pd.Series(dtype="datetime64[us, UTC]"),
                            "activity_type": pd.Series(dtype=str)})
    builder = FeatureBuilder().fit(leads, no_acts)
    acts = pd.DataFrame({"lead_id": ["A", "B", "B"],
                         "occurred_at": pd.to_datetime([t0 - pd.Timedelta(days=d) for d in (1, 2, 3)], utc=True),
                         "activity_type": ["demo_request", "page_view", "g2_intent"],
                         "detail": [None, "/pricing", None]})
    snaps = pd.DataFrame({"lead_id": ["A", "B"], "as_of": t0})
    restored = FeatureBuilder.from_dict(json.loads(json.dumps(builder.to_dict())))
    for b in (builder, restored):
        assert not b.intent_learned and b.family_codes(acts).tolist() == [-1, -1, -1]
        pd.testing.assert_frame_equal(b.transform(leads, acts, snaps), builder.transform(leads, no_acts, snaps))
    X = builder.transform(leads, acts, snaps)
    assert X["account__known_leads"].tolist() == [1.0, 1.0]
    assert describe("account_known", X.iloc[0]) == "1 colleague at the account in the CRM"
    assert signal_label("account_known") == "Colleagues in the CRM"


def test_the_card_and_report_name_where_intent_comes_from_without_activities(tmp_path: Path) -> None:
    """Lead columns marked as intent, without activity data: the card keeps the intent
    group (they vary), leaves out the constant account group, and both say intent was
    not learned from activities and where the intent share comes from."""
    from mqlscore.evaluation import evaluate_model
    from mqlscore.reporting import ReportContext, write_evaluation_report, write_model_card

    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.6, 2000)
    y = (rng.random(2000) < p).astype(int)
    score = np.round(100 * p)
    evaluation = evaluate_model("lightgbm", y, p, score, np.where(score >= 40, "A", "D"), p >= 0.3)
    context = ReportContext(champion="lightgbm", features_by_group={"fit": 12, "intent": 2, "account": 1},
                            varying_by_group={"fit": 9, "intent": 2, "account": 0}, intent_learned=False,
                            fit_intent_share={"fit": 0.7, "intent": 0.3})
    card = write_model_card(tmp_path, [evaluation], context).read_text()
    report = write_evaluation_report(tmp_path, [evaluation], context).report_md.read_text()
    features = card.split("## Features", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:4] for line in features.splitlines() if line.startswith("| ")][2:]
    assert [[c.strip() for c in r] for r in rows] == [["fit", "12", "9"], ["intent", "2", "2"], ["total", "14", "11"]]
    assert "Left out, every value the same on the validation rows: account (1 feature)." in features
    for text in (features, report):
        assert "No activity data: intent not learned.** The training data holds no activities" in text
        assert "its only intent features are lead columns marked as intent" in text
    assert ("fit 70.0 %, intent 30.0 %; the intent share comes from lead columns marked as intent "
            "(features.intent_columns), none from activities.") in report
    # a model fitted with activities reads as before
    learned = ReportContext(champion="lightgbm", fit_intent_share={"fit": 0.6, "intent": 0.4}, intent_learned=True)
    plain = write_evaluation_report(tmp_path / "learned", [evaluation], learned).report_md.read_text()
    assert "No activity data" not in plain and "fit 60.0 %, intent 40.0 %." in plain
