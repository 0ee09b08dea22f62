"""Benchmark: the lead store behind the service, over loopback HTTP (issue 14).

Run: ``uv run python benchmarks/bench_store.py [--rate 500] [--seconds 60] [--batch-sizes 10,1]
[--backends sqlite,postgresql] [--workers 2]``.

Trains (once, cached) the champion of ``bench_service.py``, generates a 6,000-lead demo
export (cached in ``data/bench/``), runs ``mqlscore build`` into a temporary BentoML home,
then for each database:

1. a fresh store backfilled with ``mqlscore store load --data EXPORT --store URL``
   (SQLite: a file in a temporary folder; PostgreSQL: a throwaway cluster on
   127.0.0.1 started as ``tests/support.py`` starts it for the tests);
2. ``mqlscore serve`` with 2 workers on that store (``MQLSCORE_STORE=URL`` and the
   store's clock started at the export's as-of time, as ``--clock-from export`` does),
   and a wait until the background scorer has scored every backfilled lead;
3. ``GET /leads/{id}``: a few hundred stored leads, one call after another;
4. ``POST /events`` open loop: events scheduled at ``--rate`` per second for
   ``--seconds``, each request sent on schedule whatever the answers to earlier ones
   (a pool of keep-alive connections; a request waiting for a free connection counts
   that wait), latency measured from the scheduled moment to the answer. The mix is
   a marketing-automation feed: mostly activities (on stored leads and on leads
   created during the run), some lead events (new leads, some joining stored
   accounts, and updates of stored leads), a few outcomes, and ~1 % of events sent
   again with the same event_id (a webhook retrying). One run with 10 events per
   request (batching senders post several events per request) and one with 1 (a
   sender posting each event alone: 500 requests/s);
5. after the server is stopped, the database itself: every acknowledged event_id is
   in ``events`` exactly once (and each acknowledged activity in ``activities``), and
   the duplicates the service reported equal the events sent again.

Targets: p99 acknowledgement <= 100 ms at 500 events/s and zero lost events on both
databases; ``GET /leads/{id}`` p50 <= 20 ms. Writes ``benchmarks/results/bench_store.json``
and ``bench_store.md``, with what else the machine was doing (load average, and the CPU
of processes outside the benchmark, sampled every 10 s). Without PostgreSQL's server
(``make system`` installs it) that half is skipped, with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_service import BIN, ROOT, build_bento, prepare, server_env, start_server, stop_server  # noqa: E402

# The raw-HTTP keep-alive connection of the service's load test: on 2 shared cores an HTTP
# client library would take much of a core at 500 requests/s (load_service measured httpx).
from load_service import _Connection  # noqa: E402
from exports import demo_export  # noqa: E402

RESULTS = HERE / "results"
TARGET_P99_MS = 100.0
TARGET_GET_P50_MS = 20.0
MIX = {"lead_new": 0.06, "lead_update": 0.02, "outcome": 0.02, "retry": 0.01}  # the rest: activities
NEW_LEAD_ACTIVITY_SHARE = 0.3  # of activities: on leads created during the run


# -- data ---------------------------------------------------------------------------------
def store_export(leads: int, seed: int) -> Path:
    """The demo export the store is backfilled from (generated once, cached)."""
    return demo_export(leads, seed, kind="store")


def _plain(value: Any) -> Any:
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return _iso(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _iso(ts: Any) -> str:
    import pandas as pd

    return pd.Timestamp(ts).tz_convert("UTC").isoformat().replace("+00:00", "Z")


class Feed:
    """What the event mix draws from: stored leads (open ones for activities and
    outcomes), lead rows as templates, and the export's (activity type, detail) pairs."""

    def __init__(self, dataset: Any) -> None:
        from mqlscore.features import open_leads_at

        leads = dataset.leads
        self.as_of = dataset.as_of
        self.rows = [{k: _plain(v) for k, v in row.items()} for row in leads.to_dict("records")]
        self.by_id = {row["lead_id"]: row for row in self.rows}
        self.open_ids = [str(x) for x in open_leads_at(leads, dataset.outcomes, dataset.as_of)["lead_id"]]
        acts = dataset.activities
        self.acts = list(zip(acts["activity_type"].astype(str), (_plain(d) for d in acts["detail"])))
        self.stored_ids = [str(x) for x in leads["lead_id"]]


