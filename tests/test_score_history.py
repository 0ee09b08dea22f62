"""Scoring closed histories (issue 12): ``mqlscore score`` on an export where no lead
is open says why and exits 1 (it once ended in ``ValueError: cannot reshape array of
size 0``); ``--all-leads`` scores every lead created before a time, open or not, and
``--snapshots`` every lead at its own snapshot times, each row with the lead's state
then and whether it became an SQL within the model's horizon (empty: censored)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mqlscore.batch import lead_counts, score_leads_at, score_open_leads, score_snapshots, write_score_file
from mqlscore.cli import app
from mqlscore.config import SnapshotConfig
from mqlscore.contract import Dataset, load_folder
from mqlscore.contract.schema import HISTORY_SCORE_COLUMNS, LEAD_STATES, SCORE_FILE_COLUMNS, TIERS
from mqlscore.features import build_snapshots, open_leads_at
from mqlscore.scoring import ScoringModel
from support import quick_scorecard

HORIZON = pd.Timedelta(days=90)


@pytest.fixture(scope="module")
def export(small_export: Path) -> Path:
    return small_export


@pytest.fixture(scope="module")
def dataset(export: Path) -> Dataset:
    return load_folder(export)


@pytest.fixture(scope="module")
def model(dataset: Dataset) -> ScoringModel:
    return quick_scorecard(dataset, {"model_name": "mql-history", "model_version": "1", "horizon_days": 90})


@pytest.fixture(scope="module")
def closed_export(export: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The export with every lead still open disqualified an hour after it was created."""
    out = tmp_path_factory.mktemp("closed") / "export"
    shutil.copytree(export, out)
    leads = pd.read_csv(out / "leads.csv", dtype=str)
    outcomes = pd.read_csv(out / "outcomes.csv", dtype=str)
    table = leads[["lead_id", "created_at"]].merge(outcomes, on="lead_id", how="left")
    still_open = table["sql_at"].isna() & table["disqualified_at"].isna()
    an_hour_later = pd.to_datetime(table["created_at"], utc=True) + pd.Timedelta(hours=1)
    table.loc[still_open, "disqualified_at"] = an_hour_later[still_open].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    table.drop(columns="created_at").to_csv(out / "outcomes.csv", index=False)
    return out


