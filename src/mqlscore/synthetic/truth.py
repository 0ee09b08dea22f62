"""How close trained models come to the oracle, on a synthetic export's truth.

Only demos and benchmarks call this: it reads the truth folder, which training
and scoring never do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mqlscore.contract import Dataset
from mqlscore.features import open_leads_at


def compare_with_oracle(result: Any, dataset: Dataset, truth_dir: Path) -> pd.DataFrame:
    """ROC-AUC and average precision of the oracle, each learned model and the
    hand-set baseline, scoring every lead open at the export time against what
    happened in the following horizon. ``result`` is a ``TrainResult``."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    from mqlscore.training import BASELINE

    oracle = pd.read_csv(Path(truth_dir) / "oracle.csv").set_index("lead_id")
    rows = open_leads_at(dataset.leads, dataset.outcomes, dataset.as_of)
    rows = rows[rows["lead_id"].isin(oracle.index)].reset_index(drop=True)
    y = oracle.loc[rows["lead_id"], "realised_sql"].to_numpy(bool)
    champion = result.scoring_model
    X = champion.builder.transform(dataset.leads, dataset.activities, rows)
    predictions = {"oracle": oracle.loc[rows["lead_id"], "p_sql_horizon"].to_numpy()}
    for name, cand in result.candidates.items():
        if name == BASELINE:
            points = cand.model.points(champion.builder, dataset.leads, dataset.activities, rows, X)["total"]
            predictions[name] = points.to_numpy(float)
        else:
            model = result.candidate_model(name)
            predictions[name] = model.score_features(X, reasons=False)["probability"].to_numpy()
    if getattr(result, "refit", None) is not None:  # the registered champion, refitted on every labelled snapshot
        predictions[f"{result.champion} (refitted)"] = champion.score_features(X, reasons=False)["probability"].to_numpy()
    table = pd.DataFrame({
        name: {"roc_auc": roc_auc_score(y, p), "pr_auc": average_precision_score(y, p)}
        for name, p in predictions.items()
    }).T
    table["roc_auc_vs_oracle"] = table["roc_auc"] / table.loc["oracle", "roc_auc"]
    table["pr_auc_vs_oracle"] = table["pr_auc"] / table.loc["oracle", "pr_auc"]
    table.attrs.update(open_leads=len(rows), positives=int(y.sum()), as_of=str(dataset.as_of))
    return table
