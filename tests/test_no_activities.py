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