@pytest.fixture
def use_model(model: ScoringModel, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[ScoringModel]:
    """``mqlscore score`` gets the test's model instead of a registry's (put another in the list to change it)."""
    import mqlscore.registry

    chosen = [model]
    monkeypatch.chdir(tmp_path)  # no MLflow store is ever made in the working folder
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setattr(mqlscore.registry, "load_scoring_model", lambda uri: chosen[0])
    return chosen


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["score", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def read(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype={"lead_id": str})
    frame["as_of"] = pd.to_datetime(frame["as_of"], utc=True)
    frame["sql_within_horizon"] = frame["sql_within_horizon"].astype("boolean")
    return frame


def expected_states(leads: pd.DataFrame, outcomes: pd.DataFrame, when: pd.Timestamp) -> pd.Series:
    """Each lead's state at ``when``, computed directly from the outcome times."""
    by_lead = outcomes.set_index("lead_id")
    sql = leads["lead_id"].map(by_lead["sql_at"])
    dq = leads["lead_id"].map(by_lead["disqualified_at"])
    states = np.where(sql <= when, "sql", np.where(dq <= when, "closed", "open"))
    return pd.Series(states, index=leads["lead_id"].to_numpy())


# --- an export with no open lead -------------------------------------------------------------


def test_score_on_a_closed_history_exits_1_saying_why(closed_export: Path, tmp_path: Path,
                                                      use_model: list[ScoringModel]) -> None:
    out = tmp_path / "scores.csv"
    code, output = invoke("--data", str(closed_export), "--out", str(out))
    assert code == 1, output
    data = load_folder(closed_export)
    n_sql = int(data.outcomes["sql_at"].notna().sum())
    assert n_sql and n_sql < len(data.leads)
    line = " ".join(output.split())
    assert f"No lead is open at {data.as_of}" in line
    assert (f"of the {len(data.leads):,} leads in the export, 0 were created at or after that time, {n_sql:,} became "
            f"an SQL and {len(data.leads) - n_sql:,} were closed (disqualified or lost) at or before it") in line
    assert "mqlscore score --all-leads" in line and "mqlscore score --snapshots" in line
    assert "Nothing was written" in line and not out.exists()
    assert "@" not in output  # counts only: no email, no name


def test_scoring_no_row_gives_an_empty_frame_with_the_columns(model: ScoringModel, dataset: Dataset,
                                                               closed_export: Path) -> None:
    rows = open_leads_at(dataset.leads, dataset.outcomes, dataset.as_of)
    for reasons in (True, False):
        some = model.score(dataset.leads, dataset.activities, rows.head(3), reasons=reasons)
        none = model.score(dataset.leads, dataset.activities, rows.head(0), reasons=reasons)
        assert none.empty and list(none.columns) == list(some.columns)
        assert none.dtypes.astype(str).to_dict() == some.dtypes.astype(str).to_dict()
    closed = load_folder(closed_export)
    assert lead_counts(closed).open == 0
    scored = score_open_leads(model, closed)
    assert scored.empty and list(scored.columns) == list(SCORE_FILE_COLUMNS)


# --- every lead at a past time ---------------------------------------------------------------


def test_all_leads_at_a_past_time_scores_closed_leads_too(export: Path, dataset: Dataset, tmp_path: Path,
                                                         use_model: list[ScoringModel]) -> None:
    when = (dataset.as_of - pd.Timedelta(days=200)).floor("D")
    out = tmp_path / "all.csv"
    code, all_output = invoke("--data", str(export), "--out", str(out), "--all-leads", "--as-of", when.isoformat())
    assert code == 0, all_output
    frame = read(out)
    assert list(frame.columns) == list(HISTORY_SCORE_COLUMNS)
    created = dataset.leads[dataset.leads["created_at"] < when]
    assert sorted(frame["lead_id"]) == sorted(created["lead_id"]) and (frame["as_of"] == when).all()
    states = expected_states(created, dataset.outcomes, when)
    assert frame["lead_state"].tolist() == states.loc[frame["lead_id"]].tolist()
    assert set(frame["lead_state"]) == set(LEAD_STATES)  # closed leads and SQLs are scored too
    sql = frame["lead_id"].map(dataset.outcomes.set_index("lead_id")["sql_at"])
    became = ((sql > when) & (sql <= when + HORIZON)).to_numpy()
    assert frame["sql_within_horizon"].notna().all()  # 200 days back: every horizon has ended
    assert frame["sql_within_horizon"].to_numpy(dtype=bool).tolist() == became.tolist() and became.any()
    assert frame["tier"].isin(TIERS).all()
    # the open leads get the scores the export cut at that time gives them: nothing later leaks in
    plain = tmp_path / "open.csv"
    code, output = invoke("--data", str(export), "--out", str(plain), "--as-of", when.isoformat())
    assert code == 0, output
    cut = pd.read_csv(plain, dtype={"lead_id": str}).set_index("lead_id")
    open_rows = frame[frame["lead_state"] == "open"].set_index("lead_id")
    assert sorted(open_rows.index) == sorted(cut.index)
    for column in ("probability", "score", "fit_points", "intent_points", "reasons_json"):
        assert open_rows[column].tolist() == cut.loc[open_rows.index, column].tolist(), column
    summary = " ".join(all_output.split())
    assert f"Scored {len(frame):,} rows (leads created before {when}) of {len(frame):,} leads" in summary
    assert f"Became an SQL within 90 days, among the {len(frame):,} rows whose horizon had ended" in summary
    assert "0 rows are censored" in summary


def test_all_leads_at_the_export_time_is_censored_and_says_so(export: Path, dataset: Dataset, tmp_path: Path,
                                                             use_model: list[ScoringModel]) -> None:
    out = tmp_path / "all.parquet"
    code, output = invoke("--data", str(export), "--out", str(out), "--all-leads")
    assert code == 0, output
    frame = read(out)
    assert len(frame) == int((dataset.leads["created_at"] < dataset.as_of).sum())
    assert frame["sql_within_horizon"].isna().all()
    assert "sql_within_horizon is empty (censored) on every row" in " ".join(output.split())


# --- every lead at its own snapshot times----------------------------------------------------

LEADS = """\
lead_id,created_at,org_type,employee_count,lead_source
L1,2024-01-01T00:00:00Z,health_system,12000,webinar
L2,2024-01-01T00:00:00Z,payer,300,paid_search
L3,2024-06-01T00:00:00Z,hospital,2500,conference
L4,2024-05-01T00:00:00Z,physician_group,40,organic_search
"""
ACTIVITIES = """\
lead_id,occurred_at,activity_type,detail
L1,2024-01-05T10:00:00Z,page_view,/pricing
L3,2024-06-10T09:00:00Z,demo_request,
L3,2024-06-30T00:00:00Z,page_view,/security
"""
OUTCOMES = """\
lead_id,sql_at,disqualified_at
L1,2024-02-15T00:00:00Z,
L2,,2024-01-20T00:00:00Z
L4,2024-06-25T00:00:00Z,
"""
SNAPSHOTS_YAML = "snapshots:\n  every_days: 10\n  first_after_hours: 24\n  horizon_days: 60\n"


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, Path]:
    """Four hand-made leads (the export's as-of time: 2024-06-30) and a snapshot rule every 10 days."""
    folder = tmp_path / "small"
    folder.mkdir()
    for name, text in (("leads", LEADS), ("activities", ACTIVITIES), ("outcomes", OUTCOMES)):
        (folder / f"{name}.csv").write_text(text)
    config = tmp_path / "settings.yaml"
    config.write_text(SNAPSHOTS_YAML)
    return folder, config


def test_leads_created_after_an_earlier_as_of_are_counted(small: tuple[Path, Path], tmp_path: Path,
                                                          use_model: list[ScoringModel]) -> None:
    folder, _ = small  # at 2024-03-01: L1 an SQL, L2 disqualified, L3 and L4 not created yet
    code, output = invoke("--data", str(folder), "--out", str(tmp_path / "s.csv"), "--as-of", "2024-03-01")
    assert code == 1, output
    assert ("of the 4 leads in the export, 2 were created at or after that time, 1 became an SQL and 1 were closed "
            "(disqualified or lost) at or before it") in " ".join(output.split())


def direct_label(lead_id: str, t: pd.Timestamp, horizon_days: int) -> bool | None:
    """SQL within (t, t + horizon], None when that horizon ends after 2024-06-30 (the export's as-of time)."""
    sql = {"L1": "2024-02-15", "L4": "2024-06-25"}.get(lead_id)
    end = t + pd.Timedelta(days=horizon_days)
    if end > pd.Timestamp("2024-06-30", tz="UTC"):
        return None
    return sql is not None and t < pd.Timestamp(sql, tz="UTC") <= end


def test_snapshots_are_the_training_rows_with_their_outcomes(small: tuple[Path, Path], tmp_path: Path,
                                                             use_model: list[ScoringModel]) -> None:
    folder, config = small
    # the model's horizon (30 days) wins over the settings' (60 days)
    trained_until = pd.Timestamp("2024-04-01", tz="UTC")
    use_model[0] = dataclasses.replace(use_model[0], metadata={**use_model[0].metadata, "horizon_days": 30,
                                                               "data_window": {"as_of": str(trained_until)}})
    out = tmp_path / "snapshots.csv"
    code, output = invoke("--data", str(folder), "--out", str(out), "--snapshots", "--config", str(config))
    assert code == 0, output
    frame = read(out)
    assert list(frame.columns) == list(HISTORY_SCORE_COLUMNS)
    data = load_folder(folder)
    rule = SnapshotConfig(every_days=10, first_after_hours=24, horizon_days=60)
    expected = build_snapshots(data.leads, data.activities, data.outcomes, data.as_of, rule)
    assert frame["lead_id"].tolist() == expected["lead_id"].tolist()
    assert frame["as_of"].tolist() == expected["as_of"].tolist()
    assert (frame["lead_state"] == "open").all()  # a lead gives no snapshot once it is closed
    labels = [direct_label(lead, t, 30) for lead, t in zip(frame["lead_id"], frame["as_of"])]
    assert [None if pd.isna(v) else bool(v) for v in frame["sql_within_horizon"]] == labels
    by_row = dict(zip(zip(frame["lead_id"], frame["as_of"].dt.strftime("%m-%d %H:%M")), labels))
    assert by_row[("L1", "01-02 00:00")] is False and by_row[("L1", "01-22 00:00")] is True
    assert by_row[("L1", "01-05 10:01")] is False  # a minute after its activity
    assert by_row[("L4", "05-22 00:00")] is False
    assert by_row[("L4", "06-01 00:00")] is None  # censored, although it became an SQL on 06-25
    assert by_row[("L3", "06-02 00:00")] is None
    assert "L2" in set(frame["lead_id"]) and not frame.loc[frame["lead_id"] == "L2", "sql_within_horizon"].any()
    summary = " ".join(output.split())
    assert f"Scored {len(frame):,} rows (snapshots before {data.as_of}) of 4 leads" in summary
    ended = sum(v is not None for v in labels)
    assert f"Became an SQL within 30 days, among the {ended:,} rows whose horizon had ended" in summary
    assert f"{len(labels) - ended:,} rows are censored" in summary
    seen = sum(v is not None and t + pd.Timedelta(days=30) <= trained_until for v, t in zip(labels, frame["as_of"]))
    assert 0 < seen < ended
    assert f"{seen:,} of those {ended:,} rows had their outcome known when the model was trained" in summary


def test_snapshots_before_an_earlier_as_of_still_know_what_came_after(small: tuple[Path, Path], tmp_path: Path,
                                                                      use_model: list[ScoringModel]) -> None:
    folder, config = small
    out = tmp_path / "snapshots.parquet"
    code, output = invoke("--data", str(folder), "--out", str(out), "--snapshots", "--config", str(config),
                          "--as-of", "2024-06-15T00:00:00Z")
    assert code == 0, output
    frame = read(out)
    data = load_folder(folder)
    cutoff = pd.Timestamp("2024-06-15", tz="UTC")
    rule = SnapshotConfig(every_days=10, first_after_hours=24)
    expected = build_snapshots(data.leads, data.activities, data.outcomes, cutoff, rule)
    assert frame["as_of"].tolist() == expected["as_of"].tolist() and (frame["as_of"] < cutoff).all()
    labels = [direct_label(lead, t, 90) for lead, t in zip(frame["lead_id"], frame["as_of"])]
    assert [None if pd.isna(v) else bool(v) for v in frame["sql_within_horizon"]] == labels
    assert any(v is not None for v in labels)  # horizons ending between the cutoff and the export's as-of time


def test_all_leads_and_snapshots_together_are_refused(small: tuple[Path, Path], tmp_path: Path,
                                                      use_model: list[ScoringModel]) -> None:
    folder, _ = small
    out = tmp_path / "s.csv"
    code, output = invoke("--data", str(folder), "--out", str(out), "--all-leads", "--snapshots")
    assert code == 2, output
    assert "--all-leads and --snapshots are two different look-backs: choose one" in " ".join(
        output.replace("│", " ").split())
    assert not out.exists()


# --- chunks, files and the lead card ----------------------------------------------------------


def test_chunks_give_the_same_rows_and_files(model: ScoringModel, dataset: Dataset, tmp_path: Path) -> None:
    when = dataset.as_of - pd.Timedelta(days=150)
    whole = score_leads_at(model, dataset, when).frame()
    seen: list[tuple[int, int]] = []
    look = score_leads_at(model, dataset, when, chunk_rows=45)
    pd.testing.assert_frame_equal(look.frame(lambda done, total: seen.append((done, total))), whole)
    assert seen[-1] == (len(whole), len(whole)) and len(seen) == -(-len(whole) // 45)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    for suffix in ("csv", "parquet"):
        streamed, at_once = tmp_path / f"streamed.{suffix}", tmp_path / f"at-once.{suffix}"
        write_score_file(look.chunks(), streamed)
        write_score_file(whole, at_once)
        pd.testing.assert_frame_equal(read(streamed), read(at_once))
    snapshots = score_snapshots(model, dataset, SnapshotConfig(), chunk_rows=500)
    assert len(snapshots) == len(build_snapshots(dataset.leads, dataset.activities, dataset.outcomes, dataset.as_of,
                                                 SnapshotConfig()))


def test_the_lead_card_opens_a_look_back_file(model: ScoringModel, dataset: Dataset, tmp_path: Path) -> None:
    from mqlscore.serving.leadcard import read_scores

    look = score_snapshots(model, dataset, SnapshotConfig(every_days=60),
                           before=dataset.as_of - pd.Timedelta(days=100))
    for suffix in ("csv", "parquet"):
        path = write_score_file(look.chunks(), tmp_path / f"look-back.{suffix}")
        frame = read_scores(path.read_bytes(), path.name)
        assert len(frame) == len(look) and frame["tier"].isin(TIERS).all()
