"""Benchmark: ``/metrics`` stays small whatever paths strangers ask for.

Run: ``uv run python benchmarks/bench_metrics.py [--requests 10000]``.

Trains (cached in ``data/bench/``, as ``bench_service.py`` does), builds and serves
the champion with one worker on a free 127.0.0.1 port, then sends ``--requests``
requests to random unknown paths (half GET, half POST, no key) and a few scored
requests, and measures the size and scrape time of ``/metrics`` before and after.
Target (issue 11): under 1 MB after 10,000 random paths. Prints a table and writes
``benchmarks/results/metrics.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_service import build_bento, prepare, server_env, start_server, stop_server  # noqa: E402

RESULTS = Path(__file__).parent / "results"
BIN = Path(sys.executable).parent
TARGET_BYTES = 1024 * 1024


def scrape(client, url: str) -> tuple[int, float]:
    """Size in bytes and seconds of one ``GET /metrics``."""
    t = time.perf_counter()
    r = client.get(f"{url}/metrics")
    r.raise_for_status()
    return len(r.content), time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS / "metrics.json")
    args = parser.parse_args()

    import httpx

    _, store = prepare(args.leads, args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="mqlscore-bench-metrics-"))
    key = secrets.token_urlsafe(32)
    env = server_env(store, tmp, key)
    build_bento(env)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    proc = start_server(env, port, 1, tmp / "server.log")
    try:
        with httpx.Client(timeout=30) as client:
            body = {"leads": [{"lead_id": "L1", "created_at": "2026-01-05T15:00:00Z"}], "as_of": "2026-02-01T00:00:00Z"}
            for _ in range(20):  # known routes, so their series exist before the first scrape
                client.post(f"{url}/score", json=body, headers={"Authorization": f"Bearer {key}"})
            before_bytes, before_s = scrape(client, url)
            t0 = time.perf_counter()
            statuses: dict[int, int] = {}
            for k in range(args.requests):
                path = f"/{uuid.uuid4().hex}/{k}%0aforged?x={k}"
                r = client.get(url + path) if k % 2 else client.post(url + path, content=b"{}")
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            sent_s = time.perf_counter() - t0
            after_bytes, after_s = scrape(client, url)
    finally:
        stop_server(proc)
    result = {
        "benchmark": "metrics",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "random_path_requests": args.requests, "seconds_to_send": round(sent_s, 1), "statuses": statuses,
        "metrics_bytes_before": before_bytes, "metrics_bytes_after": after_bytes,
        "scrape_seconds_before": round(before_s, 4), "scrape_seconds_after": round(after_s, 4),
        "target_bytes": TARGET_BYTES, "meets_target": after_bytes < TARGET_BYTES,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"{'':<28}{'before':>12}{'after':>12}")
    print(f"{'/metrics bytes':<28}{before_bytes:>12,}{after_bytes:>12,}")
    print(f"{'/metrics scrape ms':<28}{before_s * 1000:>12.1f}{after_s * 1000:>12.1f}")
    print(f"{args.requests:,} random paths in {sent_s:.0f} s, statuses {statuses}; "
          f"target < 1 MB: {'met' if result['meets_target'] else 'NOT met'} (written to {args.out})")


if __name__ == "__main__":
    main()
