"""Benchmark: this checkout's scoring service against another checkout's, side by side.

Run: ``uv run python benchmarks/bench_service_ab.py --baseline /path/to/other/checkout [--rounds 3]``
(e.g. ``git worktree add /tmp/base <commit>`` first).

Each checkout trains its champion on the same generated export (cached in its own
``data/bench/``, by its own ``benchmarks/bench_service.py``), builds its bento and
serves it with 2 workers on a free 127.0.0.1 port, its own code on ``PYTHONPATH``.
Both servers run at once but are measured in turn, round after round (baseline,
current, baseline, current, ...), so a machine that is busier at one moment than at
another weighs on both alike. Per round and side: one lead with reasons per request,
sequential (latency percentiles), and requests of 100 leads with reasons from 8
keep-alive clients (leads per second). Prints a table and writes
``benchmarks/results/service_ab.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_service import start_server, stop_server, sequential, throughput  # noqa: E402
from load_service import request_bodies  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_side(checkout: Path, leads: int, seed: int, home: Path, key: str, extra_path: str = "") -> dict[str, Any]:
    """Train (cached), build and return the environment that serves ``checkout``'s code
    (``extra_path``: more folders for ``PYTHONPATH``, e.g. packages only the baseline needs)."""
    path = os.pathsep.join(p for p in (str(checkout / "src"), extra_path) if p)
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1",
           "MLFLOW_DISABLE_TELEMETRY": "true", "BENTOML_DO_NOT_TRACK": "true"}
    env.pop("MQLSCORE_DEV", None)
    code = (f"import sys; sys.path.insert(0, {str(checkout / 'benchmarks')!r}); from bench_service import prepare; "
            f"f, s = prepare({leads}, {seed}); print(f); print(s)")
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=checkout, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{checkout}: preparing failed\n{done.stdout}\n{done.stderr}")
    folder, store = [Path(x) for x in done.stdout.strip().splitlines()[-2:]]
    env.update({"BENTOML_HOME": str(home), "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}",
                "MQLSCORE_API_KEY": key})
    built = subprocess.run([str(BIN / "mqlscore"), "build"], env=env, cwd=checkout, capture_output=True, text=True)
    if built.returncode:
        raise SystemExit(f"{checkout}: build failed\n{built.stdout}\n{built.stderr}")
    return {"checkout": str(checkout), "folder": folder, "env": env,
            "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=checkout, capture_output=True,
                                     text=True).stdout.strip()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, required=True, help="Another checkout of this repository.")
    parser.add_argument("--baseline-pythonpath", default="",
                        help="Extra PYTHONPATH for the baseline (packages it needs that this checkout dropped).")
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--single-requests", type=int, default=200)
    parser.add_argument("--batch-seconds", type=float, default=15.0)
    parser.add_argument("--batch-clients", type=int, default=8)
    parser.add_argument("--out", type=Path, default=RESULTS / "service_ab.json")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mqlscore-bench-ab-"))
    key = secrets.token_urlsafe(32)
    sides = {"baseline": prepare_side(args.baseline.resolve(), args.leads, args.seed, tmp / "baseline", key,
                                      args.baseline_pythonpath),
             "current": prepare_side(ROOT, args.leads, args.seed, tmp / "current", key)}
    sys.path.insert(0, str(ROOT / "src"))
    from mqlscore.contract import load_folder

    dataset = load_folder(sides["current"]["folder"])
    singles = request_bodies(dataset, 1, args.single_requests, seed=1)
    hundreds = request_bodies(dataset, 100, 40, seed=2)
    servers = {}
    try:
        for name, side in sides.items():
            port = _free_port()
            servers[name] = (f"http://127.0.0.1:{port}", start_server(side["env"], port, 2, tmp / f"{name}.log"))
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
        for k in range(args.rounds):
            for name, (url, _) in servers.items():
                single = sequential(url, key, singles)
                batch = throughput(url, key, hundreds, clients=args.batch_clients, seconds=args.batch_seconds)
                row = {"p50_ms": single["latency_ms"]["p50"], "p90_ms": single["latency_ms"]["p90"],
                       "p99_ms": single["latency_ms"]["p99"], "leads_per_s": batch["leads_per_s"],
                       "errors": single["errors"] + batch["errors"]}
                rounds[name].append(row)
                print(f"round {k + 1} {name:>8}: one lead p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms; "
                      f"100-lead requests {row['leads_per_s']:,.0f} leads/s; errors {row['errors']}", flush=True)
    finally:
        for _, proc in servers.values():
            stop_server(proc)

    summary = {name: {m: round(statistics.median(r[m] for r in rows), 1)
                      for m in ("p50_ms", "p90_ms", "p99_ms", "leads_per_s")} | {"errors": sum(r["errors"] for r in rows)}
               for name, rows in rounds.items()}
    result = {"benchmark": "service_ab",
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform(), "load_average_at_end": os.getloadavg()},
              "sides": {name: {"checkout": s["checkout"], "commit": s["commit"]} for name, s in sides.items()},
              "rounds": rounds, "median_of_rounds": summary,
              "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"\n{'side':<9} {'commit':<9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'leads/s (100/req)':>18} {'errors':>7}")
    for name, s in summary.items():
        print(f"{name:<9} {sides[name]['commit']:<9} {s['p50_ms']:>8.1f} {s['p90_ms']:>8.1f} {s['p99_ms']:>8.1f} "
              f"{s['leads_per_s']:>18,.0f} {s['errors']:>7}")
    print(f"(median of {args.rounds} alternating rounds; written to {args.out})")


if __name__ == "__main__":
    main()
