"""The scoring service as a real server: ``mqlscore build`` from a fresh MLflow
registry (offline), then ``mqlscore serve`` (``bentoml serve``) on 127.0.0.1,
called with ``bentoml.SyncHTTPClient``, plain HTTP and raw sockets (metrics that
stay small, log lines that cannot be forged, slow clients cut off); and start-ups
that must fail.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import BIN, KEY, MODEL_NAME, OFFLINE, REPO, assert_same_scores, base_env, free_port, parity_case, \
    trained_store

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

EXAMPLE = {
    "lead_id": "L-HTTP", "created_at": "2026-01-05T15:00:00Z", "account_id": "ACC-HTTP", "job_title": "CMIO",
    "org_type": "health_system", "employee_count": 5000, "country": "US", "state": "NY",
    "activities": [{"occurred_at": "2026-01-20T16:30:00Z", "activity_type": "page_view", "detail": "/pricing"},
                   {"occurred_at": "2026-01-21T09:10:00Z", "activity_type": "baa_request", "detail": None}],
}


def _start_failure(command: list[str], env: dict[str, str], cwd: Path, timeout: float = 90) -> tuple[int, str]:
    """Run a server start-up that must fail; return its exit code and output."""
    proc = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, demo_export: Path) -> Path:
    return trained_store(tmp_path_factory, demo_export)


def _post(url: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return httpx.post(f"{url}/score", content=data, timeout=60,
                      headers={"Content-Type": "application/json",
                               **({"Authorization": f"Bearer {KEY}"} if headers is None else headers)})


def test_build_is_offline_and_pins_the_lock(built: dict[str, Any]) -> None:
    bentos = list((built["home"] / "bentos" / "mqlscore-service").glob("*/bento.yaml"))
    assert len(bentos) == 1
    root = bentos[0].parent
    requirements = (root / "env" / "python" / "requirements.txt").read_text()
    assert "bentoml==1.4.40" in requirements and "lightgbm==" in requirements and "pandas==" in requirements
    assert (root / "src" / "mqlscore" / "scoring.py").is_file() and (root / "src" / "service.py").is_file()
    meta = bentos[0].read_text()
    assert f"registered_model: {MODEL_NAME}" in meta and "registered_version: '1'" in meta


def test_sync_http_client_with_and_without_key(server) -> None:
    import bentoml
    from bentoml.exceptions import BentoMLException

    with bentoml.SyncHTTPClient(server["url"], token=KEY) as client:
        out = client.score(leads=[EXAMPLE], as_of="2026-02-01T00:00:00Z")
    (s,) = out["scores"]
    assert s["lead_id"] == "L-HTTP" and 0 < s["probability"] < 1 and s["tier"] in "ABCD" and s["reasons"]
    assert s["model_name"] == MODEL_NAME and s["model_version"] == "1"
    with bentoml.SyncHTTPClient(server["url"]) as anonymous:  # the schema is public, scoring is not
        with pytest.raises(BentoMLException) as info:
            anonymous.score(leads=[EXAMPLE])
    assert info.value.error_code == 401


def test_plain_http(server) -> None:
    url = server["url"]
    ok = _post(url, {"leads": [EXAMPLE], "as_of": "2026-02-01T00:00:00Z"}, {"X-API-Key": KEY})
    assert ok.status_code == 200 and ok.json()["scores"][0]["lead_id"] == "L-HTTP"
    assert ok.headers["x-request-id"]
    assert _post(url, {"leads": [EXAMPLE]}, {}).status_code == 401
    assert _post(url, {"leads": [EXAMPLE]}, {"Authorization": "Bearer not-the-key-not-the-key"}).status_code == 401
    for path in ("/healthz", "/livez", "/readyz", "/metrics", "/schema.json"):
        assert httpx.get(url + path, timeout=10).status_code == 200, path
    assert httpx.get(f"{url}/model", timeout=10).status_code == 401


def test_model_route_over_http(server) -> None:
    r = httpx.get(f"{server['url']}/model", headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
    assert r.status_code == 200
    info = r.json()
    assert info["name"] == MODEL_NAME and info["version"] == "1" and info["trained_at"]
    assert info["horizon_days"] == 90 and info["threshold"]["policy"] and info["validation_metrics"]["roc_auc"] > 0.6
    assert info["n_features"] == len(info["features"]) > 50
    assert info["source"]["registered_model"] == MODEL_NAME and info["limits"]["max_leads_per_request"] == 2000


@pytest.mark.parametrize("body,status,field", [
    (b"{not json", 400, "body"),
    ({"leads": []}, 400, "leads"),
    ({"leads": [{**EXAMPLE, "employee_count": [1]}]}, 400, "leads[0].employee_count"),
    ({"leads": [{k: v for k, v in EXAMPLE.items() if k != "lead_id"}]}, 400, "leads[0].lead_id"),
    ({"leads": [{**EXAMPLE, "activities": [{"occurred_at": "31/01/2026", "activity_type": "page_view"}]}]}, 422,
     "leads[0].activities[0].occurred_at"),
    ({"leads": [{**EXAMPLE, "bed_count": -1}]}, 422, "leads[0].bed_count"),
], ids=["malformed-json", "empty-list", "wrong-type", "missing-lead-id", "bad-timestamp", "negative-count"])
def test_bad_input_over_http(server, body, status, field) -> None:
    r = _post(server["url"], body)
    assert r.status_code == status, r.text
    assert field in [p["field"] for p in r.json()["problems"]]


def test_an_activity_after_as_of_is_ignored_with_a_warning_over_http(server) -> None:
    r = _post(server["url"], {"leads": [EXAMPLE], "as_of": "2026-01-21T00:00:00Z"})
    assert r.status_code == 200, r.text
    assert [w["field"] for w in r.json()["warnings"]] == ["leads[0].activities[1].occurred_at"]


def test_unknown_values_score_normally_over_http(server) -> None:
    odd = {**EXAMPLE, "org_type": "moon_base", "activities": [
        {"occurred_at": "2026-01-20T00:00:00Z", "activity_type": "tiktok_like", "detail": None}]}
    r = _post(server["url"], {"leads": [odd], "as_of": "2026-02-01T00:00:00Z"})
    assert r.status_code == 200, r.text


def test_same_numbers_as_batch_scoring_over_http(server, store: Path, demo_export: Path) -> None:
    from mqlscore.contract import load_folder
    from mqlscore.scoring import ScoringModel

    dataset = load_folder(demo_export)
    model = ScoringModel.load(store / "scoring_model")
    model.metadata.update(model_name=MODEL_NAME, model_version="1")
    rows, leads = parity_case(dataset, n=300, seed=5)
    r = _post(server["url"], {"leads": leads, "as_of": dataset.as_of.isoformat()})
    assert r.status_code == 200, r.text[:500]
    assert_same_scores(r.json()["scores"], model.score(dataset.leads, dataset.activities, rows))


def test_server_log_has_request_lines_without_personal_data(server) -> None:
    lead = {**EXAMPLE, "lead_id": "L-LOG", "email": "grace.hopper@navy-health.example",
            "job_title": "Chief Digital Health Officer", "first_name": "Grace"}
    r = _post(server["url"], {"leads": [lead], "as_of": "2026-02-01T00:00:00Z"}, {"X-API-Key": KEY,
                                                                                  "X-Request-ID": "log-check-1"})
    assert r.status_code == 200
    time.sleep(0.5)
    text = server["log"].read_text()
    line = next(ln for ln in text.splitlines() if "request_id=log-check-1" in ln)
    assert "status=200" in line and "ms=" in line and "leads=1" in line and "activities=2" in line
    for secret in ("grace.hopper", "Grace", "Chief Digital Health Officer"):
        assert secret not in text


def test_metrics_stay_small_whatever_paths_strangers_ask_for(server) -> None:
    # Every distinct unknown path had become its own Prometheus series (5,000 random paths
    # took /metrics from 64 KB to 40 MB): requests are labelled by route, "other" for the rest.
    url = server["url"]
    with httpx.Client(base_url=url, timeout=30) as http:
        assert _post(url, {"leads": [EXAMPLE], "as_of": "2026-02-01T00:00:00Z"}).status_code == 200
        before = http.get("/metrics").text
        probes = [f"/no-such-route/{uuid.uuid4().hex}" for _ in range(2_000)]
        for path in probes:
            assert http.get(path).status_code == 401
        for path in ("/score/", "/ui/static/nothing-here.js", "/model"):
            http.get(path)
        t0 = time.perf_counter()
        after = http.get("/metrics").text
        scrape = time.perf_counter() - t0
    assert len(after) < 256 * 1024 and len(after) - len(before) < 8 * 1024, len(after)  # was 9 MB here
    assert scrape < 1.0
    assert not any(p in after for p in probes[:50]) and "no-such-route" not in after

    def total(text: str, endpoint: str, code: str) -> float:
        found = re.search(r'request_total\{endpoint="%s",http_response_code="%s"[^}]*\} ([0-9.e+]+)'
                          % (re.escape(endpoint), code), text)
        return float(found.group(1)) if found else 0.0

    assert total(after, "other", "401") - total(before, "other", "401") >= 2_001
    assert total(after, "/ui/static/{name}", "401") >= 1 and total(after, "/model", "401") >= 1
    assert total(after, "/score", "200") >= 1  # known routes are still counted by name


def test_a_path_cannot_forge_a_log_line_or_leave_personal_data(server) -> None:
    # A path is logged as its route: a %0a no longer starts a line of its own, an email in a
    # URL no longer lands in the log.
    path = "/ui/x%0aINJECTED%20request_id=forged%20status=200%0d%0a/jane.doe%40example-clinic.org/%E2%80%A8end"
    for request_id, headers in (("forge-1", {}), ("forge-2", {"Authorization": f"Bearer {KEY}"})):
        r = httpx.get(server["url"] + path, headers={"X-Request-ID": request_id, **headers}, timeout=10)
        assert r.status_code in (401, 404)
    text = ""
    for _ in range(20):
        time.sleep(0.25)
        text = server["log"].read_text()
        if "request_id=forge-2" in text:
            break
    for request_id in ("forge-1", "forge-2"):
        lines = [ln for ln in text.splitlines() if f"request_id={request_id} " in ln]
        assert len(lines) == 1 and " path=other " in lines[0], lines
    for leaked in ("INJECTED", "request_id=forged", "jane.doe", "example-clinic", "\r", "\u2028"):
        assert leaked not in text, leaked


def _raw(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)), timeout=60)
    return conn


def _until_closed(conn: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    t0, data = time.monotonic(), b""
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except OSError:
        pass
    finally:
        conn.close()
    return data, time.monotonic() - t0


def test_slow_and_half_sent_connections_are_cut_off(server) -> None:
    # uvicorn timed out only idle keep-alive connections: a connection that sent nothing or
    # half its headers stayed open forever, and a trickled body held a worker until 504.
    from mqlscore.serving.timeouts import BODY_IDLE_SECONDS, HEADER_SECONDS, KEEP_ALIVE_SECONDS

    url, results = server["url"], {}
    opening = {
        "nothing sent": b"",
        "half the headers": b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: appl",
        "half the body": (b"POST /score HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode()
                          + b"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"leads\": ["),
        "idle after a response": b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    }

    def client(name: str, first: bytes) -> None:
        conn = _raw(url)
        if first:
            conn.sendall(first)
        results[name] = _until_closed(conn)

    threads = [threading.Thread(target=client, args=item) for item in opening.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    data, seconds = results["nothing sent"]
    assert data == b"" and HEADER_SECONDS - 1 <= seconds <= HEADER_SECONDS + 5, results
    data, seconds = results["half the headers"]
    assert data.startswith(b"HTTP/1.1 408 ") and seconds <= HEADER_SECONDS + 5, results
    data, seconds = results["half the body"]
    assert data.startswith(b"HTTP/1.1 408 ") and b"connection: close" in data.lower(), results
    assert BODY_IDLE_SECONDS - 1 <= seconds <= BODY_IDLE_SECONDS + 5, results
    data, seconds = results["idle after a response"]
    assert data.startswith(b"HTTP/1.1 200 ") and seconds <= KEEP_ALIVE_SECONDS + 3, results
    assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200  # the worker serves on


def test_start_up_fails_without_a_key(built: dict[str, Any]) -> None:
    code, out = _start_failure([str(BIN / "bentoml"), "serve", "mqlscore-service:latest", "--port",
                                str(free_port())], built["env"], built["home"])
    assert code != 0 and "no API key" in out
    from typer.testing import CliRunner

    from mqlscore.cli import app

    result = CliRunner().invoke(app, ["serve"], env={"MQLSCORE_API_KEY": "", "MQLSCORE_API_KEY_FILE": "",
                                                     "MQLSCORE_DEV": ""})
    assert result.exit_code == 1 and "no API key" in result.output


def test_start_up_fails_on_a_missing_model(built: dict[str, Any], tmp_path: Path) -> None:
    env = {**built["env"], "BENTOML_HOME": str(tmp_path / "empty-home"), "MQLSCORE_API_KEY": KEY}
    code, out = _start_failure([str(BIN / "bentoml"), "serve", "service:MQLScore", "--port", str(free_port())],
                               env, REPO / "bento")
    assert code != 0 and "not in the BentoML model store" in out and "mqlscore build" in out


def test_start_up_fails_on_a_corrupt_model(built: dict[str, Any], tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(built["home"], home, ignore=shutil.ignore_patterns("*.log"))
    (model_json,) = (home / "models").glob("*/*/scoring_model/model.json")
    model_json.write_text(model_json.read_text()[:5000])  # truncated
    env = {**built["env"], "BENTOML_HOME": str(home), "MQLSCORE_API_KEY": KEY}
    code, out = _start_failure([str(BIN / "bentoml"), "serve", "mqlscore-service:latest", "--port",
                                str(free_port())], env, home)
    assert code != 0 and "cannot load the scoring model" in out


def test_build_says_clearly_when_no_model_is_registered(tmp_path: Path) -> None:
    env = {**base_env(tmp_path / "home", tmp_path), **OFFLINE}
    done = subprocess.run([str(BIN / "mqlscore"), "build"], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert "train one first" in done.stdout + done.stderr and "Traceback" not in done.stdout + done.stderr