def make_plan(feed: Feed, tag: str, rate: float, seconds: float, batch: int, clock_offset_s: float,
              host: str, key: str, seed: int) -> dict[str, Any]:
    """The run's requests, built before it starts: raw ``POST /events`` bytes, each
    request's scheduled offset (seconds), its event ids, and what the mix holds.

    Event ``j`` happens at the store clock's ``clock_offset_s + j / rate`` after its
    start, minus a delivery lag of 1-30 s (webhooks arrive late), and is sent in
    request ``j // batch`` at offset ``(j // batch) * batch / rate``."""
    import pandas as pd

    rng = random.Random(seed)
    n = int(rate * seconds)
    origin = pd.Timestamp(feed.as_of).tz_convert("UTC")
    events: list[dict[str, Any]] = []
    kinds: Counter[str] = Counter()
    new_leads: list[tuple[str, float]] = []  # (lead_id, moment in seconds after the clock's start)
    outcome_pool = feed.open_ids.copy()
    rng.shuffle(outcome_pool)
    retries = 0
    for j in range(n):
        sent = clock_offset_s + j / rate
        happened = sent - rng.uniform(1.0, 30.0)
        at = origin + pd.Timedelta(seconds=happened)
        draw = rng.random()
        event_id = f"bench:{tag}:{j}"
        if draw < MIX["lead_new"]:
            row = dict(rng.choice(feed.rows))
            lead_id = f"bench-{tag}-L{j}"
            row.update(lead_id=lead_id, created_at=_iso(at))
            if rng.random() < 0.5:  # half join a stored account's buying group
                row["account_id"] = f"bench-{tag}-A{j}"
            new_leads.append((lead_id, happened))
            event, kind = {"event_id": event_id, "kind": "lead", **row}, "lead_new"
        elif draw < MIX["lead_new"] + MIX["lead_update"]:
            row = dict(feed.by_id[rng.choice(feed.stored_ids)])
            row["job_title"] = rng.choice(feed.rows)["job_title"]  # a CRM field edited
            event, kind = {"event_id": event_id, "kind": "lead", **row}, "lead_update"
        elif draw < MIX["lead_new"] + MIX["lead_update"] + MIX["outcome"] and outcome_pool:
            lead_id = outcome_pool.pop()
            field = "sql_at" if rng.random() < 0.4 else "disqualified_at"
            event, kind = {"event_id": event_id, "kind": "outcome", "lead_id": lead_id, field: _iso(at)}, "outcome"
        elif draw < sum(MIX.values()) and j > 2 * rate:
            earlier = events[rng.randrange(0, int(j - 2 * rate))]  # sent at least 2 s before
            event, kind = dict(earlier), "retry"
            retries += 1
        else:
            kind = "activity_stored"
            lead_id = rng.choice(feed.open_ids)
            created = [x for x in new_leads[-200:] if x[1] < happened - 1.0]
            if created and rng.random() < NEW_LEAD_ACTIVITY_SHARE:
                lead_id, _ = rng.choice(created)
                kind = "activity_new_lead"
            activity_type, detail = rng.choice(feed.acts)
            event = {"event_id": event_id, "kind": "activity", "lead_id": lead_id, "occurred_at": _iso(at),
                     "activity_type": activity_type, "detail": detail}
        kinds[kind] += 1
        events.append(event)
    requests, offsets, ids = [], [], []
    for k in range(0, n, batch):
        part = events[k:k + batch]
        body = json.dumps({"events": part}, separators=(",", ":")).encode()
        requests.append((f"POST /events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
                         f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
        offsets.append(k / rate)
        ids.append([str(e["event_id"]) for e in part])
    return {"requests": requests, "offsets": offsets, "ids": ids, "events": n, "kinds": dict(kinds),
            "retries": retries, "distinct_ids": len({str(e["event_id"]) for e in events})}


def get_request(host: str, key: str, path: str) -> bytes:
    """The raw bytes of an authorised GET."""
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\r\n".encode()


# -- clients ------------------------------------------------------------------------------
def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    arr = np.asarray(values)
    return {"p50": round(float(np.percentile(arr, 50)), 2), "p95": round(float(np.percentile(arr, 95)), 2),
            "p99": round(float(np.percentile(arr, 99)), 2), "max": round(float(arr.max()), 2)}


async def _open_loop(host: str, port: int, plan: dict[str, Any], connections: int, warm: bytes,
                     timeout: float) -> dict[str, Any]:
    conns = [_Connection(host, port) for _ in range(connections)]
    # Connections join one by one: a burst would be accepted by whichever worker woke first.
    for conn in conns:
        await conn.post(warm, timeout)
        await asyncio.sleep(0.05)
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    results: list[tuple[int | None, float, bytes] | None] = [None] * len(plan["requests"])
    lateness: list[float] = []

    async def sender(conn: _Connection) -> None:
        while (item := await queue.get()) is not None:
            k, due = item
            try:
                status, body = await conn.post(plan["requests"][k], timeout)
                results[k] = (status, (time.perf_counter() - due) * 1000, body)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                results[k] = (None, (time.perf_counter() - due) * 1000, f"{type(exc).__name__}: {exc}".encode())

    tasks = [asyncio.create_task(sender(c)) for c in conns]
    cpu0 = time.process_time()
    t0 = time.perf_counter() + 0.2
    for k, offset in enumerate(plan["offsets"]):
        due = t0 + offset
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        lateness.append(max(0.0, time.perf_counter() - due) * 1000)
        queue.put_nowait((k, due))
    sent_in = time.perf_counter() - t0
    for _ in conns:
        queue.put_nowait(None)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    for conn in conns:
        conn.close()
    return {"results": results, "seconds_sending": sent_in, "seconds_until_last_answer": elapsed,
            "client_cpu_share_of_a_core": round((time.process_time() - cpu0) / elapsed, 2),
            "scheduler_lateness_ms": _percentiles(lateness)}


def run_events(url: str, key: str, plan: dict[str, Any], connections: int, timeout: float = 60.0) -> dict[str, Any]:
    """Send the plan's requests on schedule; latencies, errors and what was acknowledged."""
    host, port = url.split("//")[1].split(":")
    warm = get_request(f"{host}:{port}", key, "/handoffs?limit=1")
    out = asyncio.run(_open_loop(host, int(port), plan, connections, warm, timeout))
    latencies, errors, acked = [], [], []
    accepted = duplicates = warnings = 0
    for k, (status, ms, body) in enumerate(out.pop("results")):
        latencies.append(ms)
        if status != 200:
            errors.append(f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}")
            continue
        answer = json.loads(body)
        accepted += answer["accepted"]
        duplicates += answer["duplicates"]
        warnings += len(answer["warnings"])
        acked += plan["ids"][k]
    ok = len(plan["requests"]) - len(errors)
    return {"requests": len(plan["requests"]), "events": plan["events"], "errors": len(errors),
            "first_errors": errors[:5], "acknowledged_requests": ok, "acknowledged_events": len(acked),
            "events_per_s_sent": round(plan["events"] / out["seconds_sending"], 1),
            "ack_latency_ms": _percentiles(latencies),
            "reported": {"accepted": accepted, "duplicates": duplicates, "warnings": warnings},
            "retries_sent": plan["retries"], "mix": plan["kinds"], **out, "_acked_ids": acked}


async def _sequential(host: str, port: int, requests: list[bytes], timeout: float) -> list[tuple[int | None, float]]:
    conn = _Connection(host, port)
    out = []
    for request in requests:
        t = time.perf_counter()
        try:
            status, _ = await conn.post(request, timeout)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
            status = None
        out.append((status, (time.perf_counter() - t) * 1000))
    conn.close()
    return out


def cpu_reference_ms(repeat: int = 5) -> float:
    """The median time of a fixed pure-Python loop, in ms: this VM's CPU speed varies by half
    from one run to the next, and this says how fast it was next to a latency measured."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        sum(i * i for i in range(1_000_000))
        times.append((time.perf_counter() - t) * 1000)
    return round(float(np.median(times)), 1)


def run_gets(url: str, key: str, lead_ids: list[str], warmup: int = 10) -> dict[str, Any]:
    """``GET /leads/{id}`` for each lead, one after another on a keep-alive connection."""
    host, port = url.split("//")[1].split(":")
    requests = [get_request(f"{host}:{port}", key, f"/leads/{quote(i, safe='')}") for i in lead_ids]
    asyncio.run(_sequential(host, int(port), requests[:warmup], 60.0))
    done = asyncio.run(_sequential(host, int(port), requests, 60.0))
    ok = [ms for status, ms in done if status == 200]
    return {"calls": len(done), "errors": len(done) - len(ok),
            "statuses": dict(Counter(str(s) for s, _ in done)), "latency_ms": _percentiles(ok)}


# -- the databases --------------------------------------------------------------------------
@contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (the tests' recipe, ``tests/support.py``)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from support import postgres_server

    with postgres_server() as url:
        yield url


def fresh_postgres_database(url: str) -> str:
    """A new empty database on the cluster."""
    from support import fresh_database

    return fresh_database(url)


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of one read, straight from the database (not through the service)."""
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url[len("sqlite:///"):])
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql.replace("?", "%s"), params).fetchall()


