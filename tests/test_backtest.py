"""`mqlscore backtest`: rolling-origin evaluation, honest about time.

At each origin T the model is trained on the export as its CRM held it at T, and its scores of the
leads open at T are compared with what happened within the horizon after T. The tests check the
cut, that nothing after T reaches the model, that the figures are what sklearn says they are, and
the command's files and errors."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score
from typer.testing import CliRunner

from mqlscore.backtest import (CensoredOrigin, OriginError, backtest, choose_origins, known_at, parse_every)
from mqlscore.backtest.report import write_backtest
from mqlscore.cli import app
from mqlscore.config import Settings, TrainConfig
from mqlscore.contract import Dataset, load_folder, validate_tables

HORIZON = 90
# Small enough to train on a 2,500-lead export; the scorecard only (LightGBM needs more SQLs
# than this export has in its fitting period), no half-lives: seconds per origin.
FAST = TrainConfig(estimate_half_lives=False, refit=False, min_leads=200, min_conversions=20,
                   min_validation_conversions=10, gbm_min_conversions=100_000)
FAST_YAML = """\
train:
  estimate_half_lives: false
  refit: false
  min_leads: 200
  min_conversions: 20
  min_validation_conversions: 10
  gbm_min_conversions: 100000
backtest:
  origins: 2
"""


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated export of 2,500 leads over two years (as of 2026-09-30)."""
    from mqlscore.config import GeneratorConfig
    from mqlscore.synthetic import generate_export

    out = tmp_path_factory.mktemp("backtest") / "export"
    generate_export(GeneratorConfig(n_leads=2_500, seed=3, mc_sims=10), out)
    return out


@pytest.fixture(scope="module")
def dataset(export: Path) -> Dataset:
    return load_folder(export)


@pytest.fixture(scope="module")
def origin(dataset: Dataset) -> pd.Timestamp:
    """An origin whose 90-day horizon ends well before the export's as-of time."""
    return (dataset.as_of - pd.Timedelta(days=HORIZON + 40)).floor("D")


@pytest.fixture(scope="module")
def result(dataset: Dataset, origin: pd.Timestamp):
    """A backtest of three origins: the first before any outcome could be known, the second
    where training refuses (no snapshot to fit on before its validation period), the third fine."""
    first = dataset.leads["created_at"].min()
    early = [(first + pd.Timedelta(days=days)).ceil("D") for days in (60, 150)]
    return backtest(dataset, Settings(train=FAST), [*early, origin])


def run(*args: str) -> tuple[int, str]:
    """Run the command; bad input must end in an exit code, never a traceback."""
    outcome = CliRunner().invoke(app, ["backtest", *args], env={"COLUMNS": "200"})
    assert outcome.exception is None or isinstance(outcome.exception, SystemExit), outcome.exception
    return outcome.exit_code, outcome.output


# --------------------------------------------------------------------------- the cut


def test_the_cut_hides_everything_from_T_on_and_passes_the_contract(dataset: Dataset, origin: pd.Timestamp) -> None:
    cut = known_at(dataset, origin)
    assert cut.as_of == origin and cut.report.as_of == origin
    assert (cut.leads["created_at"] < origin).all() and len(cut.leads) == (dataset.leads["created_at"] < origin).sum()
    assert (cut.activities["occurred_at"] < origin).all()
    assert set(cut.activities["lead_id"]) <= set(cut.leads["lead_id"])
    for column in ("sql_at", "disqualified_at"):
        assert (cut.outcomes[column].dropna() < origin).all()
    # nothing known before T is lost: every activity and outcome dated before T is kept
    before = dataset.activities[dataset.activities["occurred_at"] < origin]
    assert len(cut.activities) == len(before)
    sql_before = dataset.outcomes["sql_at"] < origin
    assert cut.report.n_sql == int(sql_before.sum()) == int(cut.outcomes["sql_at"].notna().sum())
    later = dataset.outcomes.loc[(dataset.outcomes["sql_at"] >= origin)
                                 & dataset.outcomes["lead_id"].isin(cut.leads["lead_id"]), "lead_id"]
    assert len(later) > 10  # leads that became an SQL later are open in the cut
    assert cut.outcomes.set_index("lead_id").reindex(later)["sql_at"].isna().all()
    # the cut tables meet the contract, and validation as of T gives back the same tables
    again = validate_tables({"leads": cut.leads, "activities": cut.activities, "outcomes": cut.outcomes},
                            as_of=origin)
    assert again.report.ok
    for name in ("leads", "activities", "outcomes"):
        pd.testing.assert_frame_equal(getattr(again, name).reset_index(drop=True), getattr(cut, name),
                                      check_dtype=False)
    assert (again.report.time_min, again.report.time_max) == (cut.report.time_min, cut.report.time_max)
    assert again.report.n_disqualified == cut.report.n_disqualified


