"""Benchmark: account scores on the demo generator, the learned account model against
the plain aggregation 1 - prod(1 - p) of the leads' probabilities.

Run: ``uv run python benchmarks/bench_accounts.py [--cases 20000:7,6000:11]``
(20,000 leads, seed 7 is ``make demo``'s export).

For each case (``leads:seed``) it generates a synthetic export (reused from
``data/bench/`` when present), trains once with the default settings (as
``mqlscore demo`` does, half-lives off: they are not part of the account scores)
and reports:

* **validation period** (what training measures; account rows every 14 days of
  the most recent fully labelled 90 days, positive when one of the account's open
  leads became an SQL within 90 days): ROC-AUC, average precision, log loss and
  Brier of every account method, cross-fitted as training reports them;
* **after the export** (a forward test no model saw): every account with a lead open
  at the export time, scored by the registered model (refitted on every labelled
  snapshot), against what happened in the following 90 days (the generator's
  realised outcomes of those leads), for the account model and for 1 - prod(1 - p)
  of the same leads' probabilities, with calibration in the large and slope;
* the training seconds the account scores add.

Prints a table and writes ``benchmarks/results/accounts.json`` and ``accounts.md`` (with
the figures of other cases measured before).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from exports import demo_export

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
DEFAULT_CASES = "20000:7"


def _calibration(y, p) -> tuple[float, float]:  # noqa: ANN001
    """(intercept, slope) of the logistic regression of the outcome on the predicted log-odds."""
    import numpy as np
    from scipy.optimize import minimize

    p = np.clip(np.asarray(p, float), 1e-9, 1 - 1e-9)
    x = np.log(p / (1 - p))

    def loss(theta):  # noqa: ANN001, ANN202
        eta = theta[0] + theta[1] * x
        return float(np.mean(np.logaddexp(0.0, eta) - y * eta))

    found = minimize(loss, np.array([0.0, 1.0]), method="BFGS")
    return float(found.x[0]), float(found.x[1])


def run_case(leads: int, seed: int) -> dict:
    """Train on one generated export; the account figures on validation and after the export."""
    import numpy as np
    import pandas as pd
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    from mqlscore.accounts import score_open_accounts
    from mqlscore.config import Settings, TrainConfig
    from mqlscore.contract import load_folder
    from mqlscore.synthetic import default_truth_dir
    from mqlscore.training import train

    folder = demo_export(leads, seed)
    data = load_folder(folder)
    started = time.perf_counter()
    result = train(data, Settings(train=TrainConfig(estimate_half_lives=False)))
    seconds = time.perf_counter() - started
    acc = result.accounts
    validation = {name: {k: float(m[k]) for k in ("n", "positives", "base_rate", "roc_auc", "pr_auc", "log_loss",
                                                    "brier")} for name, m in acc.metrics().items()}
    for name, c in acc.candidates.items():  # the dependence exponent and the calibration of each method
        validation[name].update(alpha=float(c.model.alpha_), platt=c.model.calibrator_.to_dict())

    t0 = time.perf_counter()
    scored = score_open_accounts(result.scoring_model, data)
    scoring_seconds = time.perf_counter() - t0
    oracle = pd.read_csv(default_truth_dir(folder) / "oracle.csv")
    realised = dict(zip(oracle["lead_id"].astype(str), oracle["realised_sql"].astype(bool)))
    y = np.array([any(realised.get(i, False) for i in ids) for ids in scored["lead_ids"]], float)
    # the plain aggregation of the same leads' probabilities, as the registered model scores them
    rows = pd.DataFrame({"lead_id": [i for ids in scored["lead_ids"] for i in ids], "as_of": data.as_of})
    lead_p = result.scoring_model.score(data.leads, data.activities, rows, reasons=False)
    p_lead = dict(zip(lead_p["lead_id"].astype(str), lead_p["probability"]))
    noisy_or = np.array([1 - np.prod([1 - p_lead[i] for i in ids]) for ids in scored["lead_ids"]])
    forward = {}
    for name, p in (("account model", scored["probability"].to_numpy(float)), ("1 - prod(1 - p)", noisy_or)):
        intercept, slope = _calibration(y, p)
        forward[name] = {"roc_auc": float(roc_auc_score(y, p)), "pr_auc": float(average_precision_score(y, p)),
                         "brier": float(brier_score_loss(y, p)), "mean_p": float(np.mean(p)),
                         "calibration_intercept": intercept, "calibration_slope": slope}
    return {"leads": leads, "seed": seed, "lead_champion": result.champion, "account_method": acc.chosen,
            "counts": acc.counts, "validation": validation,
            "forward": {"accounts": len(scored), "leads": int(scored["n_leads"].sum()), "positives": int(y.sum()),
                        "rate": float(y.mean()), "scoring_seconds": scoring_seconds, "methods": forward},
            "train_seconds": seconds, "account_seconds": float(result.seconds.get("accounts", 0.0)),
            "refit_seconds": float(result.seconds.get("refit", 0.0))}


def markdown(results: list[dict]) -> str:
    """The results as markdown tables."""
    lines = ["| leads | seed | method | validation ROC-AUC | validation AP | validation log loss | "
             "forward ROC-AUC | forward AP | forward mean p / rate | forward slope |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        fw = r["forward"]
        for name, label, fname in (("learned", "learned account model", "account model"),
                                   ("noisy_or", "1 - prod(1 - p)", "1 - prod(1 - p)"),
                                   ("noisy_or_fitted", "1 - prod(1 - p)^alpha, calibrated", None)):
            v = r["validation"].get(name)
            if v is None:
                continue
            f = fw["methods"].get(fname) if fname else None
            kept = " (kept)" if name == r["account_method"] else ""
            lines.append(f"| {r['leads']:,} | {r['seed']} | {label}{kept} | {v['roc_auc']:.3f} | {v['pr_auc']:.3f} | "
                         f"{v['log_loss']:.4f} | " + (f"{f['roc_auc']:.3f} | {f['pr_auc']:.3f} | {f['mean_p']:.3f} / "
                                                      f"{fw['rate']:.3f} | {f['calibration_slope']:.2f} |"
                                                      if f else "- | - | - | - |"))
    lines += ["", "| leads | seed | validation account rows (positive) | forward accounts (positive) | alpha | "
              "training s | of which accounts s | scoring the forward accounts s |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        c, fw = r["counts"], r["forward"]
        alpha = r["validation"].get("noisy_or_fitted", {}).get("alpha", float("nan"))
        lines.append(f"| {r['leads']:,} | {r['seed']} | {c['validation_rows']:,} ({c['validation_positives']:,}) | "
                     f"{fw['accounts']:,} ({fw['positives']:,}) | {alpha:.2f} | {r['train_seconds']:.0f} | "
                     f"{r['account_seconds']:.1f} | {fw.get('scoring_seconds', float('nan')):.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run the cases, print the tables, write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=DEFAULT_CASES, help="leads:seed,... (default %(default)s)")
    args = parser.parse_args()
    results = []
    for case in args.cases.split(","):
        leads, seed = (int(x) for x in case.split(":"))
        print(f"case {leads:,} leads, seed {seed} ...", flush=True)
        results.append(run_case(leads, seed))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "accounts.json"
    # other cases measured before are kept (a case measured again replaces its old figures)
    done = {(r["leads"], r["seed"]) for r in results}
    before = [r for r in (json.loads(path.read_text()) if path.exists() else []) if (r["leads"], r["seed"]) not in done]
    results = sorted(before + results, key=lambda r: (-r["leads"], r["seed"]))
    path.write_text(json.dumps(results, indent=2))
    text = markdown(results)
    (RESULTS / "accounts.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
