"""Benchmark: ``mqlscore backtest`` with its defaults on the 20,000-lead demo export.

Run: ``uv run python benchmarks/bench_backtest.py [--leads 20000] [--seed 7] [--config FILE]``.

Generates the demo export (``GeneratorConfig(n_leads=20000, seed=7)``, reused from
``data/bench/model_20000_7`` when present, the export ``bench_model.py`` and
``bench_refit.py`` use), runs the backtest with the default settings and origins
(the last 6 origins 30 days apart, the latest at the export's as-of time minus
the 90-day horizon; training as ``mqlscore train`` does, refit included, without
half-lives), and prints the per-origin figures, the time per origin and in all,
the peak memory (``resource.getrusage``) and the load average at the start and
the end (the machine is shared). Writes ``benchmarks/results/backtest.json`` and
the backtest's own files (csv, json, png) into ``benchmarks/results/backtest/``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

from exports import demo_export

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--config", type=Path, default=None, help="YAML settings (default: the defaults)")
    args = parser.parse_args()

    from mqlscore.backtest import backtest, choose_origins, parse_every
    from mqlscore.backtest.report import write_backtest
    from mqlscore.config import load_config
    from mqlscore.contract import load_folder

    load_start = os.getloadavg()
    folder = demo_export(args.leads, args.seed)
    settings = load_config(args.config)
    t0 = time.perf_counter()
    dataset = load_folder(folder)
    load_seconds = time.perf_counter() - t0
    origins = choose_origins(dataset, horizon_days=settings.snapshots.horizon_days,
                             validation_days=settings.train.validation_days,
                             every=parse_every(settings.backtest.every), count=settings.backtest.origins)
    print(f"{len(dataset.leads):,} leads, {len(dataset.activities):,} activities, as of {dataset.as_of}; "
          f"{len(origins)} origins {origins[0]:%Y-%m-%d} .. {origins[-1]:%Y-%m-%d}; load average "
          f"{load_start[0]:.1f} / {load_start[1]:.1f} / {load_start[2]:.1f}", flush=True)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    wall = {}
    started = time.perf_counter()
    last = [started]

    def done(i: int, origin) -> None:  # noqa: ANN001
        now = time.perf_counter()
        wall[i] = now - last[0]
        last[0] = now
        f = origin.figures
        print(f"  {origin.origin:%Y-%m-%d} {origin.status} in {wall[i]:.0f} s"
              + (f": {f['champion']}, ROC-AUC {f['roc_auc']:.3f} (baseline {f['baseline_roc_auc']:.3f}), "
                 f"AP {f['average_precision']:.3f} (baseline {f['baseline_average_precision']:.3f})"
                 if origin.status == "ok" else f": {origin.reason}"), flush=True)

    result = backtest(dataset, settings, origins, on_origin=done)
    total = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    write_backtest(result, RESULTS / "backtest")
    load_end = os.getloadavg()
    # ru_maxrss is in kilobytes on Linux, bytes on macOS
    peak_mb = cpu1.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)

    table = result.table()
    table["wall_seconds"] = [wall[i] for i in range(len(table))]
    print()
    head = ("| origin | champion | open leads | SQLs | ROC-AUC (baseline) | AP (baseline) | log loss | "
            "MQL SQL rate (promised) | SQLs captured (promised) | train s | origin s |")
    lines = [head, "|" + "---|" * 11]
    for r in table.itertuples(index=False):
        if r.status != "ok":
            lines.append(f"| {r.origin[:10]} | skipped | | | | | | | | | {r.wall_seconds:.0f} |")
            continue
        lines.append(
            f"| {r.origin[:10]} | {r.champion} | {r.open_leads:,} | {r.sqls:,} | {r.roc_auc:.3f} "
            f"({r.baseline_roc_auc:.3f}) | {r.average_precision:.3f} ({r.baseline_average_precision:.3f}) | "
            f"{r.log_loss:.4f} | {r.mql_sql_rate:.0%} ({r.promised_mql_sql_rate:.0%}) | "
            f"{r.share_of_sqls_captured:.0%} ({r.promised_share_of_sqls:.0%}) | {r.train_seconds:.0f} | "
            f"{r.wall_seconds:.0f} |")
    print("\n".join(lines))
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    print(f"\nbacktest {total:.0f} s for {len(table)} origins ({total / len(table):.0f} s per origin; CPU "
          f"{cpu:.0f} s), reading and validating the export {load_seconds:.1f} s, peak memory {peak_mb:,.0f} MB; "
          f"load average {load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end (2 cores)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {
        "leads": len(dataset.leads), "activities": len(dataset.activities), "export_as_of": str(dataset.as_of),
        "origins": len(table), "every": settings.backtest.every, "seconds_total": round(total, 1),
        "seconds_per_origin": round(total / len(table), 1), "cpu_seconds": round(cpu, 1),
        "load_seconds": round(load_seconds, 2), "peak_memory_mb": round(peak_mb),
        "load_average_start": [round(x, 2) for x in load_start], "load_average_end": [round(x, 2) for x in load_end],
        "cores": os.cpu_count(), "backtest": result.to_dict(),
        "wall_seconds_per_origin": [round(wall[i], 1) for i in range(len(table))],
        "table_md": "\n".join(lines),
    }
    (RESULTS / "backtest.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"written {RESULTS / 'backtest.json'} and {RESULTS / 'backtest'}/")


if __name__ == "__main__":
    main()