def test_an_outcome_or_activity_exactly_at_T_is_not_yet_known(dataset: Dataset, origin: pd.Timestamp) -> None:
    """An SQL at T is not known at T; nor is a later SQL of a lead disqualified before T (reopened)."""
    lead, reopened = dataset.leads.loc[dataset.leads["created_at"] < origin - pd.Timedelta(days=20), "lead_id"][:2]
    dtype, day = dataset.outcomes["sql_at"].dtype, pd.Timedelta(days=1)
    outcomes = pd.concat([dataset.outcomes[~dataset.outcomes["lead_id"].isin([lead, reopened])],
                          pd.DataFrame({"lead_id": [lead, reopened],
                                        "sql_at": pd.Series([origin, origin + 5 * day], dtype=dtype),
                                        "disqualified_at": pd.Series([pd.NaT, origin - 10 * day], dtype=dtype)})],
                         ignore_index=True)
    activity = dataset.activities.iloc[[0]].assign(lead_id=lead, occurred_at=origin)
    edited = dataclasses.replace(dataset, outcomes=outcomes,
                                 activities=pd.concat([dataset.activities, activity], ignore_index=True))
    cut = known_at(edited, origin)
    assert lead not in set(cut.outcomes["lead_id"])
    assert not ((cut.activities["lead_id"] == lead) & (cut.activities["occurred_at"] == origin)).any()
    row = cut.outcomes.set_index("lead_id").loc[reopened]
    assert pd.isna(row["sql_at"]) and row["disqualified_at"] == origin - 10 * day


def test_a_cut_after_the_export_or_before_any_lead_is_refused(dataset: Dataset) -> None:
    with pytest.raises(ValueError, match="as-of time"):
        known_at(dataset, dataset.as_of + pd.Timedelta(days=1))
    with pytest.raises(ValueError, match="no lead was created before"):
        known_at(dataset, dataset.leads["created_at"].min())


# --------------------------------------------------------------------------- honesty


def _without_anything_from(dataset: Dataset, t: pd.Timestamp) -> Dataset:
    """The export with every lead created, activity done and outcome recorded at or after ``t``
    removed (the as-of time unchanged)."""
    leads = dataset.leads[dataset.leads["created_at"] < t].reset_index(drop=True)
    acts = dataset.activities[(dataset.activities["occurred_at"] < t)
                              & dataset.activities["lead_id"].isin(leads["lead_id"])].reset_index(drop=True)
    out = dataset.outcomes[dataset.outcomes["lead_id"].isin(leads["lead_id"])]
    out = out.assign(sql_at=out["sql_at"].where(out["sql_at"] < t),
                     disqualified_at=out["disqualified_at"].where(out["disqualified_at"] < t)).reset_index(drop=True)
    return dataclasses.replace(dataset, leads=leads, activities=acts, outcomes=out)


def test_nothing_after_T_changes_the_model_trained_at_T_or_its_scores(dataset: Dataset,
                                                                      origin: pd.Timestamp) -> None:
    settings = Settings(train=FAST.model_copy(update={"refit": True}))  # the refit uses every labelled row
    full = backtest(dataset, settings, [origin]).origins[0]
    blind = backtest(_without_anything_from(dataset, origin), settings, [origin]).origins[0]
    assert full.status == blind.status == "ok" and full.figures["refitted"]
    pd.testing.assert_frame_equal(full.scored.drop(columns="sql_within_horizon"),
                                  blind.scored.drop(columns="sql_within_horizon"))
    for key in ("champion", "validation_roc_auc", "validation_average_precision", "promised_mql_sql_rate",
                "train_leads", "train_sqls"):
        assert full.figures[key] == blind.figures[key], key
    # labels aside: the blinded export knows no SQL after T
    assert full.scored["sql_within_horizon"].sum() > 10 and blind.scored["sql_within_horizon"].sum() == 0
    # and the check can fail: losing activities from before T changes the scores
    early = dataset.activities["occurred_at"] < origin - pd.Timedelta(days=30)
    thinned = dataclasses.replace(dataset, activities=dataset.activities[~early | (np.arange(len(early)) % 2 == 0)])
    other = backtest(thinned, settings, [origin]).origins[0]
    assert not np.allclose(other.scored["probability"], full.scored["probability"])


