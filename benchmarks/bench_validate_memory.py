"""Benchmark: peak memory of validating a large activities file (issue 11, defect 12).

Target: ``load_folder`` of a folder whose activities CSV is N MB peaks at under
2x N MB of resident memory (the issue measured about 6x for a 1.1 GB file).

Run: ``uv run python benchmarks/bench_validate_memory.py [--size-mb 300]``
(``--size-mb 1100`` for the issue's case; generating and validating it takes
several minutes). The folder (``leads.csv`` with 200,000 leads and an
``activities.csv`` of about ``--size-mb`` MB: lead id, ISO-8601 time, activity
type and page path, as CRMs export them) is generated once and cached in
``data/bench/memory-<size>mb-<shape>/``. Each validation runs in a fresh subprocess
whose peak resident set (``VmHWM``, Linux) is read back, so that one run's memory
never counts in another's; the peak of the interpreter with pandas and pyarrow
imported (before reading anything) is reported as the baseline it starts from.
With ``--baseline PATH`` an older contract is measured on the same folder:
a module file (``git show REV:src/mqlscore/contract.py > /tmp/old_contract.py``,
for revisions before the ``contract`` package, whose imports it needs) or a
``src`` folder of an older checkout (``git archive REV src | tar -x -C /tmp/old``). Prints a table and writes
``benchmarks/results/validate_memory.json``.
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
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
CACHE = ROOT / "data" / "bench"
N_LEADS = 200_000
CHUNK_ROWS = 1_000_000
PAGES = ("/pricing", "/security/hipaa-and-soc2", "/integrations/epic-fhir-api", "/blog/remote-patient-monitoring",
         "/solutions/payers/care-management", "/case-studies/mercy-health-virtual-care", "/roi-calculator",
         "/careers", "/", "/platform/fhir-api")
SUBJECTS = ("March newsletter: virtual nursing at scale", "Your BAA template is ready", "Webinar: FHIR in 30 minutes",
            "Case study: 30% fewer readmissions", "Pricing for health systems")
TYPES = ("page_view", "page_view", "page_view", "email_open", "email_click", "content_download",
         "webinar_registered", "form_submit", "demo_request", "chat_started")
SHAPES = {
    # CRM exports as they come: 18-character ids (Salesforce), a page path or an email subject on every row.
    "typical": "about 95 bytes a row",
    # The narrowest plausible rows: 8-character ids, a detail only on page views (most text is offsets then).
    "narrow": "about 46 bytes a row",
}

# Runs in a fresh interpreter: validate the folder, then print the peak resident set in bytes.
# The peak is VmHWM, which starts afresh with the new program: ru_maxrss would carry over the
# parent's own peak (Linux keeps it across exec), e.g. that of generating the file.
CHILD = """
import importlib.util, sys, time
import pandas, pyarrow, pyarrow.csv, numpy

def high_water_mark():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))

start_peak = high_water_mark()
if sys.argv[2] == "-":
    from mqlscore.contract import load_folder
