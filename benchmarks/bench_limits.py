"""Benchmark: the worst request the service accepts, at every limit at once (issue 11).

Run: ``uv run python benchmarks/bench_limits.py [--leads 20000] [--seed 7]``.

Builds request bodies that sit at the service's limits (``ServiceConfig``
defaults: 1,000 leads, 50 fields outside the contract per lead out of 200
distinct names of 64 characters, texts of up to 2,000 characters, activities
filling what is left of the 16 MiB body) in several shapes, plus the two
requests of the defect (1,000 leads x 300 invented fields; one lead x 200,000
fields), which must now be refused at once. Each is served

1. in process: a fresh interpreter per body parses it (``ScoreRequest``, as
   BentoML does) and scores it (``ScoringEngine.score``); and
2. over HTTP: ``mqlscore build`` then, for each body, a fresh ``mqlscore serve
   --workers 1`` on a free 127.0.0.1 port (warmed up by one small request), with
   the model ``bench_service.py``'s ``prepare`` trains.

For each: seconds, status, response bytes and the worker's peak memory
(``VmHWM`` of ``/proc/<pid>/status``, reset before each request by writing 5 to
``/proc/<pid>/clear_refs``) and its growth over the worker's memory before the
request. Writes ``benchmarks/results/limits.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as in the service: one scoring thread per worker
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

sys.path.insert(0, str(Path(__file__).parent))
from bench_service import BIN, RESULTS, build_bento, prepare, server_env, start_server, stop_server  # noqa: E402

AS_OF = "2026-09-30T00:00:00Z"
SHAPES = ("activities", "extra_fields", "long_texts", "everything", "defect_invented_fields",
          "defect_one_lead_200k_fields")
TEXT_FIELDS = ("job_title", "company_name", "email", "org_type", "country", "state", "ehr_vendor", "lead_source")
_WORDS = ("vice", "president", "digital", "innovation", "chief", "medical", "information", "officer", "nursing",
          "director", "clinical", "informatics", "senior", "manager", "revenue", "cycle", "population", "health",
          "analytics", "strategy", "transformation", "operations", "quality", "safety", "pharmacy", "it")


def _text(n: int, seed: int) -> str:
    """``n`` characters of plausible words (titles that the title parser must really read)."""
    out, k = [], seed
    while sum(len(w) + 1 for w in out) < n:
        out.append(_WORDS[k % len(_WORDS)])
        k = (k * 7 + 3) % 1_000_003
    return " ".join(out)[:n]


def _lead(i: int) -> dict[str, Any]:
    return {"lead_id": f"L-{i:05d}", "created_at": "2026-01-05T15:00:00Z", "account_id": f"ACC-{i // 4}",
            "job_title": "VP Digital Innovation", "org_type": "health_system", "employee_count": 12_000,
            "country": "US", "state": "MA", "ehr_vendor": "epic", "lead_source": "webinar",
            "email": f"person{i}@hospital{i % 50}.org", "company_name": f"Hospital {i % 50}", "activities": []}


def _activity(i: int, j: int, detail_chars: int) -> dict[str, Any]:
    day = 1 + (i + j) % 28
    kind = ("page_view", "email_open", "webinar_attended", "content_download", "demo_request")[j % 5]
    detail = f"/resources/{i}/{j}/" + "x" * max(0, detail_chars - 20)
    return {"occurred_at": f"2026-0{1 + j % 8}-{day:02d}T{j % 24:02d}:{j % 60:02d}:00Z", "activity_type": kind,
            "detail": detail[:detail_chars]}


def _fill_activities(body: dict[str, Any], budget: int, per_lead_max: int, detail_chars: int = 40) -> None:
    """Add activities evenly over the leads until the body is about to pass ``budget`` bytes."""
    size = len(json.dumps(body))
    one = len(json.dumps(_activity(0, 0, detail_chars))) + 2
    per_lead = min(per_lead_max, max(0, (budget - size) // (one * len(body["leads"]))))
    for i, lead in enumerate(body["leads"]):
        lead["activities"] = [_activity(i, j, detail_chars) for j in range(per_lead)]
    while len(json.dumps(body)) > budget:  # the estimate was a little generous
        for lead in body["leads"]:
            if lead["activities"]:
                lead["activities"].pop()


def _small(config: Any) -> Any:
    """The limits of a warm-up request (10 leads, 100 kB): the worker's first scoring call."""
    return config.model_copy(update={"max_leads_per_request": 10, "max_body_bytes": 100_000})