WAITING_SQL = "SELECT COUNT(*) FROM lead_state s, leads l WHERE s.lead_id = l.lead_id AND s.changed > 0"


def wait_for_scorer(url: str, limit_s: float) -> dict[str, Any]:
    """Wait until the scorer has no changed lead left (at most ``limit_s``)."""
    t0 = time.perf_counter()
    waiting = query(url, WAITING_SQL)[0][0]
    start = waiting
    while waiting and time.perf_counter() - t0 < limit_s:
        time.sleep(1.0)
        waiting = query(url, WAITING_SQL)[0][0]
    return {"waiting_at_start": int(start), "waiting_at_end": int(waiting),
            "seconds": round(time.perf_counter() - t0, 1)}


def verify(url: str, tag: str, acked: list[str], mix_ids: dict[str, list[str]]) -> dict[str, Any]:
    """The store against what was acknowledged: lost, stored twice, stored unacknowledged."""
    like = f"bench:{tag}:%"
    stored = dict(query(url, "SELECT event_id, COUNT(*) FROM events WHERE event_id LIKE ? GROUP BY event_id",
                        (like,)))
    acts = {r[0] for r in query(url, "SELECT event_id FROM activities WHERE event_id LIKE ?", (like,))}
    acked_set = set(acked)
    lost = sorted(acked_set - set(stored))
    acked_acts = acked_set & set(mix_ids["activity"])
    return {"acknowledged_distinct_ids": len(acked_set), "stored_ids": len(stored), "lost": len(lost),
            "first_lost": lost[:5], "stored_more_than_once": sum(1 for c in stored.values() if c != 1),
            "stored_not_acknowledged": len(set(stored) - acked_set),
            "activities_missing": len(acked_acts - acts)}


