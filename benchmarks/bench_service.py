"""Benchmark: the scoring service over loopback HTTP, against the raw model call.

Run: ``uv run python benchmarks/bench_service.py [--leads 20000] [--seed 7] [--load-seconds 60]``.

Trains the champion on a generated export (cached in ``data/bench/``; MLflow in
a SQLite store beside it), runs ``mqlscore build`` into a temporary BentoML
home and ``mqlscore serve`` (2 workers) on a free 127.0.0.1 port, then measures:

1. one lead with reasons per request, sequential (keep-alive): latency percentiles;

(every client is ``load_service.py``'s: plain HTTP/1.1 on asyncio streams, so the
load generator takes little of the two cores it shares with the server);
2. requests of 100 leads with reasons from 8 concurrent clients: leads per second;
3. the raw model call on the same rows (LightGBM ``pred_contrib``, one thread):
   the service's cost as a ratio to it;
4. where the time goes inside one request (in-process, same code);
5. the load test (``load_service.py``): 50 concurrent clients for 60 s, zero errors.

Targets (issue 5, 2-core machine): one lead p50 <= 20 ms; >= 2,000 leads/s in
requests of 100. Writes ``benchmarks/results/service.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as in the service: one scoring thread per worker
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from load_service import print_load, request_bodies, run_load  # noqa: E402
from exports import demo_export  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# What the cached champion was trained with; a champion cached by an older version is trained
# again (one cached before account scores measured a service that had none).
MODEL_CACHE = "2: lead and account scores"
RESULTS = Path(__file__).parent / "results"
BIN = Path(sys.executable).parent


def _best_ms(fn: Any, repeat: int) -> float:
    """Median wall time of ``fn`` in ms (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def prepare(leads: int, seed: int) -> tuple[Path, Path]:
    """The export and a trained, registered champion (both cached under data/bench/)."""
    from mqlscore.config import Settings, TrainConfig

    folder = demo_export(leads, seed)
    store = ROOT / "data" / "bench" / f"service_model_{leads}_{seed}"
    done = store / "done"
    if not done.exists() or done.read_text() != MODEL_CACHE:  # a champion of an older product: train again
        if store.exists():
            shutil.rmtree(store)
        store.mkdir(parents=True, exist_ok=True)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{store / 'mlflow.db'}"
        cwd = Path.cwd()
        os.chdir(store)
        from mqlscore.contract import load_folder
        from mqlscore.training import register, train

        print(f"training the champion on {folder} (once; cached in {store}) ...", flush=True)
        dataset = load_folder(folder)
        settings = Settings(train=TrainConfig(estimate_half_lives=False))
        register(train(dataset, settings), dataset, settings)
        os.chdir(cwd)
        done.write_text(MODEL_CACHE)
    return folder, store


def server_env(store: Path, tmp: Path, key: str) -> dict[str, str]:
    """The environment of ``mqlscore build`` and ``serve``: a temporary BentoML home, the
    trained store's registry, the API key, and none of the caller's service overrides."""
    env = {**os.environ, "BENTOML_HOME": str(tmp / "bentoml"), "BENTOML_DO_NOT_TRACK": "true",
           "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}", "MQLSCORE_API_KEY": key}
    for name in ("MQLSCORE_DEV", "MQLSCORE_SERVICE_CONFIG"):
        env.pop(name, None)
    return env


def build_bento(env: dict[str, str]) -> str:
    """``mqlscore build`` in ``env``; its output (SystemExit with it on failure)."""
    done = subprocess.run([str(BIN / "mqlscore"), "build"], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stdout + done.stderr)
    return done.stdout + done.stderr


def start_server(env: dict[str, str], port: int, workers: int, log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        proc = subprocess.Popen([str(BIN / "mqlscore"), "serve", "--port", str(port), "--workers", str(workers)],
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    proc.kill()
    raise SystemExit("server not ready after 120 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def sequential(url: str, key: str, bodies: list[bytes]) -> dict[str, Any]:
    """One client, one request after another on a keep-alive connection (after 5 warm-up requests)."""
    run_load(url, key, bodies[:5], clients=1, seconds=60, max_requests=5)
    return run_load(url, key, bodies, clients=1, seconds=600, max_requests=len(bodies))


def throughput(url: str, key: str, bodies: list[bytes], clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` clients posting the bodies for ``seconds``: leads per second."""
    return run_load(url, key, bodies, clients=clients, seconds=seconds)


def requests_per_worker(log: Path) -> dict[str, int]:
    """Scored requests per server worker, from the log's ``[:N]`` prefixes."""
    import re
    from collections import Counter

    found = re.findall(r"\[:(\d+)\][^\n]*path=/score status=200", log.read_text()) if log.exists() else []
    return {f"worker {k}": n for k, n in sorted(Counter(found).items())}


def in_process(engine: Any, body1: bytes, body100: bytes) -> dict[str, Any]:
    """Where the time goes in one request, and the raw model call on the same rows."""
    import pandas as pd

    from mqlscore.serving.schemas import ScoreRequest
    from mqlscore.serving.tables import request_tables

    out: dict[str, Any] = {}
    model = engine.model
    for label, body in (("1_lead", body1), ("100_leads", body100)):
        repeat = 30 if label == "1_lead" else 10
        req = ScoreRequest.model_validate_json(body)
        when = engine.resolve_as_of(req.as_of)
        tables = request_tables(req.leads, when, engine.config)
        snaps = pd.DataFrame({"lead_id": tables.leads["lead_id"].to_numpy(),
                              "as_of": pd.Series(when, index=range(len(tables.leads)))})
        X = model.builder.transform(tables.leads, tables.activities, snaps)
        response = engine.score(req.leads, req.as_of)
        parts = {
            "parse_json": _best_ms(lambda: ScoreRequest.model_validate_json(body), repeat),
            "request_tables": _best_ms(lambda: request_tables(req.leads, when, engine.config), repeat),
            "features_transform": _best_ms(lambda: model.builder.transform(tables.leads, tables.activities, snaps),
                                           repeat),
            "score_features_with_reasons": _best_ms(lambda: model.score_features(X, reasons=True), repeat),
            "score_features_without_reasons": _best_ms(lambda: model.score_features(X, reasons=False), repeat),
            "response_json": _best_ms(lambda: response.model_dump_json(), repeat),
            "engine_total": _best_ms(lambda: engine.score(ScoreRequest.model_validate_json(body).leads, req.as_of),
                                     repeat),
        }
        if model.accounts is not None:  # what the account summaries add, same process, same rows
            accounts, model.accounts = model.accounts, None
            try:
                parts["engine_total_without_account_scores"] = _best_ms(
                    lambda: engine.score(ScoreRequest.model_validate_json(body).leads, req.as_of), repeat)
            finally:
                model.accounts = accounts
            parts["engine_total_again"] = _best_ms(
                lambda: engine.score(ScoreRequest.model_validate_json(body).leads, req.as_of), repeat)
        if model.kind == "lightgbm":
            booster, it = model.model.booster_, model.model.best_iteration_
            Xm = X[model.model.feature_names_]
            Xn = Xm.copy()
            for c in Xn.columns:
                if isinstance(Xn[c].dtype, pd.CategoricalDtype):
                    Xn[c] = Xn[c].cat.codes.astype("float64").where(Xn[c].cat.codes >= 0)
            Xn = Xn.to_numpy("float64")
            assert np.allclose(booster.predict(Xm, pred_contrib=True, num_iteration=it),
                               booster.predict(Xn, pred_contrib=True, num_iteration=it))
            parts["raw_pred_contrib_dataframe"] = _best_ms(
                lambda: booster.predict(Xm, pred_contrib=True, num_iteration=it), repeat)
            parts["raw_pred_contrib_numpy"] = _best_ms(
                lambda: booster.predict(Xn, pred_contrib=True, num_iteration=it), repeat)
            parts["raw_predict_numpy"] = _best_ms(lambda: booster.predict(Xn, raw_score=True, num_iteration=it),
                                                  repeat)
        out[label] = {"rows": len(X), "activities": tables.n_activities, "accounts": len(response.accounts),
                      "ms": {k: round(v, 3) for k, v in parts.items()}}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--single-requests", type=int, default=300)
    parser.add_argument("--batch-seconds", type=float, default=20.0)
    parser.add_argument("--batch-clients", type=int, default=8,
                        help="Keep-alive clients; each connection stays with one worker, so fewer than ~4 per "
                        "worker can leave a worker idle.")
    parser.add_argument("--load-seconds", type=float, default=60.0)
    parser.add_argument("--load-clients", type=int, default=50)
    parser.add_argument("--batch-max-leads", type=int, default=None,
                        help="Override service.batch_max_leads (1 turns adaptive batching off).")
    parser.add_argument("--out", type=Path, default=RESULTS / "service.json")
    args = parser.parse_args()

    folder, store = prepare(args.leads, args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="mqlscore-bench-service-"))
    key = secrets.token_urlsafe(32)
    env = server_env(store, tmp, key)
    if args.batch_max_leads is not None:
        from mqlscore.config import ServiceConfig

        env["MQLSCORE_SERVICE_CONFIG"] = ServiceConfig(batch_max_leads=args.batch_max_leads).model_dump_json()
    t0 = time.perf_counter()
    output = build_bento(env)
    build_s = time.perf_counter() - t0
    built = next((ln for ln in output.splitlines() if ln.startswith("Built bento")), "built")
    print(built, f"({build_s:.1f} s including start-up)")

    os.environ["BENTOML_HOME"] = env["BENTOML_HOME"]
    import bentoml

    from mqlscore.contract import load_folder
    from mqlscore.serving.engine import ScoringEngine

    stored = bentoml.models.get("mqlscore-service:latest")
    engine = ScoringEngine.from_folder(stored.path)
    dataset = load_folder(folder)
    singles = request_bodies(dataset, 1, args.single_requests, seed=1)
    hundreds = request_bodies(dataset, 100, 40, seed=2)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    proc = start_server(env, port, args.workers, tmp / "server.log")
    try:
        single = sequential(url, key, singles)
        batch = throughput(url, key, hundreds, clients=args.batch_clients, seconds=args.batch_seconds)
        load = run_load(url, key, singles, clients=args.load_clients, seconds=args.load_seconds) \
            if args.load_seconds > 0 else None
    finally:
        stop_server(proc)
    inside = in_process(engine, singles[0], hundreds[0])

    booster = getattr(engine.model.model, "booster_", None)
    one, hundred = inside["1_lead"]["ms"], inside["100_leads"]["ms"]
    p50 = single["latency_ms"]["p50"]
    per_100_ms = 100 / batch["leads_per_s"] * 1000 * min(args.workers, os.cpu_count() or 1)
    result: dict[str, Any] = {
        "benchmark": "service",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "model": {"kind": engine.model.kind, "name": engine.name, "version": engine.version,
                  "features": len(engine.model.builder.specs_),
                  "trees": int(booster.num_trees()) if booster is not None else None,
                  "training_leads": args.leads},
        "server": {"workers": args.workers, "build_seconds": round(build_s, 1),
                   "batch_max_leads": args.batch_max_leads or "default"},
        "single_lead_with_reasons": {"requests": single["requests"], "errors": single["errors"],
                                     "latency_ms": single["latency_ms"],
                                     "target_p50_ms": 20, "meets_target": p50 <= 20},
        "requests_of_100_leads_with_reasons": {**batch, "target_leads_per_s": 2000,
                                               "meets_target": batch["leads_per_s"] >= 2000},
        "in_process_ms": inside,
        "ratio_to_raw_model": {
            "single_lead_p50_over_pred_contrib_1_row_dataframe": round(p50 / one["raw_pred_contrib_dataframe"], 1)
            if "raw_pred_contrib_dataframe" in one else None,
            "single_lead_p50_over_pred_contrib_1_row_numpy": round(p50 / one["raw_pred_contrib_numpy"], 1)
            if "raw_pred_contrib_numpy" in one else None,
            "worker_ms_per_100_leads_over_pred_contrib_100_rows_dataframe":
                round(per_100_ms / hundred["raw_pred_contrib_dataframe"], 2)
                if "raw_pred_contrib_dataframe" in hundred else None,
            "worker_ms_per_100_leads_over_pred_contrib_100_rows_numpy":
                round(per_100_ms / hundred["raw_pred_contrib_numpy"], 2) if "raw_pred_contrib_numpy" in hundred
                else None,
        },
        "load_test": load,
        # Each keep-alive connection stays with the worker that accepted it: how the
        # scored requests of the whole run spread over the workers (from the server log).
        "requests_per_worker": requests_per_worker(tmp / "server.log"),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)  # the temporary BentoML home and the server log
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))

    lat = result["single_lead_with_reasons"]["latency_ms"]
    print(f"model: {engine.model.kind}, {result['model']['trees']} trees, {result['model']['features']} features; "
          f"server: {args.workers} workers on {os.cpu_count()} cores")
    print(f"one lead with reasons, sequential: p50 {lat['p50']:.1f} ms, p90 {lat['p90']:.1f}, p99 {lat['p99']:.1f} "
          f"(target p50 <= 20 ms: {'met' if p50 <= 20 else 'NOT met'})")
    print(f"requests of 100 leads with reasons, {args.batch_clients} clients: {batch['leads_per_s']:,.0f} leads/s, "
          f"p50 {batch['latency_ms']['p50']:.0f} ms (target >= 2,000 leads/s: "
          f"{'met' if batch['leads_per_s'] >= 2000 else 'NOT met'}), {batch['errors']} errors")
    print("in-process ms:         " + "  ".join(f"{k}" for k in one))
    for label in ("1_lead", "100_leads"):
        print(f"  {label:<10} " + "  ".join(f"{k}={v:.2f}" for k, v in inside[label]["ms"].items()))
    print("ratios to the raw model call:", json.dumps(result["ratio_to_raw_model"]))
    if load is not None:
        print_load(load)
    print("scored requests per worker:", json.dumps(result["requests_per_worker"]))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
