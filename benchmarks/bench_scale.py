"""Benchmark: 1 million leads and 20 million activities, the pandas engine against Spark (issue 15).

Run: ``uv run python benchmarks/bench_scale.py [--scale 1.0]`` (``--scale 0.01``: 10,000
leads and 200,000 activities, a smoke run of a few minutes; ``--only pandas|spark``; see
``--help``). Prints a table and writes ``benchmarks/results/bench_scale.json`` and ``.md``
(a run at another scale than 1 writes ``bench_scale-<scale>.json`` and ``.md``).

The export (``data/bench/scale-<leads>/``: ``leads.parquet``, ``activities.parquet``,
``outcomes.parquet``, the contract's Parquet format) is made once and reused:

* a base export of at most 50,000 leads comes from the package's own generator
  (``mqlscore.synthetic.generate_export``, seed 15, cached in ``data/bench/scale-base-<n>/``);
* the base is tiled until the size is reached: tile ``k`` is the base with ``-Tkk`` appended
  to every lead id and account id (so buying groups stay whole and never meet across tiles)
  and its own random draw of 20 activities per lead from the base's (about 30 per lead),
  kept in export order. Each tile is appended to the three Parquet files as row groups
  (``pyarrow.parquet.ParquetWriter``), so generation holds one base and one tile in memory,
  whatever the size.

Each engine runs in a child process of its own, whose process tree (the child, Spark's JVM
and its Python workers) is sampled every half second for its resident set (RSS, and PSS, which
counts memory shared by forked workers once):

* **pandas**: ``load_folder``, ``build_training_set``, ``training.train`` on it, then
  ``batch.score_open_leads`` of every open lead, in one process capped at ``--pandas-cap-gib``
  (14 GiB) of address space (``RLIMIT_AS``; Arrow's allocator is the system one so that the cap
  counts memory in use rather than reservations) and killed by the sampler if its resident set
  passes the cap. Where it fails (``MemoryError``, killed), the stage and the memory reached are
  recorded.
* **spark**: ``local[2]`` with ``--driver-memory`` (4g: in local mode the executors run inside
  the driver's JVM, so this bounds them too): ``read_export`` (validation per part),
  ``prepare_training`` (the training set built per part and written as Parquet, the sample of
  whole buying groups brought to the driver), ``training.train`` on the sample, and
  ``write_scores`` (every open lead scored per part, written as Parquet). Spark's event log
  gives each task's time, which the projection uses.

Training uses ``estimate_half_lives=False`` and ``refit=False`` on both engines (the report's
half-lives and the refit are extra fits on the same sample; ``train.max_fit_rows`` (500,000) is
the bound on what is fitted in both). Nothing is registered (no MLflow).

The projection to a cluster of N executors of ``--executor-cores`` (4) cores is computed, not
measured: see :func:`project` for the model and its assumptions.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
CACHE = ROOT / "data" / "bench"
FULL_LEADS = 1_000_000
ACTIVITIES_PER_LEAD = 20
BASE_LEADS = 50_000
BASE_SEED = 15
SAMPLE_SECONDS = 0.5
GIB = 2**30
# Assumptions of the projection (stated in the results): shuffle bandwidth per executor, bytes/s
NETWORK_BYTES_PER_SECOND = 100e6


# ----------------------------------------------------------------------------- the export


def _suffixed(column: Any, suffix: str) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    text = column.cast(pa.string())
    return pc.binary_join_element_wise(text, pa.scalar(suffix), "")  # null stays null


def base_export(n_leads: int) -> Path:
    """The generator's export of ``n_leads`` as Parquet (made once, cached)."""
    folder = CACHE / f"scale-base-{n_leads}"
    if (folder / "done").is_file():
        return folder
    from mqlscore.config import GeneratorConfig
    from mqlscore.synthetic import generate_export

    print(f"generating the base export: {n_leads:,} leads (once) ...", flush=True)
    generate_export(GeneratorConfig(n_leads=n_leads, seed=BASE_SEED, mc_sims=10, output_format="parquet"), folder)
    (folder / "done").write_text("ok")
    return folder


