"""Benchmark: end-to-end training time by stage at a given size.

Run: ``uv run python benchmarks/bench_train.py [--leads 100000]`` (uses the
export that ``bench_features.py`` prepares in ``data/bench/``: 20 activities
per lead). Aim (issue 4): 100,000 leads / 2,000,000 activities trained in under
3 minutes beyond feature building. MLflow goes to a temporary SQLite store.
Writes ``benchmarks/results/train.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=100_000)
    args = parser.parse_args()
    from bench_features import prepare

    folder = prepare(args.leads)
    tmp = Path(tempfile.mkdtemp(prefix="mqlscore-train-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
    os.chdir(tmp)
    from mqlscore.config import Settings
    from mqlscore.contract import load_folder
    from mqlscore.registry import log_report
    from mqlscore.reporting import write_report
    from mqlscore.training import register, train

    t0 = time.perf_counter()
    data = load_folder(folder)
    load_s = time.perf_counter() - t0
    settings = Settings()
    result = train(data, settings, say=lambda m: print(f"  {m}", flush=True))
    # the steps of ``mqlscore train`` after training, timed like the training stages
    t1 = time.perf_counter()
    registration = register(result, data, settings)
    t2 = time.perf_counter()
    write_report(result, registration, tmp / "report")
    log_report(registration.run_id, tmp / "report")
    t3 = time.perf_counter()
    seconds = {"load": load_s, **result.seconds, "register": t2 - t1, "report": t3 - t2}
    seconds["total"] = result.seconds["total"] + seconds["register"] + seconds["report"]
    beyond = seconds["total"] - seconds["training_set"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"{args.leads:,} leads, {len(data.activities):,} activities, {result.counts['fit_rows']:,} fit rows, "
          f"{result.counts['validation_rows']:,} validation rows; champion {result.champion}")
    print("  ".join(f"{k} {v:.0f} s" for k, v in seconds.items()) + f"; peak {peak:.2f} GB")
    print(f"beyond feature building: {beyond:.0f} s (aim < 180 s)")
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "train.json").write_text(json.dumps({
        "benchmark": "train", "leads": args.leads, "activities": len(data.activities), "seconds": seconds,
        "beyond_features_s": beyond, "peak_gb": peak, "counts": result.counts, "champion": result.champion,
        "validation": result.metrics()}, indent=2, default=float))


if __name__ == "__main__":
    main()