def build_body(shape: str, config: Any) -> bytes:
    """A request body of the given shape at the limits of ``config`` (see the module)."""
    budget = config.max_body_bytes - 1024
    n = config.max_leads_per_request
    names = [f"crm_field_{k:03d}_" + "n" * (config.max_field_name_chars - 14)
             for k in range(config.max_extra_fields_per_request)]
    per = config.max_extra_fields_per_lead
    body: dict[str, Any] = {"leads": [_lead(i) for i in range(n)], "as_of": AS_OF, "reasons": True}
    if shape == "activities":
        _fill_activities(body, budget, config.max_activities_per_lead)
    elif shape == "extra_fields":
        overhead = len(json.dumps(body)) + n * per * (config.max_field_name_chars + 6)
        chars = min(config.max_text_chars, max(1, (budget - overhead) // (n * per)))
        while True:
            for i, lead in enumerate(body["leads"]):
                lead.update({names[(i + k * 4) % len(names)]: _text(chars, i * per + k) for k in range(per)})
            if len(json.dumps(body)) <= budget:
                break
            chars = int(chars * 0.97)
    elif shape == "long_texts":
        chars = min(config.max_text_chars, (budget - len(json.dumps(body))) // (n * len(TEXT_FIELDS)) - 8)
        for i, lead in enumerate(body["leads"]):
            lead.update({f: _text(chars, i * 31 + k) for k, f in enumerate(TEXT_FIELDS)})
        _fill_activities(body, budget, config.max_activities_per_lead, detail_chars=config.max_text_chars)
    elif shape == "everything":
        for i, lead in enumerate(body["leads"]):
            lead.update({names[(i + k * 4) % len(names)]: _text(20, k) for k in range(per)})
            lead["job_title"] = _text(config.max_text_chars, i)
        _fill_activities(body, budget, config.max_activities_per_lead)
    elif shape == "defect_invented_fields":
        for i, lead in enumerate(body["leads"]):
            lead.update({f"x_{i}_{k}": f"value {k}" for k in range(300)})
    elif shape == "defect_one_lead_200k_fields":
        body["leads"] = [{**body["leads"][0], **{f"f{k}": k for k in range(200_000)}}]
    else:
        raise ValueError(shape)
    data = json.dumps(body).encode()
    assert len(data) <= config.max_body_bytes, (shape, len(data))
    return data


def describe(data: bytes) -> dict[str, Any]:
    """What a body holds: leads, activities, fields outside the contract, the longest text."""
    body = json.loads(data)
    from mqlscore.serving.schemas import LeadIn

    known = set(LeadIn.model_fields)
    extras = {k for lead in body["leads"] for k in lead if k not in known}
    texts = [v for lead in body["leads"] for v in lead.values() if isinstance(v, str)]
    texts += [v for lead in body["leads"] for a in lead.get("activities", []) for v in a.values() if isinstance(v, str)]
    return {"bytes": len(data), "leads": len(body["leads"]),
            "activities": sum(len(lead.get("activities", [])) for lead in body["leads"]),
            "max_activities_per_lead": max(len(lead.get("activities", [])) for lead in body["leads"]),
            "max_extra_fields_per_lead": max(sum(k not in known for k in lead) for lead in body["leads"]),
            "distinct_extra_fields": len(extras), "longest_text": max(map(len, texts))}


def _status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS and VmHWM of a process, in bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":", 1)
            out[key] = int(value.split()[0]) * 1024
    return out


def _reset_peak(pid: int | str = "self") -> None:
    """Reset the process's VmHWM to its current RSS (Linux: ``5`` to ``clear_refs``)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def child(shape: str, model_dir: str) -> None:
    """In a fresh interpreter: load the engine, build the body, then parse and score it
    as BentoML and the service do, printing one JSON line of figures."""
    import gc

    from mqlscore.config import ServiceConfig
    from mqlscore.serving.engine import ScoringEngine
    from mqlscore.serving.errors import RequestRejected
    from mqlscore.serving.schemas import ScoreRequest

    engine = ScoringEngine.from_folder(model_dir, ServiceConfig())
    data = build_body(shape, engine.config)
    gc.collect()
    _reset_peak()
    before = _status()["VmRSS"]
    start = time.perf_counter()
    request = ScoreRequest.model_validate_json(data)
    parsed = time.perf_counter() - start
    try:
        answer = engine.score(request.leads, request.as_of, request.reasons).model_dump_json().encode()
        status = 200
    except RequestRejected as exc:
        answer, status = json.dumps(exc.body()).encode(), exc.status
    seconds = time.perf_counter() - start
    peak = _status()["VmHWM"]
    print(json.dumps({"status": status, "seconds": round(seconds, 3), "parse_seconds": round(parsed, 3),
                      "response_bytes": len(answer), "rss_before_mb": round(before / 2**20, 1),
                      "peak_rss_mb": round(peak / 2**20, 1), "growth_mb": round((peak - before) / 2**20, 1),
                      "growth_over_body": round((peak - before) / len(data), 1)}))


def in_process(shape: str, model_dir: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", shape, "--model-dir", str(model_dir)],
                          capture_output=True, text=True, timeout=900)
    if done.returncode:
        raise SystemExit(done.stdout + done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _workers(server_pid: int) -> list[int]:
    """The BentoML worker processes under the ``mqlscore serve`` process."""
    found = []
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            cmd = status.read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "_bentoml_impl.worker.service" in cmd:
            pid = int(status.parent.name)
            if _ancestor(pid, server_pid):
                found.append(pid)
    return found


def _ancestor(pid: int, root: int) -> bool:
    while pid > 1:
        if pid == root:
            return True
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False


def over_http(url: str, key: str, data: bytes, workers: list[int]) -> dict[str, Any]:
    import httpx

    for pid in workers:
        _reset_peak(pid)
    before = {pid: _status(pid)["VmRSS"] for pid in workers}
    start = time.perf_counter()
    r = httpx.post(f"{url}/score", content=data, timeout=300,
                   headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    seconds = time.perf_counter() - start
    peaks = {pid: _status(pid)["VmHWM"] for pid in workers}
    pid = max(peaks, key=lambda p: peaks[p] - before[p])  # the worker that served it
    return {"status": r.status_code, "seconds": round(seconds, 3), "response_bytes": len(r.content),
            "rss_before_mb": round(before[pid] / 2**20, 1), "peak_rss_mb": round(peaks[pid] / 2**20, 1),
            "growth_mb": round((peaks[pid] - before[pid]) / 2**20, 1),
            "growth_over_body": round((peaks[pid] - before[pid]) / len(data), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=20_000, help="Leads of the export the model is trained on.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--shapes", nargs="*", default=list(SHAPES), choices=SHAPES)
    parser.add_argument("--no-http", action="store_true", help="Only in process.")
    parser.add_argument("--out", type=Path, default=RESULTS / "limits.json")
    parser.add_argument("--child", choices=SHAPES, help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.model_dir)
        return

    from mqlscore.config import ServiceConfig

    config = ServiceConfig()
    _, store = prepare(args.leads, args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="mqlscore-bench-limits-"))
    key = secrets.token_urlsafe(32)
    env = server_env(store, tmp, key)
    build_bento(env)
    model_dir = next((tmp / "bentoml" / "models" / config.bento_name).glob("*/scoring_model")).parent

    rows: dict[str, Any] = {}
    for shape in args.shapes:
        data = build_body(shape, config)
        rows[shape] = {"body": describe(data), "in_process": in_process(shape, model_dir)}
        print(f"{shape}: in process {rows[shape]['in_process']}", flush=True)
    for shape in [] if args.no_http else args.shapes:
        # A fresh server per request: a worker keeps the memory it once used, which would hide
        # the next request's growth.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = start_server(env, port, 1, tmp / "server.log")
        try:
            over_http(f"http://127.0.0.1:{port}", key, build_body("activities", _small(config)), _workers(proc.pid))
            rows[shape]["http"] = over_http(f"http://127.0.0.1:{port}", key, build_body(shape, config),
                                            _workers(proc.pid))
        finally:
            stop_server(proc)
        print(f"{shape}: over HTTP {rows[shape]['http']}", flush=True)
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)

    accepted = [r for r in rows.values() if r["in_process"]["status"] == 200]
    result = {
        "benchmark": "limits",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "limits": {name: getattr(config, name) for name in (
            "max_body_bytes", "max_leads_per_request", "max_activities_per_lead", "max_extra_fields_per_lead",
            "max_extra_fields_per_request", "max_field_name_chars", "max_text_chars")},
        "model_training_leads": args.leads, "server_workers": 1,
        "requests": rows,
        "worst_accepted": {
            "seconds_in_process": max(r["in_process"]["seconds"] for r in accepted) if accepted else None,
            "seconds_over_http": max(r["http"]["seconds"] for r in accepted if "http" in r) if accepted and
            not args.no_http else None,
            "peak_worker_rss_mb": max(r["http"]["peak_rss_mb"] for r in accepted if "http" in r) if accepted and
            not args.no_http else None,
            "worker_growth_mb": max(r["http"]["growth_mb"] for r in accepted if "http" in r) if accepted and
            not args.no_http else None,
        },
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))

    print(f"\nlimits: {json.dumps(result['limits'])}")
    head = f"{'request':<28} {'MB':>5} {'leads':>5} {'acts':>7} {'where':<7} {'status':>6} {'s':>6} " \
           f"{'resp MB':>7} {'peak MB':>8} {'growth':>7} {'x body':>6}"
    print(head)
    print("-" * len(head))
    for shape, row in rows.items():
        b = row["body"]
        for where in ("in_process", "http"):
            if where not in row:
                continue
            m = row[where]
            print(f"{shape:<28} {b['bytes'] / 2**20:5.1f} {b['leads']:5d} {b['activities']:7,d} "
                  f"{'process' if where == 'in_process' else 'HTTP':<7} {m['status']:>6} {m['seconds']:6.2f} "
                  f"{m['response_bytes'] / 2**20:7.2f} {m['peak_rss_mb']:8.0f} {m['growth_mb']:7.0f} "
                  f"{m['growth_over_body']:6.1f}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