def kind_ids(plan: dict[str, Any], requests: list[bytes]) -> dict[str, list[str]]:
    """Event ids by kind (from the bodies)."""
    out: dict[str, list[str]] = {"activity": [], "lead": [], "outcome": []}
    for request in requests:
        body = json.loads(request.split(b"\r\n\r\n", 1)[1])
        for event in body["events"]:
            out[event["kind"]].append(str(event["event_id"]))
    return out


def server_ms(log: Path, route: str, window: tuple[float, float] | None = None) -> dict[str, Any]:
    """Requests per worker and the server's own milliseconds (the guard's log lines) for a
    route, those logged within ``window`` (Unix seconds) when given."""
    from datetime import datetime

    text = log.read_text(errors="replace") if log.exists() else ""
    found = re.findall(rf"^(\S+) \[INFO\] \[:(\d+)\][^\n]*path={re.escape(route)} status=200 ms=([\d.]+)",
                       text, re.M)
    if window is not None:
        found = [f for f in found if window[0] - 1 <= datetime.strptime(f[0], "%Y-%m-%dT%H:%M:%S%z").timestamp()
                 <= window[1] + 1]
    return {"per_worker": {f"worker {w}": n for w, n in sorted(Counter(w for _, w, _ in found).items())},
            "ms": _percentiles([float(ms) for _, _, ms in found])}