else:
    spec = importlib.util.spec_from_file_location("baseline_contract", sys.argv[2])
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    load_folder = module.load_folder
started = time.perf_counter()
data = load_folder(sys.argv[1])
seconds = time.perf_counter() - started
print(high_water_mark(), start_peak, seconds, len(data.activities))
"""


def generate(folder: Path, size_mb: float, shape: str = "typical", seed: int = 0) -> Path:
    """A folder with leads.csv and an activities.csv of about ``size_mb`` MB (made once, then reused)."""
    activities = folder / "activities.csv"
    if activities.is_file() and (folder / "leads.csv").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    start = np.datetime64("2024-01-01T00:00:00", "s")
    created = start + rng.integers(0, 365 * 86_400, N_LEADS).astype("timedelta64[s]")
    if shape == "narrow":
        ids = np.char.add("L", np.char.zfill(np.arange(N_LEADS).astype(str), 7))
    else:
        ids = np.char.add("00Q5e00000", np.char.zfill(np.arange(N_LEADS).astype(str), 8))
    with open(folder / "leads.csv", "w", encoding="utf-8") as handle:
        handle.write("lead_id,created_at,org_type,employee_count\n")
        stamps = np.char.add(np.datetime_as_string(created, unit="s"), "Z")
        sizes = rng.integers(5, 20_000, N_LEADS).astype(str)
        for lead, stamp, size in zip(ids.tolist(), stamps.tolist(), sizes.tolist(), strict=True):
            handle.write(f"{lead},{stamp},hospital,{size}\n")
    target = int(size_mb * 1024 * 1024)
    partial = activities.with_name(activities.name + ".partial")
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write("lead_id,occurred_at,activity_type,detail\n")
        while handle.tell() < target:
            lead = rng.integers(0, N_LEADS, CHUNK_ROWS)
            when = created[lead] + rng.integers(60, 400 * 86_400, CHUNK_ROWS).astype("timedelta64[s]")
            kind = np.asarray(TYPES)[rng.integers(0, len(TYPES), CHUNK_ROWS)]
            other = "" if shape == "narrow" else np.asarray(SUBJECTS)[rng.integers(0, len(SUBJECTS), CHUNK_ROWS)]
            page = np.where(kind == "page_view", np.asarray(PAGES)[rng.integers(0, len(PAGES), CHUNK_ROWS)], other)
            stamp = np.char.add(np.datetime_as_string(when, unit="s"), "Z")
            lines = [f"{a},{b},{c},{d}\n" for a, b, c, d in zip(ids[lead].tolist(), stamp.tolist(), kind.tolist(),
                                                                 page.tolist(), strict=True)]
            handle.write("".join(lines))
    partial.replace(activities)
    return folder


def measure(folder: Path, baseline: Path | None) -> dict[str, Any]:
    """Validate ``folder`` in a fresh interpreter: its peak resident set and time. ``baseline``
    is an older contract module file, or an older ``src`` folder holding the package."""
    source = baseline if baseline is not None and baseline.is_dir() else ROOT / "src"
    module = str(baseline) if baseline is not None and baseline.is_file() else "-"
    env = {**os.environ, "PYTHONPATH": str(source)}
    done = subprocess.run([sys.executable, "-c", CHILD, str(folder), module], capture_output=True, text=True,
                          env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"validation failed ({done.returncode}):\n{done.stderr[-2000:]}")
    peak, start_peak, seconds, rows = done.stdout.split()[-4:]
    return {"peak_rss_bytes": int(peak), "interpreter_bytes": int(start_peak), "seconds": float(seconds),
            "activity_rows": int(rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=300, help="size of activities.csv in MB (default 300)")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="typical",
                        help="rows as CRMs export them (typical) or as narrow as plausible (narrow)")
    parser.add_argument("--baseline", type=Path, help="an older contract module to measure side by side")
    parser.add_argument("--folder", type=Path, help="folder to generate into or reuse (default data/bench/...)")
    args = parser.parse_args()

    folder = args.folder or CACHE / f"memory-{args.size_mb:g}mb-{args.shape}"
    t0 = time.perf_counter()
    generate(folder, args.size_mb, args.shape)
    file_bytes = (folder / "activities.csv").stat().st_size
    print(f"{folder}: activities.csv {file_bytes / 2**20:,.0f} MB, leads.csv "
          f"{(folder / 'leads.csv').stat().st_size / 2**20:,.0f} MB (ready in {time.perf_counter() - t0:.0f} s)")
    runs = {"current": measure(folder, None)}
    if args.baseline is not None:
        runs["baseline"] = measure(folder, args.baseline)
    print(f"{'contract':<10} {'peak RSS':>10} {'x file':>7} {'interpreter':>12} {'seconds':>8} {'rows':>12}")
    for name, run in runs.items():
        run["ratio_to_file"] = run["peak_rss_bytes"] / file_bytes
        run["ratio_above_interpreter"] = (run["peak_rss_bytes"] - run["interpreter_bytes"]) / file_bytes
        print(f"{name:<10} {run['peak_rss_bytes'] / 2**20:>8,.0f}MB {run['ratio_to_file']:>6.2f}x "
              f"{run['interpreter_bytes'] / 2**20:>10,.0f}MB {run['seconds']:>8.1f} {run['activity_rows']:>12,}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "validate_memory.json"
    previous = json.loads(out.read_text()) if out.is_file() else {}
    previous[f"{args.size_mb:g}mb-{args.shape}"] = {
        "activities_bytes": file_bytes, "rows": SHAPES[args.shape], "runs": runs,
        "target": "peak RSS under 2x the file",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "baseline": str(args.baseline) if args.baseline else None,
    }
    out.write_text(json.dumps(previous, indent=2))
    print(f"Written to {out}")


if __name__ == "__main__":
    main()
