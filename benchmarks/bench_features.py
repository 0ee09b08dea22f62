"""Benchmark: building the point-in-time training set (snapshots + features).

Target (issue 3): 100,000 leads with 2,000,000 activities in at most 60 s and
4 GB peak memory on a 2-core machine.

Run: ``uv run python benchmarks/bench_features.py [--sizes 10000,30000,100000]``.
Data come from ``mqlscore generate`` (cached in ``data/bench/``); at each size
the activities are thinned at random to 20 per lead, the target's ratio. Each
size runs in a fresh process so that its peak memory is its own. Prints a table
and writes ``benchmarks/results/features.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
CACHE = ROOT / "data" / "bench"
ACTIVITIES_PER_LEAD = 20

CHILD = """
import json, resource, sys, time
from mqlscore.contract import load_folder
from mqlscore.features import build_training_set
t0 = time.perf_counter()
ds = load_folder(sys.argv[1])
t1 = time.perf_counter()
ts = build_training_set(ds)
t2 = time.perf_counter()
print(json.dumps({"load_s": t1 - t0, "build_s": t2 - t1, "activities": len(ds.activities),
                  "snapshots": ts.counts["snapshots"], "rows": len(ts.X), "features": ts.X.shape[1],
                  "X_gb": float(ts.X.memory_usage().sum() / 1e9),
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}))
"""


def prepare(n_leads: int) -> Path:
    """A generated export of ``n_leads`` with 20 activities per lead (cached)."""
    folder = CACHE / f"leads_{n_leads}"
    if (folder / "leads.csv").exists():
        return folder
    import pandas as pd

    from mqlscore.config import GeneratorConfig
    from mqlscore.synthetic import generate_export

    raw = CACHE / f"raw_{n_leads}"
    print(f"generating {n_leads:,} leads (once) ...", flush=True)
    generate_export(GeneratorConfig(n_leads=n_leads, seed=1, mc_sims=10), raw)
    acts = pd.read_csv(raw / "activities.csv", dtype=str)
    keep = min(len(acts), n_leads * ACTIVITIES_PER_LEAD)
    folder.mkdir(parents=True, exist_ok=True)
    acts.sample(n=keep, random_state=0).sort_index().to_csv(folder / "activities.csv", index=False)
    for name in ("leads.csv", "outcomes.csv"):
        (folder / name).write_bytes((raw / name).read_bytes())
    return folder


def run(n_leads: int) -> dict:
    """Load and build in a fresh process; return its figures."""
    folder = prepare(n_leads)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(folder)], capture_output=True, text=True, check=True)
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"leads": n_leads, **figures, "wall_s": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,30000,100000", help="comma-separated lead counts")
    args = parser.parse_args()
    rows = [run(int(n)) for n in args.sizes.split(",")]
    head = f"{'leads':>8} {'activities':>11} {'snapshots':>10} {'rows':>10} {'load s':>7} {'build s':>8} " \
           f"{'X GB':>6} {'peak GB':>8}"
    print(head)
    for r in rows:
        print(f"{r['leads']:>8,} {r['activities']:>11,} {r['snapshots']:>10,} {r['rows']:>10,} {r['load_s']:>7.1f} "
              f"{r['build_s']:>8.1f} {r['X_gb']:>6.2f} {r['peak_gb']:>8.2f}")
    target = [r for r in rows if r["leads"] == 100_000]
    if target:
        r = target[0]
        ok = r["build_s"] <= 60 and r["peak_gb"] <= 4
        print(f"target 100k leads / 2M activities: build {r['build_s']:.1f} s (<= 60), peak {r['peak_gb']:.2f} GB "
              f"(<= 4): {'met' if ok else 'NOT met'}")
    RESULTS.mkdir(exist_ok=True)
    payload = {"benchmark": "features", "machine": platform.platform(), "cpus": os.cpu_count(),
               "at": time.strftime("%Y-%m-%dT%H:%M:%S"), "rows": rows}
    (RESULTS / "features.json").write_text(json.dumps(payload, indent=2))
    print(f"results written to {RESULTS / 'features.json'}")


if __name__ == "__main__":
    main()