# -- one database -------------------------------------------------------------------------------
def bench_backend(name: str, url: str, export: Path, env: dict[str, str], args: argparse.Namespace,
                  key: str, tmp: Path) -> dict[str, Any]:
    """Backfill, serve, GET, then the event runs, then the checks, on one database."""
    from mqlscore.contract import load_folder
    from mqlscore.store import LeadStore, export_clock_start
    from mqlscore.store.database import redact

    out: dict[str, Any] = {"database": name, "url": redact(url)}
    t = time.perf_counter()
    done = subprocess.run([str(BIN / "mqlscore"), "store", "load", "--data", str(export), "--store", url],
                          env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stdout[-2000:] + done.stderr[-2000:])
    out["backfill_seconds"] = round(time.perf_counter() - t, 1)
    opened = LeadStore(url)
    as_of = export_clock_start(opened)
    out["backfill_counts"] = opened.counts()
    opened.close()
    print(f"[{name}] backfilled {out['backfill_counts']['leads']:,} leads, {out['backfill_counts']['events']:,} "
          f"events in {out['backfill_seconds']} s", flush=True)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server_url = f"http://127.0.0.1:{port}"
    log = tmp / f"server-{name}.log"
    # As `mqlscore serve --store URL --clock-from export`: the store by its variable, the
    # clock from the export's as-of time.
    serve_env = {**env, "MQLSCORE_STORE": url, "MQLSCORE_STORE_CLOCK_FROM": as_of}
    proc = start_server(serve_env, port, args.workers, log)
    ready = time.time()
    feed = Feed(load_folder(export))
    runs = []
    try:
        out["backfill_scoring"] = wait_for_scorer(url, args.scorer_wait)
        print(f"[{name}] scorer: {out['backfill_scoring']}", flush=True)
        rng = random.Random(3)
        picks = rng.sample(feed.stored_ids, min(args.get_calls, len(feed.stored_ids)))
        reference = cpu_reference_ms()
        out["get_lead"] = run_gets(server_url, key, picks)
        out["get_lead"]["cpu_reference_ms"] = {"before": reference, "after": cpu_reference_ms()}
        out["get_lead"]["target_p50_ms"] = TARGET_GET_P50_MS
        out["get_lead"]["meets_target"] = bool(out["get_lead"]["errors"] == 0 and
                                               out["get_lead"]["latency_ms"]["p50"] <= TARGET_GET_P50_MS)
        print(f"[{name}] GET /leads/{{id}}: {out['get_lead']}", flush=True)
        for batch in args.batch_sizes:
            tag = f"{name[:2]}{batch}-{secrets.token_hex(3)}"
            plan = make_plan(feed, tag, args.rate, args.seconds, batch, time.time() + 1.0 - ready,
                             f"127.0.0.1:{port}", key, seed=batch)
            ids = kind_ids(plan, plan["requests"])
            print(f"[{name}] {batch} event(s) per request: {len(plan['requests']):,} requests over "
                  f"{args.seconds:.0f} s ...", flush=True)
            started = time.time()
            res = run_events(server_url, key, plan, args.connections)
            res["window"] = [round(started), round(time.time())]
            res["after_run_scoring"] = wait_for_scorer(url, args.scorer_wait)
            res.update(batch=batch, tag=tag, _kind_ids=ids)
            runs.append(res)
            lat = res["ack_latency_ms"]
            print(f"[{name}] batch {batch}: p50 {lat['p50']} p95 {lat['p95']} p99 {lat['p99']} max {lat['max']} ms, "
                  f"{res['errors']} errors, reported {res['reported']}, client {res['client_cpu_share_of_a_core']:.0%}"
                  f" of a core; scorer after: {res['after_run_scoring']}", flush=True)
    finally:
        stop_server(proc)
    out["server_log_get"] = server_ms(log, "/leads/{lead_id}")
    for res in runs:  # read the database only once the server is gone
        res["server_log"] = server_ms(log, "/events", tuple(res["window"]))
        res["check"] = verify(url, res["tag"], res.pop("_acked_ids"), res.pop("_kind_ids"))
        res["duplicates_match_retries"] = res["reported"]["duplicates"] == res["retries_sent"]
        res["target_p99_ms"] = TARGET_P99_MS
        res["meets_target"] = bool(res["errors"] == 0 and res["ack_latency_ms"]["p99"] <= TARGET_P99_MS
                                   and res["check"]["lost"] == 0 and res["check"]["stored_more_than_once"] == 0)
    out["event_runs"] = runs
    out["final_counts"] = {t: query(url, f"SELECT COUNT(*) FROM {t}")[0][0]
                           for t in ("leads", "activities", "outcomes", "events", "handoffs")}
    return out