def prepare(n_leads: int) -> Path:
    """The export of ``n_leads`` leads and about 20 activities each (see the module), made once."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = CACHE / f"scale-{n_leads}"
    if (folder / "done").is_file():
        return folder
    base = base_export(min(BASE_LEADS, n_leads))
    leads = pq.read_table(base / "leads.parquet")
    activities = pq.read_table(base / "activities.parquet")
    outcomes = pq.read_table(base / "outcomes.parquet")
    lead_ids = leads.column("lead_id").cast(pa.string()).to_numpy(zero_copy_only=False)
    act_lead = activities.column("lead_id").cast(pa.string()).to_numpy(zero_copy_only=False)
    position = {lead: i for i, lead in enumerate(lead_ids)}
    act_position = np.fromiter((position.get(x, -1) for x in act_lead), np.int64, len(act_lead))
    out_position = np.fromiter((position.get(x, -1) for x in outcomes.column("lead_id").cast(pa.string())
                                .to_numpy(zero_copy_only=False)), np.int64, outcomes.num_rows)
    tiles = math.ceil(n_leads / leads.num_rows)
    folder.mkdir(parents=True, exist_ok=True)
    writers: dict[str, Any] = {}
    rng = np.random.default_rng(BASE_SEED)
    started = time.perf_counter()
    try:
        for k in range(tiles):
            n = min(leads.num_rows, n_leads - k * leads.num_rows)
            suffix = f"-T{k:02d}"
            tile_leads = leads.slice(0, n)
            acts_of = np.flatnonzero((act_position >= 0) & (act_position < n))
            keep = np.sort(rng.choice(acts_of, size=min(len(acts_of), ACTIVITIES_PER_LEAD * n), replace=False))
            tile_acts = activities.take(pa.array(keep))
            tile_outcomes = outcomes.filter(pa.array((out_position >= 0) & (out_position < n)))
            tables = {
                "leads": tile_leads.set_column(tile_leads.schema.get_field_index("lead_id"), "lead_id",
                                               _suffixed(tile_leads.column("lead_id"), suffix)),
                "activities": tile_acts.set_column(tile_acts.schema.get_field_index("lead_id"), "lead_id",
                                                   _suffixed(tile_acts.column("lead_id"), suffix)),
                "outcomes": tile_outcomes.set_column(tile_outcomes.schema.get_field_index("lead_id"), "lead_id",
                                                     _suffixed(tile_outcomes.column("lead_id"), suffix)),
            }
            if "account_id" in tile_leads.column_names:
                at = tables["leads"].schema.get_field_index("account_id")
                tables["leads"] = tables["leads"].set_column(at, "account_id",
                                                             _suffixed(tile_leads.column("account_id"), suffix))
            for name, table in tables.items():
                if name not in writers:
                    writers[name] = pq.ParquetWriter(folder / f"{name}.parquet.partial", table.schema)
                writers[name].write_table(table.cast(writers[name].schema), row_group_size=250_000)
            print(f"  tile {k + 1}/{tiles}: {n:,} leads, {len(keep):,} activities "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
    finally:
        for writer in writers.values():
            writer.close()
    for name in writers:
        (folder / f"{name}.parquet.partial").replace(folder / f"{name}.parquet")
    (folder / "done").write_text(json.dumps({"leads": n_leads, "tiles": tiles, "base": str(base)}))
    return folder


# ----------------------------------------------------------------------------- memory of a process tree


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def tree_memory(root: int) -> dict[str, int]:
    """Resident and proportional set sizes (bytes) of ``root`` and all its descendants."""
    tree, stack, seen = _children(), [root], set()
    rss = pss = 0
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        stack.extend(tree.get(pid, ()))
        try:
            with open(f"/proc/{pid}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
        except OSError:
            continue
    return {"rss": rss, "pss": pss, "processes": len(seen)}


def run_child(code: str, args: list[str], *, cap_bytes: int | None, address_cap: bool, log: Path,
              env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter, sampling its process tree's memory; the child
    prints JSON lines (``{"stage": ..., "event": "start"|"end", ...}``). With ``cap_bytes``
    the tree is killed when its resident set passes it; with ``address_cap`` the child's
    address space is limited to it too (``RLIMIT_AS``)."""
    def limit() -> None:
        os.setsid()
        if address_cap and cap_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))

    events: list[dict[str, Any]] = []
    stage = {"name": "start-up"}
    peaks: dict[str, dict[str, int]] = {}
    started = time.perf_counter()
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=err, text=True,
                                preexec_fn=limit, env={**os.environ, **(env or {})})

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                event["at"] = time.perf_counter() - started
                events.append(event)
                if event.get("event") == "start":
                    stage["name"] = event["stage"]
                print(f"    {event}", flush=True)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        killed = None
        while proc.poll() is None:
            memory = tree_memory(proc.pid)
            peak = peaks.setdefault(stage["name"], {"rss": 0, "pss": 0})
            peak["rss"], peak["pss"] = max(peak["rss"], memory["rss"]), max(peak["pss"], memory["pss"])
            if cap_bytes and memory["rss"] > cap_bytes and killed is None:
                killed = {"stage": stage["name"], "rss": memory["rss"]}
                os.killpg(proc.pid, signal.SIGKILL)
            time.sleep(SAMPLE_SECONDS)
        reader.join(10)
    tail = log.read_text()[-3000:]
    return {"returncode": proc.returncode, "events": events, "stage_peaks": peaks, "killed": killed,
            "wall_seconds": time.perf_counter() - started, "stderr_tail": tail,
            "peak_rss": max((p["rss"] for p in peaks.values()), default=0),
            "peak_pss": max((p["pss"] for p in peaks.values()), default=0)}


