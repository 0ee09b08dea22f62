"""Benchmark: the champion as chosen against the champion refitted on every labelled snapshot.

Run: ``uv run python benchmarks/bench_refit.py [--cases 2500:1,2500:2,2500:3,8000:4,20000:7]``.

For each case (``leads:seed``) it generates a synthetic export (reused from
``data/bench/`` when present), trains once with the default settings (the
refit on) and scores every lead open at the export time twice: with the
champion as chosen (fitted on the fitting period only; every validation figure
describes it) and with the registered champion refitted on every labelled
snapshot, calibrated cross-fitted by time. Both are compared with the oracle's
true probabilities on what happened in the following 90 days (ROC-AUC and
average precision, and their ratio to the oracle's), and the mean predicted
probability with the oracle's (calibration in the large).

Prints a table and writes ``benchmarks/results/refit.json`` and ``refit.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from exports import demo_export

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
DEFAULT_CASES = "2500:1,2500:2,2500:3,8000:4,20000:7"


def run_case(leads: int, seed: int) -> dict:
    """Train on one generated export and compare both champions with the oracle."""
    import pandas as pd
    from sklearn.metrics import average_precision_score, roc_auc_score

    from mqlscore.config import Settings
    from mqlscore.contract import load_folder
    from mqlscore.features import open_leads_at
    from mqlscore.synthetic import default_truth_dir
    from mqlscore.training import train

    folder = demo_export(leads, seed)
    data = load_folder(folder)
    started = time.perf_counter()
    result = train(data, Settings())
    seconds = time.perf_counter() - started
    oracle = pd.read_csv(default_truth_dir(folder) / "oracle.csv").set_index("lead_id")
    rows = open_leads_at(data.leads, data.outcomes, data.as_of)
    rows = rows[rows["lead_id"].isin(oracle.index)].reset_index(drop=True)
    y = oracle.loc[rows["lead_id"], "realised_sql"].to_numpy(bool)
    truth = oracle.loc[rows["lead_id"], "p_sql_horizon"].to_numpy()
    X = result.scoring_model.builder.transform(data.leads, data.activities, rows)
    models = {"as chosen": result.candidate_model(result.champion), "refitted": result.scoring_model}
    out = {"leads": leads, "seed": seed, "champion": result.champion, "open_leads": len(rows),
           "positives": int(y.sum()), "oracle_roc_auc": roc_auc_score(y, truth),
           "oracle_pr_auc": average_precision_score(y, truth), "oracle_mean_p": float(truth.mean()),
           "train_seconds": seconds, "refit_seconds": result.seconds.get("refit", 0.0),
           "refit": result.refit.to_dict() if result.refit is not None else None,
           "validation": result.metrics()[result.champion]}
    for label, model in models.items():
        p = model.score_features(X, reasons=False)["probability"].to_numpy()
        key = label.replace(" ", "_")
        out[f"{key}_roc_auc"] = roc_auc_score(y, p)
        out[f"{key}_pr_auc"] = average_precision_score(y, p)
        out[f"{key}_mean_p"] = float(p.mean())
    return out


def table(results: list[dict]) -> str:
    """The results as a Markdown table."""
    head = ("| leads | seed | champion | open leads (SQL) | ROC-AUC as chosen → refitted (× oracle) | "
            "AP as chosen → refitted (× oracle) | mean p chosen / refitted / oracle | refit s |")
    lines = [head, "|" + "---|" * 8]
    for r in results:
        ro, po = r["oracle_roc_auc"], r["oracle_pr_auc"]
        lines.append(
            f"| {r['leads']:,} | {r['seed']} | {r['champion']} | {r['open_leads']:,} ({r['positives']:,}) | "
            f"{r['as_chosen_roc_auc']:.3f} → {r['refitted_roc_auc']:.3f} "
            f"({r['as_chosen_roc_auc'] / ro:.3f} → {r['refitted_roc_auc'] / ro:.3f}) | "
            f"{r['as_chosen_pr_auc']:.3f} → {r['refitted_pr_auc']:.3f} "
            f"({r['as_chosen_pr_auc'] / po:.3f} → {r['refitted_pr_auc'] / po:.3f}) | "
            f"{r['as_chosen_mean_p']:.3f} / {r['refitted_mean_p']:.3f} / {r['oracle_mean_p']:.3f} | "
            f"{r['refit_seconds']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=DEFAULT_CASES, help="Comma-separated leads:seed pairs.")
    args = parser.parse_args()
    cases = [tuple(int(x) for x in case.split(":")) for case in args.cases.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="mqlscore-bench-refit-"))
    os.chdir(tmp)
    results = []
    for leads, seed in cases:
        print(f"case {leads:,} leads, seed {seed} ...", flush=True)
        results.append(run_case(leads, seed))
        print(table(results[-1:]), flush=True)
    text = table(results)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "refit.json").write_text(json.dumps(results, indent=2, default=float))
    (RESULTS / "refit.md").write_text(text + "\n")
    print(f"written to {RESULTS / 'refit.json'} and {RESULTS / 'refit.md'}")


if __name__ == "__main__":
    main()