class LoadWatch:
    """What else the machine was doing while the benchmark ran: every ``every`` seconds,
    the load average and the CPU of processes outside this benchmark's own tree (its
    servers, PostgreSQL and clients are counted apart), by command line."""

    def __init__(self, every: float = 10.0) -> None:
        import threading

        self.every = every
        self.ours: list[str] = []  # command-line words of our own processes not started as children (PostgreSQL's)
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LoadWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        seen: dict[int, psutil.Process] = {}
        while not self._stop.wait(self.every):
            ours = {me.pid, *(c.pid for c in me.children(recursive=True))}
            own = other = 0.0
            others: Counter[str] = Counter()
            for proc in psutil.process_iter(["pid", "cmdline", "name"]):
                known = seen.setdefault(proc.pid, proc)
                try:
                    share = known.cpu_percent(None) / 100
                except psutil.Error:
                    continue
                words = proc.info["cmdline"] or [proc.info["name"] or "?"]
                if proc.pid in ours or any(w in " ".join(words) for w in self.ours):
                    own += share
                elif share > 0.02:
                    other += share
                    others[" ".join(Path(w).name if k == 0 else w for k, w in enumerate(words[:3]))[:60]] += share
            self.samples.append({"at": round(time.time()), "loadavg_1min": round(os.getloadavg()[0], 2),
                                 "benchmark_cores": round(own, 2), "other_cores": round(other, 2),
                                 "others": {k: round(v, 2) for k, v in others.most_common(4)}})

    def summary(self) -> dict[str, Any]:
        """Means over the samples, and the other processes that used the most CPU."""
        if not self.samples:
            return {"samples": 0}
        total: Counter[str] = Counter()
        for sample in self.samples[1:]:  # the first sample has no CPU interval yet
            total.update(sample["others"])
        n = max(len(self.samples) - 1, 1)
        return {"samples": len(self.samples), "seconds_between": self.every,
                "loadavg_1min_mean": round(float(np.mean([x["loadavg_1min"] for x in self.samples])), 2),
                "loadavg_1min_max": max(x["loadavg_1min"] for x in self.samples),
                "other_processes_cores_mean": round(float(np.mean([x["other_cores"] for x in self.samples[1:]]))
                                                    if len(self.samples) > 1 else 0.0, 2),
                "busiest_other_processes_cores_mean": {k: round(v / n, 2) for k, v in total.most_common(5)}}


def window_load(samples: list[dict[str, Any]], start: float, end: float) -> dict[str, Any]:
    """The load samples taken during one run: mean load average, other processes' cores."""
    inside = [x for x in samples if start <= x["at"] <= end + 10]
    if not inside:
        return {}
    busiest: Counter[str] = Counter()
    for x in inside:
        busiest.update(x["others"])
    return {"loadavg_1min_mean": round(float(np.mean([x["loadavg_1min"] for x in inside])), 2),
            "other_processes_cores_mean": round(float(np.mean([x["other_cores"] for x in inside])), 2),
            "benchmark_cores_mean": round(float(np.mean([x["benchmark_cores"] for x in inside])), 2),
            "busiest_others": {k: round(v / len(inside), 2) for k, v in busiest.most_common(3)}}