# ----------------------------------------------------------------------------- the two engines

_COMMON = """
import json, sys, time, warnings
warnings.filterwarnings("ignore")
def say(stage, event, **more):
    print(json.dumps({"stage": stage, "event": event, **more}), flush=True)
class timed:
    def __init__(self, stage): self.stage = stage
    def __enter__(self):
        say(self.stage, "start"); self.t = time.perf_counter()
    def __exit__(self, kind, value, tb):
        if kind is None:
            say(self.stage, "end", seconds=time.perf_counter() - self.t)
        else:
            say(self.stage, "failed", seconds=time.perf_counter() - self.t, error=f"{kind.__name__}: {value}"[:300])
from mqlscore.config import Settings, TrainConfig
settings = Settings(train=TrainConfig(estimate_half_lives=False, refit=False, model_name="bench-scale"))
"""

PANDAS_CHILD = _COMMON + """
from mqlscore.batch import score_open_leads
from mqlscore.contract import load_folder
from mqlscore.features import build_training_set
from mqlscore.training import train
with timed("load_validate"):
    dataset = load_folder(sys.argv[1])
say("load_validate", "facts", leads=len(dataset.leads), activities=len(dataset.activities))
with timed("training_set"):
    ts = build_training_set(dataset, settings.features, settings.snapshots)
say("training_set", "facts", snapshots=int(ts.counts["snapshots"]), labelled=int(len(ts.X)))
with timed("train"):
    result = train(dataset, settings, training_set=ts)
with timed("score"):
    scored = score_open_leads(result.scoring_model, dataset)
say("score", "facts", rows=len(scored))
"""

SPARK_CHILD = _COMMON + """
folder, work, memory, events, master = sys.argv[1:6]
with timed("session"):
    from mqlscore.spark.session import spark_session
    spark = spark_session(master, driver_memory=memory, conf={
        "spark.eventLog.enabled": "true", "spark.eventLog.dir": events, "spark.eventLog.compress": "false",
        "spark.driver.maxResultSize": "2g", "spark.local.dir": work + "/spark-local"})
context = spark.sparkContext
from mqlscore.spark.read import read_export
from mqlscore.spark.score import write_scores
from mqlscore.spark.train import prepare_training
context.setJobGroup("read_validate", "read_validate")
with timed("read_validate"):
    export = read_export(spark, folder)
say("read_validate", "facts", leads=export.counts["leads"], buckets=export.buckets)
context.setJobGroup("training_set", "training_set")
with timed("training_set"):
    prepared = prepare_training(export, settings, work + "/train")
say("training_set", "facts", seconds_by_step=prepared.seconds, counts=prepared.counts,
    fit_rows=len(prepared.training_set.snapshots), sampled=prepared.sampled)
context.setJobGroup("train", "train")
with timed("train"):
    result = prepared.train(prepared.dataset, settings)
context.setJobGroup("score", "score")
with timed("score"):
    summary = write_scores(export, result.scoring_model, work + "/scores.parquet")
say("score", "facts", rows=summary.rows)
spark.stop()
"""


