"""Base-rate shift (issue 12): a validation period that converts far more than the
fitting period is detected, warned about, reported, and the score's base rate
follows the validation period; a clean export raises no alarm."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mqlscore.config import GeneratorConfig, Settings, TrainConfig
from mqlscore.contract import load_folder
from mqlscore.reporting import write_report
from mqlscore.shift import base_rate_shift, scoring_shift
from mqlscore.synthetic import generate_export
from mqlscore.training import train

SETTINGS = Settings(train=TrainConfig(estimate_half_lives=False, model_name="shift-test"))


def shifted_copy(source: Path, target: Path, share: float = 1.0, seed: int = 0) -> Path:
    """The export at ``source`` with ``share`` of the leads open during the validation
    period (the last ``validation_days`` before the horizon) that never became SQL
    marked as SQL at a random time within that period (and not disqualified)."""
    shutil.copytree(source, target)
    as_of = load_folder(source).as_of
    end = as_of - pd.Timedelta(days=SETTINGS.snapshots.horizon_days)
    begin = end - pd.Timedelta(days=SETTINGS.train.validation_days)
    leads = pd.read_csv(target / "leads.csv", usecols=["lead_id", "created_at"])
    outcomes = pd.read_csv(target / "outcomes.csv")
    created = pd.to_datetime(leads.set_index("lead_id")["created_at"], utc=True, format="ISO8601")
    lead_created = pd.DatetimeIndex(created.reindex(outcomes["lead_id"]))
    dropped = pd.to_datetime(outcomes["disqualified_at"], utc=True, format="ISO8601")
    open_then = (lead_created < end) & outcomes["sql_at"].isna().to_numpy() & ~(dropped < begin).to_numpy()
    rng = np.random.default_rng(seed)
    candidates = np.flatnonzero(open_then)
    chosen = rng.choice(candidates, int(share * len(candidates)), replace=False)
    start = np.maximum(lead_created[chosen], begin)
    when = start + pd.to_timedelta(rng.uniform(0, 1, len(chosen)) * (end - start).total_seconds(), unit="s")
    outcomes.loc[chosen, "sql_at"] = pd.DatetimeIndex(when).strftime("%Y-%m-%dT%H:%M:%SZ")
    outcomes.loc[chosen, "disqualified_at"] = np.nan
    outcomes.to_csv(target / "outcomes.csv", index=False)
    return target


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("shift")
    clean = generate_export(GeneratorConfig(n_leads=3000, seed=3, mc_sims=10), root / "clean") and root / "clean"
    return {"clean": clean, "shifted": shifted_copy(clean, root / "shifted")}


@pytest.fixture(scope="module")
def clean(exports):
    return train(load_folder(exports["clean"]), SETTINGS)


@pytest.fixture(scope="module")
def shifted(exports):
    return train(load_folder(exports["shifted"]), SETTINGS)


def test_a_validation_period_converting_far_more_is_reported(shifted) -> None:
    shift = shifted.base_rate_shift
    assert shift.shifted and shift.ratio >= 1.5 and shift.p_value < 0.001
    assert shift.rate_after > shift.rate_before
    assert shift.message() in shifted.warnings()
    assert shifted.scoring_model.metadata["base_rate_shift"]["shifted"] is True


def test_a_clean_export_raises_no_alarm(clean) -> None:
    assert not clean.base_rate_shift.shifted
    assert not [w for w in clean.warnings() if "Base-rate shift" in w]


def test_the_score_scale_follows_the_validation_period(shifted) -> None:
    # calibration is on the validation period, so the score's base rate (a score of 50) is its rate
    assert shifted.scoring_model.scale.base_rate == pytest.approx(shifted.base_rate_shift.rate_after)
    tiers = shifted.candidates[shifted.champion].evaluation.tiers.set_index("tier")
    assert tiers.loc["A", "share_of_leads"] < 0.5  # tiers still rank leads instead of putting most in A


def test_the_report_and_model_card_show_the_shift(shifted, tmp_path: Path) -> None:
    files = write_report(shifted, None, tmp_path / "report")
    for name in ("report.md", "model_card.md"):
        body = (files.folder / name).read_text()
        assert "## Base rate: fitting period against validation period" in body
        assert "Base-rate shift:" in body


def test_base_rate_shift_needs_significance_and_a_large_ratio() -> None:
    assert base_rate_shift(0.097, 5000, 0.539, 3000).shifted  # the bank campaign's periods
    assert not base_rate_shift(0.10, 40, 0.20, 40).shifted  # doubled but too few leads to tell
    assert not base_rate_shift(0.10, 100_000, 0.12, 100_000).shifted  # significant but small
    assert base_rate_shift(0.30, 5000, 0.10, 5000).shifted  # a fall counts too
    with pytest.raises(ValueError):
        base_rate_shift(1.2, 10, 0.1, 10)


def test_scoring_shift_warns_when_scored_leads_look_unlike_validation() -> None:
    validation = {"mql_share": 0.10, "base_rate": 0.08}
    p = np.full(1000, 0.08)
    assert scoring_shift(validation, p, np.arange(1000) < 100) == []
    warned = scoring_shift(validation, np.full(1000, 0.4), np.arange(1000) < 600)
    assert len(warned) == 2 and "MQL share is 60.0%" in warned[0] and "mean probability is 40.0%" in warned[1]
    assert scoring_shift(validation, np.empty(0), np.empty(0, bool)) == []
