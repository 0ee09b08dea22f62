"""Model layer: training, reasons, monotone behaviour, registry, report, refusal, score file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mqlscore.cli import app
from mqlscore.config import GeneratorConfig, Settings, TrainConfig
from mqlscore.contract import load_folder
from mqlscore.contract.schema import CHAMPION_ALIAS, SCORE_FILE_COLUMNS, TIERS, champion_uri
from mqlscore.features import open_leads_at
from mqlscore.registry import log_report
from mqlscore.reporting import write_report
from mqlscore.scoring import logit
from mqlscore.synthetic import generate_export
from mqlscore.training import NotEnoughData, register, train
from support import tracking_store


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory):
    """A temporary SQLite MLflow store for this module."""
    with tracking_store(tmp_path_factory.mktemp("mlflow")) as root:
        yield root


@pytest.fixture(scope="module")
def dataset(demo_export: Path):
    return load_folder(demo_export)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(train=TrainConfig(estimate_half_lives=False, model_name="mql-test"))


@pytest.fixture(scope="module")
def trained(dataset, settings):
    return train(dataset, settings)


@pytest.fixture(scope="module")
def registration(trained, dataset, settings, tracking):
    return register(trained, dataset, settings, promote="if-better")


@pytest.fixture(scope="module")
def report(trained, registration, tmp_path_factory):
    """The steps of ``mqlscore train`` after training: the report, then logged to the run."""
    files = write_report(trained, registration, tmp_path_factory.mktemp("report"))
    log_report(registration.run_id, files.folder)
    return files


def _open_rows(dataset, n: int = 300) -> pd.DataFrame:
    rows = open_leads_at(dataset.leads, dataset.outcomes, dataset.as_of)
    return rows.sample(min(n, len(rows)), random_state=0).reset_index(drop=True)


def test_both_learned_models_beat_the_hand_set_baseline(trained) -> None:
    m = trained.metrics()
    assert set(m) == {"scorecard", "lightgbm", "baseline_25pct_quarter"}
    for name in ("scorecard", "lightgbm"):
        assert m[name]["roc_auc"] > m["baseline_25pct_quarter"]["roc_auc"]
        assert m[name]["pr_auc"] > m["baseline_25pct_quarter"]["pr_auc"]
    assert trained.champion in ("scorecard", "lightgbm")
    assert trained.metrics()[trained.champion]["log_loss"] == min(m["scorecard"]["log_loss"], m["lightgbm"]["log_loss"])


def test_attribution_is_the_model_pass_on_the_score_scale(trained, dataset) -> None:
    for name in ("scorecard", "lightgbm"):
        model = trained.candidate_model(name)
        X = model.builder.transform(dataset.leads, dataset.activities, _open_rows(dataset, 200))
        parts = model.attribution(model.model_input(X))
        raw = model.raw_log_odds(model.model_input(X))
        assert np.allclose(parts.raw_log_odds, raw, atol=1e-9)
        unclipped = model.scale.unclipped(model.calibrator.logit(raw))
        assert np.allclose(parts.base_points + parts.points.sum(axis=1), unclipped, atol=1e-8)
        assert np.allclose(parts.fit_points + parts.intent_points, parts.points.sum(axis=1))
        assert parts.points.shape == (len(X), len(parts.signals)) and len(parts.groups) == len(parts.signals)
        assert set(parts.groups) <= {"fit", "intent"} and len(set(parts.signals)) == len(parts.signals)


def test_reasons_add_up_to_the_score_before_clipping(trained, dataset) -> None:
    model = trained.scoring_model
    rows = _open_rows(dataset)
    X = model.builder.transform(dataset.leads, dataset.activities, rows)
    out = model.score_features(X)
    unclipped = model.scale.unclipped(logit(np.clip(out["probability"].to_numpy(), 1e-12, 1 - 1e-12)))
    total = out["base_points"] + out["fit_points"] + out["intent_points"]
    assert np.allclose(total, unclipped, atol=0.05)
    assert np.allclose(out["score"], np.clip(unclipped, 0, 100), atol=0.06)
    # every reason is a business signal with words and signed points
    for reasons in out["reasons"]:
        assert 0 < len(reasons) <= model.config.top_reasons
        for r in reasons:
            assert r["text"] and r["sign"] == ("+" if r["points"] >= 0 else "-")


def test_lightgbm_on_its_float_matrix_gives_exactly_the_dataframe_predictions(trained, dataset) -> None:
    """Scoring reads LightGBM's float matrix (no pandas work per call); it must be
    the very numbers LightGBM gives for the DataFrame, contributions included."""
    from mqlscore.models.gbm import prepare

    gbm = trained.candidates["lightgbm"].model
    rows = _open_rows(dataset, 200)
    X = trained.scoring_model.builder.transform(dataset.leads, dataset.activities, rows)
    X = X.assign(fit__org_type=X["fit__org_type"].cat.reorder_categories(  # other category order: recoded by name
        X["fit__org_type"].cat.categories[::-1]))
    framed = prepare(X[gbm.feature_names_])
    it = gbm.best_iteration_
    assert np.array_equal(gbm.decision_function(X), gbm.booster_.predict(framed, raw_score=True, num_iteration=it))
    contrib, bias = gbm.contributions(X)
    expected = gbm.booster_.predict(framed, pred_contrib=True, num_iteration=it)
    assert np.array_equal(contrib, expected[:, :-1]) and np.array_equal(bias, expected[:, -1])


def test_reasons_sum_exactly_when_all_signals_are_kept(trained, dataset) -> None:
    model = trained.scoring_model
    wide = model.config.model_copy(update={"top_reasons": 20})
    from dataclasses import replace

    rows = _open_rows(dataset, 50)
    X = model.builder.transform(dataset.leads, dataset.activities, rows)
    out = replace(model, config=wide).score_features(X)
    for (_, row), reasons in zip(out.iterrows(), out["reasons"]):
        if len(reasons) < 20:  # all non-negligible signals listed
            assert sum(r["points"] for r in reasons) == pytest.approx(row["fit_points"] + row["intent_points"],
                                                                      abs=0.1 * len(reasons) + 0.5)


@pytest.mark.parametrize("kind", ["champion", "lightgbm", "scorecard"])
def test_more_recent_high_intent_activity_never_lowers_the_score(trained, dataset, kind) -> None:
    model = trained.scoring_model if kind == "champion" else trained.candidate_model(kind)
    rows = _open_rows(dataset, 200)
    before = model.score(dataset.leads, dataset.activities, rows, reasons=False)["score"].to_numpy()
    for activity_type, detail, days in (("demo_request", None, 1), ("baa_request", None, 3),
                                        ("page_view", "/pricing", 2)):
        extra = pd.DataFrame({"lead_id": rows["lead_id"], "occurred_at": rows["as_of"] - pd.Timedelta(days=days),
                              "activity_type": activity_type, "detail": detail})
        acts = pd.concat([dataset.activities, extra], ignore_index=True)
        after = model.score(dataset.leads, acts, rows, reasons=False)["score"].to_numpy()
        assert (after >= before - 1e-6).all(), (kind, activity_type, (after - before).min())
        assert (after > before).mean() > 0.5, (kind, activity_type)


def test_a_column_outside_the_features_cannot_change_a_score(trained, dataset) -> None:
    model = trained.scoring_model
    rows = _open_rows(dataset, 100)
    base = model.score(dataset.leads, dataset.activities, rows)
    leads = dataset.leads.assign(unrelated=np.random.default_rng(0).normal(size=len(dataset.leads)),
                                 first_name="Someone", email=dataset.leads["email"].str.replace(r"^[^@]+", "x",
                                                                                               regex=True))
    again = model.score(leads, dataset.activities.assign(campaign_id="c1"), rows)
    pd.testing.assert_frame_equal(base, again)


def test_promotion_gate(trained, registration, tracking) -> None:
    from mlflow import MlflowClient

    from mqlscore.registry import GateFigures, configure, log_and_register

    configure()
    client = MlflowClient()
    name = trained.scoring_model.metadata["model_name"]
    first = str(client.get_model_version_by_alias(name, CHAMPION_ALIAS).version)
    assert registration.promoted and registration.version == first
    assert trained.scoring_model.metadata["model_version"] == first

    def register(new_loss: float, champion_loss: float, promote: str):
        return log_and_register(trained.scoring_model, model_name=name, experiment="gate-test", params={},
                                metrics={}, feature_definition={}, fingerprint={}, new_log_loss=new_loss,
                                compare_with_champion=lambda current: GateFigures(new_loss, champion_loss, 100),
                                promote=promote)

    worse = register(0.30, 0.20, "if-better")
    assert not worse.promoted and "not better" in worse.decision
    assert str(client.get_model_version_by_alias(name, CHAMPION_ALIAS).version) == first
    run = client.get_run(worse.run_id)
    assert run.data.metrics["promotion_new_log_loss"] == pytest.approx(0.30)
    assert run.data.metrics["promotion_champion_log_loss"] == pytest.approx(0.20)
    assert run.data.tags["promoted"] == "False"
    never = register(0.01, 0.20, "never")
    assert not never.promoted and str(client.get_model_version_by_alias(name, CHAMPION_ALIAS).version) == first
    better = register(0.10, 0.20, "if-better")
    assert better.promoted and str(client.get_model_version_by_alias(name, CHAMPION_ALIAS).version) == better.version
    forced = register(0.90, 0.20, "always")
    assert forced.promoted and str(client.get_model_version_by_alias(name, CHAMPION_ALIAS).version) == forced.version


def test_the_registered_model_scores_raw_contract_data(trained, registration, dataset, tracking) -> None:
    import mlflow

    from mqlscore.registry import configure

    configure()
    name = trained.scoring_model.metadata["model_name"]
    pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/{registration.version}")
    ids = _open_rows(dataset, 5)["lead_id"]
    leads = dataset.leads[dataset.leads["lead_id"].isin(ids)].copy()
    acts = dataset.activities[dataset.activities["lead_id"].isin(ids)]
    frame = leads[["lead_id", "created_at", "job_title", "org_type", "employee_count", "country", "state",
                   "email"]].copy()
    frame["created_at"] = frame["created_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    frame["activities"] = [json.dumps([{"occurred_at": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "activity_type": a,
                                        "detail": d} for t, a, d in
                                       acts.loc[acts["lead_id"] == i, ["occurred_at", "activity_type",
                                                                       "detail"]].itertuples(index=False)])
                           for i in frame["lead_id"]]
    out = pyfunc.predict(frame, params={"as_of": str(dataset.as_of)})
    assert list(out["lead_id"]) == list(frame["lead_id"])
    assert out["probability"].between(0, 1).all() and out["score"].between(0, 100).all()
    assert all(isinstance(json.loads(r), list) for r in out["reasons"])


def _all_text_in_store(root: Path) -> str:
    chunks = []
    for path in root.rglob("*"):
        # the model's copy of the package source is code, not data
        if path.is_file() and path.suffix not in (".db", ".png") and "/code/" not in path.as_posix():
            chunks.append(path.read_bytes().decode("utf-8", errors="ignore"))
    with sqlite3.connect(root / "mlflow.db") as db:
        for (table,) in db.execute("select name from sqlite_master where type='table'"):
            for row in db.execute(f"select * from {table}"):  # noqa: S608 - our own test database
                chunks.append(" ".join(str(v) for v in row))
    return "\n".join(chunks)


def test_no_personal_data_in_anything_mlflow_stores(trained, report, dataset, tracking) -> None:
    text = _all_text_in_store(tracking)
    assert "mql-test" in text  # the store was really read
    leads = dataset.leads.sample(300, random_state=1)
    for email in leads["email"].dropna():
        assert email not in text
    for first, last in zip(leads["first_name"], leads["last_name"]):
        assert f"{first} {last}" not in text and f"{first.lower()}.{last.lower()}" not in text
    titles = leads["job_title"].dropna()
    for title in titles[titles.str.len() > 18]:
        assert title not in text, title


def test_refuses_too_little_data_naming_the_counts(tmp_path: Path, tracking) -> None:
    result = generate_export(GeneratorConfig(n_leads=150, seed=2, mc_sims=10, history_days=150), tmp_path / "tiny")
    data = load_folder(result.out)
    with pytest.raises(NotEnoughData) as info:
        train(data, Settings())
    message = str(info.value)
    assert "150 leads" in message and "conversions" in message and "--force" in message
    cli = CliRunner().invoke(app, ["train", "--data", str(result.out), "--no-register",
                                   "--report-dir", str(tmp_path / "r2")])
    assert cli.exit_code == 1 and "Not enough data" in cli.output
    assert not (tmp_path / "r2").exists()


def test_score_command_writes_the_documented_columns(trained, registration, demo_export: Path, tmp_path: Path,
                                                     tracking) -> None:
    name = trained.scoring_model.metadata["model_name"]
    for suffix in ("csv", "parquet"):
        out = tmp_path / f"scores.{suffix}"
        cli = CliRunner().invoke(app, ["score", "--data", str(demo_export), "--out", str(out),
                                       "--model", champion_uri(name)])
        assert cli.exit_code == 0, cli.output
        frame = pd.read_csv(out) if suffix == "csv" else pd.read_parquet(out)
        assert list(frame.columns) == list(SCORE_FILE_COLUMNS)
        assert frame["lead_id"].is_unique and frame["tier"].isin(TIERS).all()
        assert (frame["model_name"] == name).all()
        assert frame["model_version"].astype(str).str.fullmatch(r"\d+").all()
        reasons = json.loads(frame["reasons_json"].iloc[0])
        assert {"signal", "text", "points", "sign"} <= set(reasons[0])
        assert "@" not in " ".join(frame["reasons_text"].astype(str))


def test_report_and_model_card_are_written(report, registration, tracking) -> None:
    from mlflow import MlflowClient

    names = {p.name for p in report.folder.iterdir()}
    assert {"report.md", "model_card.md", "calibration.png", "gains.png", "metrics.csv",
            "scorecard_points.csv", "explanations.md", "drivers.png", "shap_summary.png", "conversion.png"} <= names
    assert "![SHAP summary](shap_summary.png)" in report.explanations_md.read_text()
    card = report.model_card_md.read_text()
    assert "ntended use" in card and "imit" in card
    # the report names the registered version and the promotion decision
    for text in (report.report_md.read_text(), card):
        assert f"- Version: {registration.version}" in text and registration.decision in text
    # and it joined the training run after the run had ended
    logged = {a.path for a in MlflowClient().list_artifacts(registration.run_id, "report")}
    assert {"report/report.md", "report/model_card.md", "report/scorecard_points.csv"} <= logged


def test_scorecard_points_table_is_on_the_score_scale(trained, report, dataset) -> None:
    """The written table's base row is a lead's base points, and the table is the
    calibrated scorecard's (whether or not the scorecard is the champion)."""
    table = pd.read_csv(report.folder / "scorecard_points.csv")
    scorecard = trained.candidate_model("scorecard")
    expected = scorecard.points_table()
    assert list(table["feature"]) == list(expected["feature"])
    assert np.allclose(table["points"], expected["points"], atol=1e-9)
    X = scorecard.builder.transform(dataset.leads, dataset.activities, _open_rows(dataset, 50))
    base = scorecard.score_features(X)["base_points"]
    assert table.loc[table["feature"] == "(base)", "points"].item() == pytest.approx(base.iloc[0], abs=0.006)


def test_train_command_trains_registers_then_reports(demo_export: Path, tmp_path: Path, tracking) -> None:
    from mlflow import MlflowClient

    from mqlscore.registry import configure

    config = tmp_path / "settings.yaml"
    config.write_text("train:\n  model_name: mql-cli\n  estimate_half_lives: false\n")
    cli = CliRunner().invoke(app, ["train", "--data", str(demo_export), "--config", str(config),
                                   "--report-dir", str(tmp_path / "report"), "--promote", "always"])
    assert cli.exit_code == 0, cli.output
    configure()
    client = MlflowClient()
    version = client.get_model_version_by_alias("mql-cli", CHAMPION_ALIAS)
    assert f"Registered as models:/mql-cli/{version.version}" in cli.output
    assert f"- Version: {version.version}" in (tmp_path / "report" / "report.md").read_text()
    logged = {a.path for a in client.list_artifacts(version.run_id, "report")}
    assert "report/model_card.md" in logged and "report/explanations.md" in logged
