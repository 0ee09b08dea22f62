"""Benchmark: time and peak memory of ``mqlscore generate`` at several sizes.

Run: ``uv run python benchmarks/bench_generate.py [--sizes 2000,20000,100000]``.
Prints a table and writes ``benchmarks/results/generate.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"

CHILD = """
import json, sys, time, resource
from pathlib import Path
from mqlscore.config import GeneratorConfig
from mqlscore.synthetic import generate_export
n, out = int(sys.argv[1]), Path(sys.argv[2])
t0 = time.perf_counter()
r = generate_export(GeneratorConfig(n_leads=n, seed=1), out)
print(json.dumps({"seconds": time.perf_counter() - t0, "activities": r.counts["activities"],
                  "open": r.counts["open"],
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(n: int) -> dict:
    """Generate ``n`` leads in a fresh process (so peak memory is its own)."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(n), str(Path(tmp) / "export")],
                              capture_output=True, text=True, check=True)
    return {"leads": n, **json.loads(proc.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="2000,20000", help="comma-separated lead counts")
    args = parser.parse_args()
    rows = [run(int(n)) for n in args.sizes.split(",")]
    print(f"{'leads':>8} {'activities':>11} {'open':>7} {'seconds':>8} {'peak MB':>8}")
    for r in rows:
        print(f"{r['leads']:>8,} {r['activities']:>11,} {r['open']:>7,} {r['seconds']:>8.1f} {r['peak_mb']:>8.0f}")
    RESULTS.mkdir(exist_ok=True)
    payload = {"benchmark": "generate", "machine": platform.platform(), "cpus": __import__("os").cpu_count(),
               "at": time.strftime("%Y-%m-%dT%H:%M:%S"), "rows": rows}
    (RESULTS / "generate.json").write_text(json.dumps(payload, indent=2))
    print(f"results written to {RESULTS / 'generate.json'}")


if __name__ == "__main__":
    main()