def run_pandas(folder: Path, cap_gib: float, log_dir: Path) -> dict[str, Any]:
    """The pandas engine on ``folder`` under the memory cap (see the module)."""
    out = run_child(PANDAS_CHILD, [str(folder)], cap_bytes=int(cap_gib * GIB), address_cap=True,
                    log=log_dir / "pandas.log", env={"ARROW_DEFAULT_MEMORY_POOL": "system"})
    return summarise("pandas", out)


def run_spark(folder: Path, memory: str, master: str, log_dir: Path, cap_gib: float) -> dict[str, Any]:
    """The Spark engine on ``folder``: ``master`` with ``memory`` for the driver (and, in local
    mode, its executors); the event log is parsed into per-stage task times."""
    work = Path(tempfile.mkdtemp(prefix="bench-scale-spark-", dir=CACHE))
    events = work / "events"
    events.mkdir()
    out = run_child(SPARK_CHILD, [str(folder), str(work), memory, f"file://{events}", master],
                    cap_bytes=int(cap_gib * GIB), address_cap=False, log=log_dir / "spark.log")
    summary = summarise("spark", out)
    summary["stages_detail"] = event_log_stages(events)
    summary["driver_memory"], summary["master"] = memory, master
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return summary


def summarise(engine: str, out: dict[str, Any]) -> dict[str, Any]:
    """Times per stage, peaks per stage, and where the run stopped."""
    stages: dict[str, dict[str, Any]] = {}
    facts: dict[str, Any] = {}
    failed = None
    for event in out["events"]:
        name = event["stage"]
        if event["event"] == "end":
            stages.setdefault(name, {})["seconds"] = event["seconds"]
        elif event["event"] == "failed":
            failed = {"stage": name, "error": event.get("error"), "seconds": event["seconds"]}
        elif event["event"] == "facts":
            facts[name] = {k: v for k, v in event.items() if k not in ("stage", "event", "at")}
        elif event["event"] == "start":
            stages.setdefault(name, {})
    for name, peak in out["stage_peaks"].items():
        stages.setdefault(name, {}).update(peak_rss=peak["rss"], peak_pss=peak["pss"])
    running = [e["stage"] for e in out["events"] if e["event"] == "start"]
    finished = {e["stage"] for e in out["events"] if e["event"] in ("end", "failed")}
    if failed is None and out["returncode"] != 0:
        where = next((s for s in reversed(running) if s not in finished), running[-1] if running else "start-up")
        if out["killed"]:
            failed = {"stage": out["killed"]["stage"], "error": f"killed at {out['killed']['rss'] / GIB:.1f} GiB "
                      "resident (the cap)"}
        else:
            last = [line for line in out["stderr_tail"].splitlines() if line.strip()]
            failed = {"stage": where, "error": (last[-1] if last else f"exit {out['returncode']}")[:300]}
    return {"engine": engine, "ok": out["returncode"] == 0 and failed is None, "failed": failed,
            "stages": stages, "facts": facts, "wall_seconds": out["wall_seconds"], "peak_rss": out["peak_rss"],
            "peak_pss": out["peak_pss"], "returncode": out["returncode"]}


# ----------------------------------------------------------------------------- Spark's event log