def table(result: dict[str, Any]) -> str:
    """The results as a Markdown table."""
    lines = ["| database | events per request | requests/s | ack p50 ms | p95 | p99 | max | errors | lost | "
             "stored twice | duplicates reported / retries sent | last answer after (s) | other load (cores) | "
             "target p99 <= 100 ms |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for backend in result["databases"]:
        if "skipped" in backend:
            lines.append(f"| {backend['database']} | skipped: {backend['skipped'][:80]} |")
        for run in backend.get("event_runs", []):
            lat = run["ack_latency_ms"]
            other = run.get("other_load", {}).get("other_processes_cores_mean", "?")
            lines.append(f"| {backend['database']} | {run['batch']} | {run['requests'] / result['seconds']:.0f} | "
                         f"{lat['p50']} | {lat['p95']} | {lat['p99']} | {lat['max']} | {run['errors']} | "
                         f"{run['check']['lost']} | {run['check']['stored_more_than_once']} | "
                         f"{run['reported']['duplicates']} / {run['retries_sent']} | "
                         f"{run['seconds_until_last_answer']:.0f} | {other} | "
                         f"{'met' if run['meets_target'] else 'NOT met'} |")
    lines += ["", "| database | GET /leads/{id} calls | p50 ms | p95 | p99 | max | errors | "
              "CPU reference ms before / after | target p50 <= 20 ms |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for backend in (b for b in result["databases"] if "get_lead" in b):
        get = backend["get_lead"]
        lat = get["latency_ms"]
        ref = get.get("cpu_reference_ms", {})
        lines.append(f"| {backend['database']} | {get['calls']} | {lat['p50']} | {lat['p95']} | {lat['p99']} | "
                     f"{lat['max']} | {get['errors']} | {ref.get('before', '?')} / {ref.get('after', '?')} | "
                     f"{'met' if get['meets_target'] else 'NOT met'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=20_000, help="Leads the model is trained on (cached).")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--store-leads", type=int, default=6_000, help="Leads of the export backfilled.")
    parser.add_argument("--store-seed", type=int, default=11)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=500.0, help="Events per second.")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--batch-sizes", type=lambda s: [int(x) for x in s.split(",")], default=[10, 1],
                        help="Events per request, one run each (comma-separated).")
    parser.add_argument("--connections", type=int, default=32, help="Keep-alive connections of the client.")
    parser.add_argument("--get-calls", type=int, default=300)
    parser.add_argument("--scorer-wait", type=float, default=600.0,
                        help="Seconds to wait for the scorer to catch up before each part.")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_store.json")
    args = parser.parse_args()

    _, model_store = prepare(args.leads, args.seed)
    export = store_export(args.store_leads, args.store_seed)
    tmp = Path(tempfile.mkdtemp(prefix="mqlscore-bench-store-"))
    key = secrets.token_urlsafe(32)
    env = server_env(model_store, tmp, key)
    env.pop("MQLSCORE_STORE", None)
    print(next((ln for ln in build_bento(env).splitlines() if ln.startswith("Built bento")), "built"), flush=True)
    before = {"loadavg": os.getloadavg()}
    result: dict[str, Any] = {
        "benchmark": "bench_store",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "rate_events_per_s": args.rate, "seconds": args.seconds, "workers": args.workers,
        "connections": args.connections, "store_export_leads": args.store_leads, "model_training_leads": args.leads,
        "mix": {**MIX, "activity": round(1 - sum(MIX.values()), 2),
                "activity_on_new_leads_share": NEW_LEAD_ACTIVITY_SHARE},
        "machine_load_before": before, "databases": [],
    }
    watch = LoadWatch().__enter__()
    try:
        for name in args.backends.split(","):
            if name == "sqlite":
                url = f"sqlite:///{tmp / 'sqlite' / 'leads.db'}"
                result["databases"].append(bench_backend(name, url, export, env, args, key, tmp))
            elif name == "postgresql":
                sys.path.insert(0, str(ROOT / "tests"))
                from support import PostgresUnavailable

                try:
                    with postgres() as cluster:
                        url = fresh_postgres_database(cluster)
                        watch.ours.append(url.rsplit("/", 1)[1])  # its backends name the database
                        result["databases"].append(bench_backend(name, url, export, env, args, key, tmp))
                except PostgresUnavailable as exc:  # no PostgreSQL server here (make system installs it)
                    print(f"[{name}] skipped: {exc}", flush=True)
                    result["databases"].append({"database": name, "skipped": str(exc)})
            else:
                raise SystemExit(f"unknown backend {name!r} (sqlite, postgresql)")
    finally:
        watch.__exit__()
        result["machine_load_during"] = watch.summary()
        result["machine_load_samples"] = watch.samples
        for backend in result["databases"]:
            for run in backend.get("event_runs", []):
                run["other_load"] = window_load(watch.samples, *run["window"])
        result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        shutil.rmtree(tmp, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    md = table(result)
    args.out.with_suffix(".md").write_text(
        f"# Lead store benchmark ({result['measured_at']})\n\n{args.workers} workers, {args.rate:.0f} events/s "
        f"for {args.seconds:.0f} s, open loop over {args.connections} connections; "
        f"{os.cpu_count()} CPUs; load average before {before['loadavg']}; during the benchmark "
        f"{json.dumps(result['machine_load_during'])}.\n\n{md}\n")
    print(md)
    print(f"written to {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
