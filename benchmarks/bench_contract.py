"""Benchmark: validating inputs against the data contract (``validate_tables``).

Targets (issue 10): one lead with 3 activities (the fields of a typical
scoring request, ``as_of`` given) in at most 1.5 ms median; 100 leads with 20
activities each in at most 6 ms; ``load_folder`` of large CRM exports no
slower than before the pandera-free rewrite.

Run: ``uv run python benchmarks/bench_contract.py [--sizes 20000,100000]``.
Small inputs are built in memory and timed in this process (median of many
calls after a warm-up). Large exports come from ``mqlscore generate`` (cached
in ``data/bench/``, or given with ``--exports DIR,DIR``) and are timed as the
best of ``--repeats`` runs, reading included (``load_folder``) and not
(``validate_tables`` on tables read once). With ``--baseline FILE`` an older
contract module (e.g. ``git show REV:src/mqlscore/contract.py > old.py``) is
timed side by side on the same inputs. A last table times requests of 50 to
350 leads down both of the contract's paths (value by value, column by
column), which is where ``SMALL_INPUT_ROWS`` comes from. Prints the tables and
writes ``benchmarks/results/contract.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
CACHE = ROOT / "data" / "bench"
AS_OF = "2026-02-01T00:00:00Z"
# The lead fields of a typical scoring request (the others are left out).
REQUEST_FIELDS = ("lead_id", "created_at", "account_id", "job_title", "org_type", "employee_count", "country",
                  "state", "ehr_vendor", "lead_source")


def request_tables(n_leads: int, n_activities: int, *, all_columns: bool = False, seed: int = 0) -> dict:
    """Raw leads and activities as a service lays out a request: values as sent, rows numbered from 1."""
    from mqlscore.contract.schema import (CANONICAL_ACTIVITY_TYPES, EHR_VENDORS, LEAD_COLUMNS, LEAD_SOURCES,
                                          ORG_TYPES, example_lead)

    rng = np.random.default_rng(seed)
    example = example_lead()
    start = pd.Timestamp("2025-06-01T00:00:00Z")

    def stamp(days: float) -> str:
        return (start + pd.Timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")

    leads: dict[str, list[Any]] = {c: [] for c in (LEAD_COLUMNS if all_columns else REQUEST_FIELDS)}
    activities: dict[str, list[Any]] = {"lead_id": [], "occurred_at": [], "activity_type": [], "detail": []}
    for i in range(n_leads):
        lead_id = example["lead_id"] if n_leads == 1 else f"L{i:05d}"
        created = float(rng.uniform(0, 200))
        row = {**{c: None for c in leads}, **{c: example[c] for c in REQUEST_FIELDS}, "lead_id": lead_id,
               "created_at": stamp(created), "account_id": f"A{i // 3:05d}",
               "org_type": str(rng.choice(ORG_TYPES)), "ehr_vendor": str(rng.choice(EHR_VENDORS)),
               "lead_source": str(rng.choice(LEAD_SOURCES)), "employee_count": int(rng.integers(5, 50_000))}
        for column in leads:
            leads[column].append(row[column])
        for _ in range(n_activities):
            activities["lead_id"].append(lead_id)
            activities["occurred_at"].append(stamp(created + float(rng.uniform(0, 40))))
            activities["activity_type"].append(str(rng.choice(CANONICAL_ACTIVITY_TYPES)))
            activities["detail"].append(str(rng.choice(["/pricing", "/security", "Webinar", None])))
    return {
        "leads": pd.DataFrame(leads, index=pd.RangeIndex(1, n_leads + 1, name="row")),
        "activities": pd.DataFrame(activities, index=pd.RangeIndex(1, n_leads * n_activities + 1, name="row")),
    }


def median_ms(call: Callable[[], Any], *, budget_s: float = 1.0, at_least: int = 30) -> float:
    """Median wall time of ``call`` in ms, over as many calls as fit the budget (at least ``at_least``)."""
    for _ in range(5):
        call()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < at_least or time.perf_counter() - started < budget_s:
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
        if len(times) >= 20_000:
            break
    return statistics.median(times) * 1000


def best_s(call: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return min(times)


def export(n_leads: int) -> Path:
    """A generated CRM export of ``n_leads`` (cached)."""
    folder = CACHE / f"export_{n_leads}"
    if (folder / "leads.csv").exists():
        return folder
    from mqlscore.config import GeneratorConfig
    from mqlscore.synthetic import generate_export

    print(f"generating {n_leads:,} leads (once) ...", flush=True)
    generate_export(GeneratorConfig(n_leads=n_leads, seed=7, mc_sims=10), folder)
    return folder


def load_baseline(path: str | None) -> ModuleType | None:
    if path is None:
        return None
    spec = importlib.util.spec_from_file_location("baseline_contract", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


SMALL_CASES = (
    ("1 lead x 3 activities", dict(n_leads=1, n_activities=3), 1.5),
    ("1 lead x 3 activities, all 14 lead columns", dict(n_leads=1, n_activities=3, all_columns=True), None),
    ("10 leads x 20 activities", dict(n_leads=10, n_activities=20), None),
    ("100 leads x 20 activities", dict(n_leads=100, n_activities=20), 6.0),
    ("200 leads x 20 activities", dict(n_leads=200, n_activities=20), None),
    ("1,000 leads x 20 activities", dict(n_leads=1000, n_activities=20), None),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="20000,100000", help="lead counts of the generated exports ('' for none)")
    parser.add_argument("--exports", default=None, help="comma-separated export folders to use instead of --sizes")
    parser.add_argument("--repeats", type=int, default=3, help="runs per large input (the best is kept)")
    parser.add_argument("--baseline", default=None, help="an older contract module to time side by side")
    args = parser.parse_args()

    import mqlscore.contract as contract

    modules: dict[str, ModuleType] = {"current": contract}
    baseline = load_baseline(args.baseline)
    if baseline is not None:
        modules = {"baseline": baseline, "current": contract}

    # Where value-by-value validation stops paying: each size down both paths.
    import mqlscore.contract.validate as validate_module

    crossover: list[dict[str, Any]] = []
    default_bound = validate_module.SMALL_INPUT_ROWS
    for n_leads in (50, 150, 250, 350):
        request = request_tables(n_leads, 20)
        point: dict[str, Any] = {"leads": n_leads, "rows": sum(len(f) for f in request.values())}
        for path, bound in (("value_by_value", 10**9), ("column_by_column", 0)):
            validate_module.SMALL_INPUT_ROWS = bound
            point[f"{path}_ms"] = median_ms(lambda t=request: contract.validate_tables(t, as_of=AS_OF), budget_s=0.5)
        validate_module.SMALL_INPUT_ROWS = default_bound
        crossover.append(point)

    small: list[dict[str, Any]] = []
    for label, spec, target in SMALL_CASES:
        request = request_tables(**spec)
        row: dict[str, Any] = {"input": label, "rows": sum(len(f) for f in request.values()), "target_ms": target}
        for name, module in modules.items():
            row[f"{name}_ms"] = median_ms(lambda m=module, t=request: m.validate_tables(t, as_of=AS_OF))
        small.append(row)

    folders = [Path(p) for p in args.exports.split(",")] if args.exports else \
        [export(int(n)) for n in args.sizes.split(",") if n]
    large: list[dict[str, Any]] = []
    for folder in folders:
        tables = contract.read_tables(folder)
        big: dict[str, Any] = {"input": str(folder), "leads": len(tables["leads"]),
                               "rows": sum(len(f) for f in tables.values())}
        for name, module in modules.items():
            big[f"{name}_validate_s"] = best_s(lambda m=module, t=tables: m.validate_tables(t), args.repeats)
            big[f"{name}_load_s"] = best_s(lambda m=module, f=folder: m.load_folder(f), args.repeats)
        large.append(big)
        del tables

    names = list(modules)
    print(f"{'input':<44} {'rows':>9} " + " ".join(f"{n + ' ms':>12}" for n in names) + f" {'target ms':>10}")
    for row in small:
        target = f"{row['target_ms']:.1f}" if row["target_ms"] else ""
        print(f"{row['input']:<44} {row['rows']:>9,} " + " ".join(f"{row[n + '_ms']:>12.2f}" for n in names)
              + f" {target:>10}")
    if large:
        cells = " ".join(f"{n + ' validate s':>19} {n + ' load s':>15}" for n in names)
        print(f"\n{'export':<44} {'rows':>9} {cells}")
        for big in large:
            cells = " ".join(f"{big[n + '_validate_s']:>19.2f} {big[n + '_load_s']:>15.2f}" for n in names)
            print(f"{Path(big['input']).name + ' (' + format(big['leads'], ',') + ' leads)':<44} {big['rows']:>9,} "
                  f"{cells}")
    print(f"\n{'leads x 20 activities':<22} {'rows':>7} {'value by value ms':>18} {'column by column ms':>20}"
          f"   (SMALL_INPUT_ROWS = {default_bound:,})")
    for point in crossover:
        print(f"{point['leads']:<22,} {point['rows']:>7,} {point['value_by_value_ms']:>18.2f} "
              f"{point['column_by_column_ms']:>20.2f}")
    for row in small:
        if row["target_ms"]:
            met = row["current_ms"] <= row["target_ms"]
            print(f"target {row['input']}: {row['current_ms']:.2f} ms (<= {row['target_ms']}): "
                  f"{'met' if met else 'NOT met'}")
    RESULTS.mkdir(exist_ok=True)
    payload = {"benchmark": "contract", "machine": platform.platform(), "cpus": os.cpu_count(),
               "at": time.strftime("%Y-%m-%dT%H:%M:%S"), "baseline": args.baseline, "small": small, "large": large,
               "crossover": {"small_input_rows": default_bound, "rows": crossover}}
    (RESULTS / "contract.json").write_text(json.dumps(payload, indent=2))
    print(f"results written to {RESULTS / 'contract.json'}")


if __name__ == "__main__":
    main()