def event_log_stages(folder: Path) -> list[dict[str, Any]]:
    """Per Spark stage: its phase (the job group), tasks, task seconds (sum and max), shuffle
    and input bytes, and its wall interval, from the event log in ``folder``."""
    # Spark 4 writes a rolling log: a folder eventlog_v2_<app> of events_<n>_<app> files, in order
    files = sorted((p for p in folder.rglob("*") if p.is_file() and p.name.startswith("events_")),
                   key=lambda p: int(p.name.split("_")[1]))
    files = files or sorted(p for p in folder.iterdir() if p.is_file())  # a single file (rolling off)
    group_of_stage: dict[int, str] = {}
    stages: dict[int, dict[str, Any]] = {}
    lines = (line for path in files for line in open(path))
    if True:
        for line in lines:
            event = json.loads(line)
            kind = event.get("Event")
            if kind == "SparkListenerJobStart":
                group = (event.get("Properties") or {}).get("spark.jobGroup.id", "other")
                for stage_id in event.get("Stage IDs", []):
                    group_of_stage.setdefault(stage_id, group)
            elif kind == "SparkListenerTaskEnd":
                info, metrics = event["Task Info"], event.get("Task Metrics") or {}
                entry = stages.setdefault(event["Stage ID"], {"tasks": 0, "task_seconds": 0.0, "max_task": 0.0,
                                                              "shuffle_read": 0, "shuffle_write": 0, "input": 0})
                seconds = (info["Finish Time"] - info["Launch Time"]) / 1000
                entry["tasks"] += 1
                entry["task_seconds"] += seconds
                entry["max_task"] = max(entry["max_task"], seconds)
                read = metrics.get("Shuffle Read Metrics") or {}
                entry["shuffle_read"] += int(read.get("Remote Bytes Read", 0)) + int(read.get("Local Bytes Read", 0))
                entry["shuffle_write"] += int((metrics.get("Shuffle Write Metrics") or {}).get(
                    "Shuffle Bytes Written", 0))
                entry["input"] += int((metrics.get("Input Metrics") or {}).get("Bytes Read", 0))
            elif kind == "SparkListenerStageCompleted":
                info = event["Stage Info"]
                entry = stages.setdefault(info["Stage ID"], {"tasks": 0, "task_seconds": 0.0, "max_task": 0.0,
                                                             "shuffle_read": 0, "shuffle_write": 0, "input": 0})
                entry["start"] = (info.get("Submission Time") or 0) / 1000
                entry["end"] = (info.get("Completion Time") or 0) / 1000
                entry["name"] = info.get("Stage Name", "")
    return [{"stage": stage_id, "phase": group_of_stage.get(stage_id, "other"), **entry}
            for stage_id, entry in sorted(stages.items()) if entry["tasks"]]


