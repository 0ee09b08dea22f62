"""Load test of the scoring service: N concurrent clients for T seconds, loopback only.

Run against a running service (``mqlscore serve``):

    MQLSCORE_API_KEY=... uv run python benchmarks/load_service.py --data data/demo \
        [--url http://127.0.0.1:3000] [--clients 50] [--seconds 60] [--leads-per-request 1]

Each client is an asyncio task with its own keep-alive connection, posting real
leads of the export (with their activities, at the export's as-of time) one
request after another; the run is bounded in time (``--seconds``) and in count
(``--max-requests``). Prints throughput and latency percentiles; exits 1 on any
error (a non-200 answer or a failed connection). ``bench_service.py`` calls
``run_load`` the same way and records the result in ``results/service.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def request_bodies(dataset: Any, leads_per_request: int, count: int, seed: int = 0,
                   reasons: bool = True) -> list[bytes]:
    """``count`` JSON bodies of ``leads_per_request`` leads open at the export's as-of
    time, each lead with its activities, scored at that as-of time."""
    import pandas as pd

    from mqlscore.features import open_leads_at

    rows = open_leads_at(dataset.leads, dataset.outcomes, dataset.as_of)
    rng = np.random.default_rng(seed)
    need = leads_per_request * count
    picks = rng.choice(rows["lead_id"].to_numpy(), size=need, replace=need > len(rows))
    leads = dataset.leads.set_index("lead_id", drop=False)
    acts = {k: g for k, g in dataset.activities.groupby("lead_id")}
    as_of = dataset.as_of.isoformat()

    def plain(value: Any) -> Any:
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            return None
        return value.isoformat() if isinstance(value, pd.Timestamp) else value

    cache: dict[str, dict[str, Any]] = {}

    def payload(lead_id: str) -> dict[str, Any]:
        if lead_id not in cache:
            row = leads.loc[lead_id]
            item = {k: plain(v) for k, v in row.items() if k not in ("first_name", "last_name")}
            group = acts.get(lead_id)
            item["activities"] = [] if group is None else [
                {"occurred_at": t.isoformat(), "activity_type": a, "detail": plain(d)}
                for t, a, d in zip(group["occurred_at"], group["activity_type"], group["detail"])]
            cache[lead_id] = item
        return cache[lead_id]

    bodies = []
    for k in range(count):
        chunk = picks[k * leads_per_request:(k + 1) * leads_per_request]
        chosen = list(dict.fromkeys(chunk))  # a lead once per request
        bodies.append(json.dumps({"leads": [payload(i) for i in chosen], "as_of": as_of,
                                  "reasons": reasons}).encode())
    return bodies


def check_loopback(url: str) -> None:
    host = urlparse(url).hostname or ""
    if host not in LOOPBACK:
        raise SystemExit(f"refusing to load-test {host!r}: this test only runs against 127.0.0.1")


def summarise(latencies_ms: list[float], seconds: float, leads: int, errors: int, requests: int) -> dict[str, Any]:
    lat = np.array(latencies_ms) if latencies_ms else np.array([np.nan])
    return {
        "requests": requests, "errors": errors, "seconds": round(seconds, 2),
        "requests_per_s": round(requests / seconds, 2), "leads_per_s": round(leads / seconds, 1),
        "latency_ms": {f"p{q}": round(float(np.percentile(lat, q)), 2) for q in (50, 90, 95, 99)}
        | {"mean": round(float(lat.mean()), 2), "max": round(float(lat.max()), 2)},
    }


class _Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough HTTP for the test.

    A plain asyncio stream instead of an HTTP client library: on a 2-core machine
    the load generator shares the cores with the server, and httpx's async client
    spent most of a core on 50 connections (measured: 81 % of a core at ~110
    requests/s), starving the server it measures."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, request: bytes, timeout: float) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        try:
            return await asyncio.wait_for(self._exchange(request), timeout)
        except BaseException:
            self.close()  # a broken or timed-out exchange: start the next one on a new connection
            raise

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(request)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        length, chunked, keep_alive = 0, False, True
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value
            elif name == b"connection":
                keep_alive = value != b"close"
        if chunked:
            body = b""
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                body += await self.reader.readexactly(size + 2)
            await self.reader.readline()
        else:
            body = await self.reader.readexactly(length)
        if not keep_alive:
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _raw_requests(url: str, key: str, bodies: list[bytes]) -> list[bytes]:
    """Each body as the full bytes of a ``POST /score`` request."""
    parts = urlparse(url)
    host = f"{parts.hostname}:{parts.port or 80}"
    return [(f"POST /score HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
             f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
            for body in bodies]


async def _load(url: str, key: str, bodies: list[bytes], clients: int, seconds: float, max_requests: int,
                leads_per_body: list[int], timeout: float, spawn_per_s: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    state = {"requests": 0, "leads": 0}
    requests = _raw_requests(url, key, bodies)
    parts = urlparse(url)
    deadline = time.perf_counter() + seconds

    async def worker(seed: int) -> None:
        # Clients join at spawn_per_s (as locust's spawn rate, or a connection pool growing
        # with demand): the server's workers share one listening socket and the first to
        # wake accepts every pending connection, so a burst of simultaneous connections
        # would all land on one worker and stay there (keep-alive).
        await asyncio.sleep(seed / spawn_per_s)
        rng = random.Random(seed)
        connection = _Connection(parts.hostname or "127.0.0.1", parts.port or 80)
        try:
            while time.perf_counter() < deadline and state["requests"] < max_requests:
                k = rng.randrange(len(bodies))
                state["requests"] += 1
                t0 = time.perf_counter()
                try:
                    status, body = await connection.post(requests[k], timeout)
                    ok = status == 200
                    if not ok:
                        errors.append(f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}")
                except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                    ok = False
                    errors.append(f"{type(exc).__name__}: {exc}")
                if ok:
                    latencies.append((time.perf_counter() - t0) * 1000)
                    state["leads"] += leads_per_body[k]
        finally:
            connection.close()

    cpu0, start = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(clients)))
    elapsed = time.perf_counter() - start
    out = summarise(latencies, elapsed, state["leads"], len(errors), state["requests"])
    out["clients"] = clients
    out["client_cpu_share_of_a_core"] = round((time.process_time() - cpu0) / elapsed, 2)
    out["first_errors"] = errors[:5]
    return out


def run_load(url: str, key: str, bodies: list[bytes], clients: int = 50, seconds: float = 60.0,
             max_requests: int = 1_000_000, timeout: float = 120.0, spawn_per_s: float = 50.0) -> dict[str, Any]:
    """Run the load test and return its figures (``errors`` must be 0). Clients join
    at ``spawn_per_s``; ``seconds`` counts from the first."""
    check_loopback(url)
    per_body = [len(json.loads(b)["leads"]) for b in bodies]
    return asyncio.run(_load(url, key, bodies, clients, seconds, max_requests, per_body, timeout, spawn_per_s))


def print_load(result: dict[str, Any]) -> None:
    lat = result["latency_ms"]
    print(f"load: {result['clients']} clients, {result['seconds']:.0f} s: {result['requests']:,} requests, "
          f"{result['errors']} errors; {result['requests_per_s']:.1f} requests/s, {result['leads_per_s']:.1f} leads/s; "
          f"latency ms p50 {lat['p50']:.1f}, p90 {lat['p90']:.1f}, p95 {lat['p95']:.1f}, p99 {lat['p99']:.1f}, "
          f"max {lat['max']:.1f}; the load generator used {result['client_cpu_share_of_a_core']:.0%} of a core")
    for err in result["first_errors"]:
        print("  error:", err)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="A contract folder (e.g. data/demo).")
    parser.add_argument("--url", default="http://127.0.0.1:3000")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    parser.add_argument("--leads-per-request", type=int, default=1)
    parser.add_argument("--spawn-per-s", type=float, default=50.0, help="Clients joining per second.")
    args = parser.parse_args()
    check_loopback(args.url)
    key = os.environ.get("MQLSCORE_API_KEY", "")
    from mqlscore.contract import load_folder

    bodies = request_bodies(load_folder(args.data), args.leads_per_request, 500)
    result = run_load(args.url, key, bodies, args.clients, args.seconds, args.max_requests,
                      spawn_per_s=args.spawn_per_s)
    print_load(result)
    sys.exit(1 if result["errors"] else 0)


if __name__ == "__main__":
    main()
