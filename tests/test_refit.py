"""Model layer: the champion refitted on every labelled snapshot, calibrated honestly.

The refit comes after the choice: it must change neither which model is chosen
nor the validation figures reported for it, its calibration must never be
fitted on rows the model was fitted on, and the promotion gate must compare
models on rows neither was trained on.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mqlscore.config import Settings, TrainConfig
from mqlscore.contract import load_folder
from mqlscore.features import TrainingSet, open_leads_at
from mqlscore.features.training_set import split_by_time
from mqlscore.refit import refit_champion, snapshot_groups, time_folds
from mqlscore.training import gate_figures, train


@pytest.fixture(scope="module")
def dataset(demo_export: Path):
    return load_folder(demo_export)


@pytest.fixture(scope="module")
def refitted(dataset):
    return train(dataset, Settings(train=TrainConfig(estimate_half_lives=False)))


@pytest.fixture(scope="module")
def as_chosen(dataset):
    return train(dataset, Settings(train=TrainConfig(estimate_half_lives=False, refit=False)))


def test_the_refit_changes_neither_the_choice_nor_its_validation_figures(refitted, as_chosen) -> None:
    assert refitted.champion == as_chosen.champion
    assert refitted.metrics() == as_chosen.metrics()
    assert refitted.threshold.to_dict() == as_chosen.threshold.to_dict()
    assert refitted.scoring_model.metadata["validation_metrics"] == as_chosen.scoring_model.metadata[
        "validation_metrics"]
    # ... but the registered model is another fit, on more rows
    assert as_chosen.refit is None and as_chosen.scoring_model.metadata["refit"] is None
    summary = refitted.refit
    assert summary.rows > summary.chosen_rows and summary.leads > summary.chosen_leads
    assert summary.last_snapshot > summary.chosen_last_snapshot
    assert refitted.scoring_model.model is not refitted.candidates[refitted.champion].model
    assert refitted.scoring_model.metadata["refit"]["rows"] == summary.rows
    # the model as chosen is still there, as the candidate the figures describe
    chosen = refitted.candidate_model(refitted.champion)
    assert chosen.model is refitted.candidates[refitted.champion].model
    assert "figures are those of the model as chosen" in summary.sentence()


def test_the_refitted_champion_scores_the_open_leads_sensibly(refitted, dataset) -> None:
    rows = open_leads_at(dataset.leads, dataset.outcomes, dataset.as_of)
    new = refitted.scoring_model.score(dataset.leads, dataset.activities, rows, reasons=False)
    old = refitted.candidate_model(refitted.champion).score(dataset.leads, dataset.activities, rows, reasons=False)
    # the same kind of model on more data: a close ranking and a similar level
    assert np.corrcoef(new["probability"], old["probability"])[0, 1] > 0.8
    assert new["probability"].mean() == pytest.approx(old["probability"].mean(), rel=0.35)


def test_time_folds_keep_buying_groups_whole_and_the_newest_last() -> None:
    rng = np.random.default_rng(3)
    groups = np.array([f"g{i}" for i in rng.integers(0, 40, 600)])
    first = {g: pd.Timestamp("2026-01-01") + pd.Timedelta(days=int(g[1:])) for g in set(groups)}
    times = pd.Series([first[g] + pd.Timedelta(hours=int(h)) for g, h in zip(groups, rng.integers(0, 500, 600))])
    fold = time_folds(times, groups, 4)
    assert set(fold) == {0, 1, 2, 3}
    frame = pd.DataFrame({"g": groups, "fold": fold, "t": times})
    assert (frame.groupby("g")["fold"].nunique() == 1).all()  # a group is never split
    starts = frame.groupby("g").agg(fold=("fold", "first"), t=("t", "min")).sort_values("t")
    assert starts["fold"].is_monotonic_increasing  # older groups in earlier folds
    sizes = frame["fold"].value_counts()
    assert sizes.max() < 2.5 * sizes.min()
    with pytest.raises(ValueError, match="at least 2 folds"):
        time_folds(times, groups, 1)


def test_colleagues_are_one_buying_group() -> None:
    leads = pd.DataFrame({"lead_id": ["a", "b", "c", "d"], "account_id": ["acc1", "acc1", None, " "]})
    snaps = pd.DataFrame({"lead_id": ["a", "b", "c", "d", "a"]})
    groups = snapshot_groups(snaps, leads)
    assert groups[0] == groups[1] == groups[4] == "account:acc1"
    assert groups[2] == "lead:c" and groups[3] == "lead:d"
    assert list(snapshot_groups(snaps, leads.drop(columns="account_id"))) == ["lead:a", "lead:b", "lead:c", "lead:d",
                                                                            "lead:a"]


class _Memoriser:
    """A model that remembers each training lead's label and knows nothing else:
    perfect on the rows it was fitted on, uninformative on any other."""

    def __init__(self, seen: dict[str, int] | None = None) -> None:
        self.seen = seen or {}

    def refit(self, X: pd.DataFrame, y: np.ndarray) -> _Memoriser:
        return _Memoriser(dict(zip(X["lead"], y.astype(int))))

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        return np.array([{1: 6.0, 0: -6.0}.get(self.seen.get(lead), 0.0) for lead in X["lead"]])


def test_the_calibration_is_fitted_out_of_fold_never_in_sample() -> None:
    rng = np.random.default_rng(0)
    n_leads, per_lead = 400, 3
    lead = np.repeat([f"l{i}" for i in range(n_leads)], per_lead)
    created = np.repeat(pd.date_range("2025-01-01", periods=n_leads, freq="D").to_numpy(), per_lead)
    as_of = pd.DatetimeIndex(created) + pd.to_timedelta(np.tile(np.arange(per_lead) * 7, n_leads), unit="D")
    label = np.repeat(rng.random(n_leads) < 0.3, per_lead).astype(np.int8)
    snapshots = pd.DataFrame({"lead_id": lead, "as_of": as_of, "label": label})
    ts = TrainingSet(snapshots, pd.DataFrame({"lead": lead}), builder=None, as_of=as_of.max(), horizon_days=30)
    is_fit, is_val = split_by_time(snapshots, ts.as_of + pd.Timedelta(days=30), 30, 90)
    model, calibrator, summary = refit_champion(ts, pd.DataFrame({"lead_id": lead}), _Memoriser(), is_fit, is_val,
                                                max_rows=10**6, seed=0, folds=4)
    in_sample = calibrator.proba(model.decision_function(ts.X))
    # In sample the memoriser is perfect; an honest calibration knows it learned nothing that carries over.
    assert abs(calibrator.a_) < 1e-6
    assert in_sample.std() < 1e-9 and in_sample.mean() == pytest.approx(label[is_val].mean(), abs=1e-6)
    assert summary.cross_fitted["roc_auc"] == pytest.approx(0.5)
    assert summary.calibration_rows == int(is_val.sum())


def test_the_gate_compares_on_rows_the_champion_never_saw(refitted, dataset) -> None:
    current = refitted.candidate_model(refitted.champion)
    rows = refitted.validation.snapshots
    ends = pd.DatetimeIndex(rows["as_of"]) + pd.Timedelta(days=refitted.horizon_days)
    earlier = pd.Timestamp(refitted.data_window["as_of"]) - pd.Timedelta(days=45)
    older = replace(current, metadata={**current.metadata,
                                       "data_window": {**current.metadata["data_window"], "as_of": str(earlier)}})
    gate = gate_figures(refitted, dataset, older)
    assert gate.rows == int((ends > earlier).sum()) < len(rows)
    assert "outcome was unknown when the champion was trained" in gate.detail
    # The same model on the same rows: the same log loss, whatever its calibration was fitted in.
    assert gate.champion_log_loss == pytest.approx(gate.new_log_loss, rel=0.05)
    # A champion trained on this very export has seen every validation row: all are used, and it says so.
    same = gate_figures(refitted, dataset, refitted.scoring_model)
    assert same.rows == len(rows) and "may have been trained on them" in same.detail


@pytest.mark.parametrize("flags, refit", [(["--no-refit"], False), ([], True)])
def test_train_no_refit_reaches_the_training(flags: list[str], refit: bool, demo_export: Path,
                                            monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import mqlscore.training
    from mqlscore.cli import app
    from mqlscore.training import NotEnoughData

    seen = []

    def record(dataset, settings, **kwargs):  # noqa: ANN001, ANN003, ANN202
        seen.append(settings.train.refit)
        raise NotEnoughData("stopped by the test after reading the settings")

    monkeypatch.setattr(mqlscore.training, "train", record)
    result = CliRunner().invoke(app, ["train", "--data", str(demo_export), "--no-register", *flags,
                                      "--report-dir", str(tmp_path / "models")])
    assert result.exit_code == 1 and "stopped by the test" in result.output
    assert seen == [refit]