def test_the_model_scores_the_same_from_the_full_export(result, dataset: Dataset, origin: pd.Timestamp) -> None:
    """Features at T read only what happened before T: scoring the open leads from the full export
    gives the backtest's scores (the cut only saves work)."""
    trained = result.origins[2]
    rows = pd.DataFrame({"lead_id": trained.scored["lead_id"], "as_of": origin})
    again = trained.model.score(dataset.leads, dataset.activities, rows, reasons=False)
    np.testing.assert_allclose(again["probability"].to_numpy(), trained.scored["probability"].to_numpy(), rtol=1e-12)


# --------------------------------------------------------------------------- figures


def test_the_figures_equal_a_direct_computation(result, dataset: Dataset, origin: pd.Timestamp) -> None:
    trained = result.origins[2]
    assert trained.status == "ok"
    scored, f = trained.scored, trained.figures
    # the leads open at T and their outcome within the horizon, straight from the export's tables
    leads, out = dataset.leads, dataset.outcomes.set_index("lead_id").reindex(dataset.leads["lead_id"])
    closed = pd.concat([out["sql_at"], out["disqualified_at"]], axis=1).min(axis=1)
    is_open = (leads["created_at"] < origin).to_numpy() & ~closed.le(origin).to_numpy()
    assert sorted(scored["lead_id"]) == sorted(leads.loc[is_open, "lead_id"])
    sql = out["sql_at"].reindex(scored["lead_id"])
    y = (sql.gt(origin) & sql.le(origin + pd.Timedelta(days=HORIZON))).to_numpy()
    assert (scored["sql_within_horizon"].to_numpy() == y).all()
    p, mql, points = scored["probability"].to_numpy(), scored["is_mql"].to_numpy(), scored["baseline_points"]
    assert f["open_leads"] == len(y) and f["sqls"] == y.sum() > 20
    assert f["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert f["average_precision"] == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert f["log_loss"] == pytest.approx(log_loss(y, p), abs=1e-12)
    assert f["baseline_roc_auc"] == pytest.approx(roc_auc_score(y, points), abs=1e-12)
    assert f["baseline_average_precision"] == pytest.approx(average_precision_score(y, points), abs=1e-12)
    assert f["baseline_log_loss"] == pytest.approx(log_loss(y, scored["baseline_probability"]), abs=1e-12)
    assert f["mqls"] == mql.sum() > 0
    assert f["mql_sql_rate"] == pytest.approx(y[mql].mean())
    assert f["share_of_sqls_captured"] == pytest.approx(mql[y].mean())
    assert f["sql_rate"] == pytest.approx(y.mean())
    assert 0 < f["promised_mql_sql_rate"] <= 1 and 0 < f["promised_share_of_sqls"] <= 1
    # the champion beats the hand-set rule on this export
    assert f["roc_auc"] > f["baseline_roc_auc"] > 0.5


def test_origins_too_early_to_train_are_skipped_with_the_reason(result) -> None:
    none_known, refused = result.origins[0], result.origins[1]
    assert none_known.status == refused.status == "skipped" and none_known.scored is refused.scored is None
    assert "no snapshot's 90-day horizon had ended" in none_known.reason
    assert refused.reason.startswith("Not enough data to train:")  # training's own refusal (NotEnoughData)
    assert "positive snapshots to fit on" in refused.reason
    table = result.table()
    assert list(table["status"]) == ["skipped", "skipped", "ok"]
    assert math.isnan(table.loc[1, "roc_auc"]) and table.loc[1, "reason"] == refused.reason
    assert table.loc[2, "reason"] == ""
    assert result.summary()["trained"] == 1 and result.summary()["skipped"] == 2


# --------------------------------------------------------------------------- origins


def test_origins_default_to_the_last_ones_whose_horizon_is_complete(dataset: Dataset) -> None:
    origins = choose_origins(dataset, horizon_days=HORIZON, validation_days=90, every=parse_every("30d"), count=6)
    latest = dataset.as_of - pd.Timedelta(days=HORIZON)
    assert len(origins) == 6 and origins[-1] == latest.floor("D")
    assert all(b - a == pd.Timedelta(days=30) for a, b in zip(origins, origins[1:]))
    until = pd.Timestamp("2026-03-01", tz="UTC")  # --to alone: the same count of origins, ending there
    assert choose_origins(dataset, horizon_days=HORIZON, validation_days=90, every=parse_every("30d"), end=until,
                          count=3) == [until - pd.Timedelta(days=60), until - pd.Timedelta(days=30), until]
    months = choose_origins(dataset, horizon_days=HORIZON, validation_days=90, every=parse_every("1m"),
                            start=pd.Timestamp("2026-01-31", tz="UTC"), end=pd.Timestamp("2026-04-30", tz="UTC"))
    assert [t.strftime("%m-%d") for t in months] == ["01-31", "02-28", "03-31", "04-30"]  # calendar months
    weeks = choose_origins(dataset, horizon_days=HORIZON, validation_days=90, every=parse_every("4w"),
                           start=pd.Timestamp("2026-03-01", tz="UTC"), end=pd.Timestamp("2026-04-26", tz="UTC"))
    assert len(weeks) == 3 and weeks[-1] == pd.Timestamp("2026-04-26", tz="UTC")
    # the default never reaches back before there is enough history to train on
    many = choose_origins(dataset, horizon_days=HORIZON, validation_days=90, every=parse_every("30d"), count=100)
    assert many[0] >= dataset.leads["created_at"].min() + pd.Timedelta(days=30 + 2 * HORIZON + 90)


@pytest.mark.parametrize("text", ["30", "0d", "-3d", "1.5m", "monthly", "30 days", "5000d"])
def test_a_bad_step_is_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(OriginError, match="step between origins"):
        parse_every(text)


def test_a_censored_origin_is_refused_before_any_work(dataset: Dataset) -> None:
    late = dataset.as_of - pd.Timedelta(days=HORIZON - 1)
    with pytest.raises(CensoredOrigin, match="censored"):
        choose_origins(dataset, horizon_days=HORIZON, validation_days=90, every=parse_every("30d"), end=late)
    with pytest.raises(CensoredOrigin, match="censored"):
        backtest(dataset, Settings(train=FAST), [late])


# --------------------------------------------------------------------------- the command


def test_the_command_prints_the_table_and_writes_the_files(export: Path, tmp_path: Path) -> None:
    config = tmp_path / "fast.yaml"
    config.write_text(FAST_YAML, encoding="utf-8")
    out = tmp_path / "new" / "bt"
    code, output = run("--data", str(export), "--config", str(config), "--every", "4w", "--out", str(out))
    assert code == 0, output
    assert "Backtest of 2 origin(s)" in output and "1/2" in output and "2/2" in output
    for header in ("origin", "open", "SQLs", "ROC-AUC", "AP", "MQL SQL", "captured"):
        assert header in output
    table = pd.read_csv(out / "backtest.csv")
    assert len(table) == 2 and (table["status"] == "ok").all()
    assert pd.Timestamp(table["origin"].iloc[1]) - pd.Timestamp(table["origin"].iloc[0]) == pd.Timedelta(weeks=4)
    document = json.loads((out / "backtest.json").read_text(encoding="utf-8"))
    assert document["horizon_days"] == HORIZON and len(document["origins"]) == 2
    assert document["origins"][1]["roc_auc"] == pytest.approx(table["roc_auc"].iloc[1], abs=1e-6)
    assert document["summary"]["trained"] == 2
    assert (out / "backtest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_write_backtest_writes_the_three_files(result, tmp_path: Path) -> None:
    written = write_backtest(result, tmp_path / "out")
    assert [p.name for p in written] == ["backtest.csv", "backtest.json", "backtest.png"]
    table = pd.read_csv(written[0])
    assert list(table["status"]) == ["skipped", "skipped", "ok"]
    document = json.loads(written[1].read_text(encoding="utf-8"))
    assert document["origins"][0]["roc_auc"] is None and "Not enough data" in document["origins"][0]["reason"]


@pytest.mark.parametrize("args, option, message", [
    (["--every", "monthly"], "--every", "step between origins"),
    (["--every", "0w"], "--every", "step between origins"),
    (["--to", "2026-09-01"], "--to", "censored"),
    (["--from", "yesterday"], "--from", "not an ISO-8601"),
    (["--from", "2026-06-01", "--to", "2026-05-01"], "--from / --to", "no origin"),
])
def test_bad_options_exit_2_without_a_traceback(export: Path, tmp_path: Path, args: list[str], option: str,
                                                message: str) -> None:
    code, output = run("--data", str(export), "--out", str(tmp_path / "bt"), *args)
    assert code == 2, output
    text = " ".join(output.replace("│", " ").split())
    assert option in text and message in text
    assert "Traceback" not in output
    assert not (tmp_path / "bt").exists()


def test_the_command_reports_skipped_origins_and_says_when_none_could_be_trained(export: Path, dataset: Dataset,
                                                                                  tmp_path: Path) -> None:
    early = (dataset.leads["created_at"].min() + pd.Timedelta(days=150)).ceil("D").strftime("%Y-%m-%d")
    out = tmp_path / "bt"
    code, output = run("--data", str(export), "--from", early, "--to", early, "--out", str(out))
    text = " ".join(output.split())
    assert code == 1, output
    assert f"1/1 {early}: skipped, training refused: Not enough data to train" in text
    assert "No origin could be trained" in text and "Traceback" not in output
    assert list(pd.read_csv(out / "backtest.csv")["status"]) == ["skipped"]  # the reasons are kept in the files