def _union_seconds(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, -math.inf
    for a, b in sorted(intervals):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def project(spark: dict[str, Any], executors: int, cores: int) -> dict[str, Any]:
    """The time of the Spark run's phases on a cluster of ``executors`` x ``cores`` slots,
    computed from the measured tasks (a projection, not a measurement).

    Model, per phase: (a) what ran outside Spark's stages (on the driver: fitting on the
    sample, the builder from the summaries, turning collected rows into frames) stays as
    measured; (b) each stage's measured task time (the sum over its tasks, Spark's event log)
    is shared by ``min(slots, tasks)`` slots, where a stage that reads a shuffle gets at least
    one task per slot (its tasks are ``spark.sql.shuffle.partitions``, set to at least the
    slots on a cluster, and ``read_export`` makes at least two parts per core) and a stage that
    scans files keeps the measured number of splits; (c) shuffled bytes cross the network at
    100 MB/s per executor, one way. Assumed: the cluster's cores are as fast as this machine's
    (a shared 2-core VM, so likely pessimistic), tasks are balanced, input is read as fast as
    from the local disk here, and the sample fitted on the driver is the same
    (``train.max_fit_rows``). Stages are added one after another (pessimistic where Spark ran
    two at once). Not modelled: scheduling delays, stragglers, executor start-up."""
    slots = executors * cores
    phases: dict[str, Any] = {}
    for phase in ("read_validate", "training_set", "train", "score"):
        measured = spark["stages"].get(phase, {}).get("seconds")
        if measured is None:
            continue
        stages = [s for s in spark.get("stages_detail", []) if s["phase"] == phase]
        in_stages = _union_seconds([(s["start"], s["end"]) for s in stages if s.get("end")])
        driver = max(measured - in_stages, 0.0)
        projected_stages = 0.0
        shuffled = 0
        for stage in stages:
            tasks = max(stage["tasks"], slots) if stage["shuffle_read"] > 0 else stage["tasks"]
            projected_stages += stage["task_seconds"] / max(min(slots, tasks), 1)
            shuffled += stage["shuffle_write"]
        network = shuffled / (executors * NETWORK_BYTES_PER_SECOND)
        phases[phase] = {"measured": measured, "driver": driver, "in_stages": in_stages,
                         "task_seconds": sum(s["task_seconds"] for s in stages), "stages": projected_stages,
                         "network": network, "shuffled_bytes": shuffled,
                         "projected": driver + projected_stages + network}
    return {"executors": executors, "cores_per_executor": cores, "slots": slots, "phases": phases,
            "total": sum(p["projected"] for p in phases.values())}


def throughput(spark: dict[str, Any], leads: int) -> dict[str, Any]:
    """Per phase: leads per second of task time (one core), the measured figure the projection scales."""
    out = {}
    for phase in ("read_validate", "training_set", "score"):
        seconds = sum(s["task_seconds"] for s in spark.get("stages_detail", []) if s["phase"] == phase)
        if seconds:
            out[phase] = {"task_seconds": seconds, "leads_per_core_second": leads / seconds}
    return out


# ----------------------------------------------------------------------------- report


STAGES = {"pandas": ("load_validate", "training_set", "train", "score"),
          "spark": ("session", "read_validate", "training_set", "train", "score")}


def _gib(n: float | None) -> str:
    return "-" if not n else f"{n / GIB:.1f}"


def _s(n: float | None) -> str:
    return "-" if n is None else f"{n:,.0f}"


def table(results: dict[str, Any]) -> str:
    """The measured table and the projection, as Markdown."""
    kept = (results.get("spark") or {}).get("facts", {}).get("training_set", {}).get("counts", {})
    size = "the full size" if results["scale"] == 1.0 else f"scale {results['scale']:g}"
    lines = [f"{results['leads']:,} leads, {results['activities']:,} activities ({size}); "
             + (f"{kept['snapshots']:,} snapshots, {kept['labelled']:,} labelled; " if kept else "")
             + f"machine: {results['machine']['cpus']} cores, {results['machine']['memory_gib']:.0f} GiB, "
             "shared with other work.", "",
             "| engine | stage | seconds | peak RSS GiB (tree) | peak PSS GiB (tree) | outcome |",
             "| --- | --- | ---: | ---: | ---: | --- |"]
    for engine in ("pandas", "spark"):
        run = results.get(engine)
        if not run:
            continue
        for name in [*STAGES[engine], *[n for n in run["stages"] if n not in STAGES[engine]]]:
            stage = run["stages"].get(name, {})
            failed = run["failed"] if run["failed"] and run["failed"]["stage"] == name else None
            if name == "start-up":
                outcome = "interpreter and imports"
            else:
                outcome = f"FAILED: {failed['error']}" if failed else ("done" if "seconds" in stage else "not reached")
            lines.append(f"| {engine} | {name} | {_s(stage.get('seconds'))} | {_gib(stage.get('peak_rss'))} | "
                         f"{_gib(stage.get('peak_pss'))} | {outcome} |")
        total = sum(s.get("seconds", 0) for s in run["stages"].values())
        lines.append(f"| {engine} | **all** | **{total:,.0f}** | **{_gib(run['peak_rss'])}** | "
                     f"**{_gib(run['peak_pss'])}** | {'done' if run['ok'] else 'FAILED'} |")
    projections = results.get("projections") or []
    if projections:
        lines += ["", "Projected (computed from the measured tasks, not measured; see the assumptions):", "",
                  "| cluster | slots | read+validate s | training set s | train s | score s | total s |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        spark = results["spark"]
        measured = {k: v.get("seconds") for k, v in spark["stages"].items()}
        lines.append(f"| measured local[2] | 2 | "
                     f"{_s(measured.get('read_validate'))} | {_s(measured.get('training_set'))} | "
                     f"{_s(measured.get('train'))} | {_s(measured.get('score'))} | "
                     f"{_s(sum(v or 0 for k, v in measured.items() if k != 'session'))} |")
        for p in projections:
            ph = p["phases"]
            lines.append(f"| {p['executors']} executors x {p['cores_per_executor']} cores | {p['slots']} | "
                         + " | ".join(_s(ph.get(k, {}).get("projected")) for k in
                                      ("read_validate", "training_set", "train", "score"))
                         + f" | {_s(p['total'])} |")
        rates = results.get("throughput") or {}
        if rates:
            lines += ["", "Measured task time per phase on Spark (one core): " + "; ".join(
                f"{name} {r['task_seconds']:,.0f} s, {r['leads_per_core_second']:,.0f} leads per core-second"
                for name, r in rates.items()) + "."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="share of 1,000,000 leads (0.01: a smoke run)")
    parser.add_argument("--only", choices=("pandas", "spark"), help="run one engine only")
    parser.add_argument("--pandas-cap-gib", type=float, default=14.0, help="memory cap of the pandas run (GiB)")
    parser.add_argument("--spark-cap-gib", type=float, default=14.0, help="the Spark run's tree is killed above this")
    parser.add_argument("--driver-memory", default="4g", help="Spark driver memory (local mode: executors too)")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--executors", default="8,32", help="cluster sizes to project to")
    parser.add_argument("--executor-cores", type=int, default=4)
    args = parser.parse_args()

    n_leads = max(int(round(FULL_LEADS * args.scale)), 1_000)
    t0 = time.perf_counter()
    folder = prepare(n_leads)
    import pyarrow.parquet as pq

    n_acts = pq.ParquetFile(folder / "activities.parquet").metadata.num_rows
    print(f"{folder}: {n_leads:,} leads, {n_acts:,} activities (ready in {time.perf_counter() - t0:.0f} s)",
          flush=True)
    logs = RESULTS / "bench_scale-logs"
    logs.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "benchmark": "bench_scale", "scale": args.scale, "leads": n_leads, "activities": n_acts,
        "at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {"cpus": os.cpu_count(),
                    "memory_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB,
                    "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_at_start": os.getloadavg()},
        "settings": {"estimate_half_lives": False, "refit": False, "max_fit_rows": 500_000,
                     "pandas_cap_gib": args.pandas_cap_gib, "driver_memory": args.driver_memory,
                     "master": args.master},
    }
    if args.only in (None, "pandas"):
        print(f"pandas engine (capped at {args.pandas_cap_gib:g} GiB) ...", flush=True)
        results["pandas"] = run_pandas(folder, args.pandas_cap_gib, logs)
    if args.only in (None, "spark"):
        print(f"Spark engine ({args.master}, driver memory {args.driver_memory}) ...", flush=True)
        results["spark"] = run_spark(folder, args.driver_memory, args.master, logs, args.spark_cap_gib)
    if results.get("spark") and results["spark"]["ok"]:
        results["projections"] = [project(results["spark"], int(n), args.executor_cores)
                                  for n in args.executors.split(",")]
        results["throughput"] = throughput(results["spark"], n_leads)
        results["projection_assumptions"] = project.__doc__
    write_results(results, args.scale)


def write_results(results: dict[str, Any], scale: float) -> None:
    """Print the table and write the JSON and Markdown results."""
    text = table(results)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    stem = "bench_scale" if scale == 1.0 else f"bench_scale-{scale:g}"
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=2, default=str))
    notes = ["", "Data: the generator's export of at most 50,000 leads (seed 15), tiled with renamed lead and "
             "account ids, 20 activities per lead drawn from its own (benchmarks/bench_scale.py). Training: "
             "estimate_half_lives off, refit off, train.max_fit_rows 500,000; nothing registered. Peak memory: the "
             "engine's whole process tree (child, JVM, Python workers), sampled every 0.5 s; the pandas run capped "
             f"at {results['settings']['pandas_cap_gib']:g} GiB of address space."]
    if results.get("projection_assumptions"):
        notes += ["", "Projection (computed, not measured): "
                  + " ".join(results["projection_assumptions"].split()).split("Model, per phase: ", 1)[-1]]
    (RESULTS / f"{stem}.md").write_text(f"# bench_scale ({results['at']})\n\n{text}\n" + "\n".join(notes) + "\n")
    print(f"Written to {RESULTS / (stem + '.json')} and .md")


if __name__ == "__main__":
    main()
