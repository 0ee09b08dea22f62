"""The retraining loop, end to end on a world that changed: export, monitor, retrain, promote.

The generator changes the world on 2026-01-01 (a common signal stops predicting,
an organisation type's fit drops, a channel's volume quadruples) and writes the
CRM as exported that day, as well as at 2026-09-30. A champion trained on the
earlier export is judged by ``mqlscore monitor`` on the later one, then
``mqlscore train --promote if-better`` retrains on the later export: the gate
must promote the new model, and the new champion must be better than the old
on the leads open at the later export, against the world's true probabilities.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mqlscore.cli import app
from mqlscore.config import GeneratorConfig, parse_change
from mqlscore.contract import load_folder
from mqlscore.contract.schema import champion_uri
from mqlscore.features import open_leads_at
from mqlscore.synthetic import default_truth_dir, generate_export
from support import tracking_store

CHANGED_AT = "2026-01-01"
CHANGES = (f"{CHANGED_AT}:signal_weight:webinar_attended=0", f"{CHANGED_AT}:org_fit:payer=-1.5",
           f"{CHANGED_AT}:channel_volume:paid_search=4")
NAME = "mql-loop"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("loop") / "export"
    config = GeneratorConfig(n_leads=5_000, seed=23, mc_sims=20, changes=tuple(parse_change(c) for c in CHANGES),
                             also_export_at=(pd.Timestamp(CHANGED_AT).date(),))
    generate_export(config, out)
    return out


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory):
    with tracking_store(tmp_path_factory.mktemp("loop-mlflow")) as root:
        yield root


def _expected_log_loss(p_true: np.ndarray, q: np.ndarray) -> float:
    """Log loss of predictions ``q`` in expectation over outcomes drawn with the
    true probabilities: far less noisy than the realised outcomes of one horizon."""
    q = np.clip(q, 1e-9, 1 - 1e-9)
    return float(-np.mean(p_true * np.log(q) + (1 - p_true) * np.log(1 - q)))


def test_monitor_then_retrain_promotes_a_better_champion(world: Path, tracking: Path, tmp_path: Path) -> None:
    from sklearn.metrics import roc_auc_score

    from mqlscore.registry import load_scoring_model

    config = tmp_path / "settings.yaml"
    config.write_text(f"train:\n  model_name: {NAME}\n  estimate_half_lives: false\n")
    earlier = world / "earlier" / CHANGED_AT
    runner = CliRunner()
    first = runner.invoke(app, ["train", "--data", str(earlier), "--as-of", f"{CHANGED_AT}T00:00:00Z", "--config",
                                str(config), "--report-dir", str(tmp_path / "models")])
    assert first.exit_code == 0, first.output
    old = load_scoring_model(champion_uri(NAME))

    watched = runner.invoke(app, ["monitor", "--data", str(world), "--config", str(config), "--out",
                                  str(tmp_path / "monitoring")])
    assert watched.exit_code == 0, watched.output
    verdict = json.loads((tmp_path / "monitoring" / "monitor.json").read_text())["verdict"]
    assert verdict in ("watch", "retrain"), watched.output

    second = runner.invoke(app, ["train", "--data", str(world), "--config", str(config), "--promote", "if-better",
                                 "--report-dir", str(tmp_path / "models")])
    assert second.exit_code == 0, second.output
    assert "better, v2 is now the champion" in second.output, second.output
    new = load_scoring_model(champion_uri(NAME))
    assert new.metadata["model_version"] != old.metadata["model_version"]

    data = load_folder(world)
    oracle = pd.read_csv(default_truth_dir(world) / "oracle.csv").set_index("lead_id")
    rows = open_leads_at(data.leads, data.outcomes, data.as_of)
    rows = rows[rows["lead_id"].isin(oracle.index)].reset_index(drop=True)
    truth = oracle.loc[rows["lead_id"], "p_sql_horizon"].to_numpy()
    realised = oracle.loc[rows["lead_id"], "realised_sql"].to_numpy(bool)
    p_old = old.score(data.leads, data.activities, rows, reasons=False)["probability"].to_numpy()
    p_new = new.score(data.leads, data.activities, rows, reasons=False)["probability"].to_numpy()
    assert _expected_log_loss(truth, p_new) < _expected_log_loss(truth, p_old)
    assert roc_auc_score(truth > np.median(truth), p_new) > roc_auc_score(truth > np.median(truth), p_old)
    assert realised.sum() > 20  # the comparison above is about a horizon that really has SQLs in it
