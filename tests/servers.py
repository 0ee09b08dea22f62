"""Helpers for tests that run the service as a real server (``mqlscore build`` and
``mqlscore serve``): shared by ``conftest.py``'s session fixtures,
``test_service_http.py`` and ``test_ui_browser.py``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
# Anything that tries the network during the build fails fast instead of hanging.
OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "ALL_PROXY": "http://127.0.0.1:9",
           "NO_PROXY": "127.0.0.1,localhost", "UV_OFFLINE": "1", "PIP_NO_INDEX": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(home: Path, store: Path) -> dict[str, str]:
    """The server's environment: BentoML and MLflow in temporary folders, nothing inherited from MQLSCORE_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MQLSCORE_", "BENTOML_"))}
    env.update({"BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true",
                "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}", "PYTHONUNBUFFERED": "1"})
    return env


def build(store: Path, home: Path, config: Path, model_name: str) -> dict[str, Any]:
    """``mqlscore build`` against the registry in ``store``, with the network cut off."""
    config.write_text(f"train:\n  model_name: {model_name}\nservice:\n  max_leads_per_request: 2000\n")
    env = {**base_env(home, store), **OFFLINE}
    t0 = time.perf_counter()
    done = subprocess.run([str(BIN / "mqlscore"), "build", "--config", str(config)], env=env, cwd=config.parent,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return {"home": home, "env": base_env(home, store), "seconds": time.perf_counter() - t0,
            "output": done.stdout + done.stderr}


def serve(built: dict[str, Any], key: str, extra_args: tuple[str, ...] = ()) -> Iterator[dict[str, Any]]:
    """``mqlscore serve`` (which becomes ``bentoml serve``) on a free port until the generator is closed."""
    import httpx
    import pytest

    port = free_port()
    env = {**built["env"], "MQLSCORE_API_KEY": key}
    log = built["home"] / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(BIN / "mqlscore"), "serve", "--port", str(port), "--workers", "1",
                                 *extra_args], env=env, cwd=built["home"], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"server not ready after 90 s:\n{log.read_text()[-3000:]}")
        time.sleep(0.25)
    try:
        yield {"url": url, "log": log, "proc": proc}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
