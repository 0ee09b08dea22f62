"""The lead store's scorer in a process of its own, beside the service's workers.

Scoring changed leads (a model call, ``mql_since`` and a ``mql_until`` search for
each MQL) costs far more CPU than acknowledging their events. Run in a worker, it
competes with the requests for the worker's interpreter: an acknowledgement could
wait behind a whole scoring pass. So the service runs one scorer process, started
and watched by the first worker, at the lowest CPU priority (Linux's idle class,
else ``nice``): requests come first, and the scorer uses what they leave. The worker wakes it through its stdin
when events arrive (it also looks every ``scan_seconds``), and it exits when that
pipe closes, so it never outlives the service.

Run by the worker as ``python -m mqlscore.serving.scorer_process --model FOLDER``;
the store's URL and clock come in the environment, as the worker's do.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from mqlscore.store.clock import Clock, ShiftedClock
from mqlscore.store.location import CLOCK_ANCHOR_ENV, service_clock, store_url

log = logging.getLogger("mqlscore.store")
SCORER_ENV = "MQLSCORE_STORE_SCORER"  # "process" (the served default), "thread" or "off"
SCORER_MODES = ("process", "thread", "off")
SCORER_STATUS_META = "scorer_status"  # the scorer process's health, for GET /model (JSON)
MAX_RESTART_WAIT_S = 60.0


def scorer_mode(configured: str) -> str:
    """How the served store is scored: ``MQLSCORE_STORE_SCORER``, else the settings'."""
    mode = os.environ.get(SCORER_ENV, "").strip().lower() or configured
    if mode not in SCORER_MODES:
        raise ValueError(f"{SCORER_ENV} must be one of {', '.join(SCORER_MODES)}, got {mode!r}")
    return mode


def clock_environment(clock: Clock) -> dict[str, str]:
    """What the scorer process needs to keep the worker's time: a shifted clock's anchor."""
    if isinstance(clock, ShiftedClock):
        return {CLOCK_ANCHOR_ENV: clock.anchor.isoformat()}
    return {}


class ScorerProcess:
    """Starts the scorer process, wakes it, restarts it if it dies, and stops it."""

    def __init__(self, model_folder: Path | str, clock: Clock, nice: int = 10) -> None:
        self.model_folder = Path(model_folder)
        self.clock = clock
        self.nice = nice
        self.restarts = 0
        self._proc: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher = threading.Thread(target=self._watch, name="mqlscore-scorer-watch", daemon=True)

    def start(self) -> ScorerProcess:
        """Start the process and the thread that restarts it when it dies."""
        self._spawn()
        self._watcher.start()
        return self

    @property
    def pid(self) -> int | None:
        """The running scorer's process id."""
        proc = self._proc
        return None if proc is None or proc.poll() is not None else proc.pid

    def wake(self) -> None:
        """Tell the scorer that events came in (it looks at once instead of at its next scan)."""
        proc = self._proc
        if proc is None or proc.stdin is None:
            return
        with self._lock:
            try:
                proc.stdin.write(b"\n")
                proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                pass  # it died; the watcher starts another, which looks at once anyway

    def stop(self, timeout: float = 15.0) -> None:
        """Close its pipe (it finishes the pass it is in and exits), then wait; kill it if it hangs."""
        self._stopping.set()
        proc = self._proc
        if proc is None:
            return
        with self._lock:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
            except OSError:
                pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _spawn(self) -> None:
        env = {**os.environ, **clock_environment(self.clock)}
        # The code this worker runs (a built bento carries its own copy of the package).
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
        command = [sys.executable, "-m", "mqlscore.serving.scorer_process", "--model", str(self.model_folder),
                   "--nice", str(self.nice)]
        self._proc = subprocess.Popen(command, stdin=subprocess.PIPE, env=env)
        log.info("store scorer process started (pid %d, nice %d)", self._proc.pid, self.nice)

    def _watch(self) -> None:
        wait = 1.0
        while not self._stopping.wait(1.0):
            proc = self._proc
            if proc is None or proc.poll() is None:
                continue
            if self._stopping.is_set():
                return
            log.warning("store scorer process exited with status %s; starting another in %.0f s",
                        proc.returncode, wait)
            if self._stopping.wait(wait):
                return
            self.restarts += 1
            wait = min(wait * 2, MAX_RESTART_WAIT_S)
            try:
                self._spawn()
            except OSError as exc:
                log.warning("store scorer process cannot start: %s", exc)


def lower_priority(nice: int) -> str:
    """Run below the workers: on Linux as an idle-class process (``SCHED_IDLE``: it gets a
    core only when no worker, database or other process wants it, so a request never
    waits for it), elsewhere ``nice``d. What it got, for the log."""
    if nice <= 0:
        return "normal"
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return "idle class (SCHED_IDLE)"
        except OSError:
            pass
    if hasattr(os, "nice"):
        os.nice(nice)
        return f"nice {nice}"
    return "normal"


def _status_writer(store: Any) -> Any:
    def write(error: str | None) -> None:
        store.set_meta(SCORER_STATUS_META, json.dumps({"pid": os.getpid(), "error": error,
                                                       "at": time.time()}))
    return write


def _read_wakes(stream: IO[bytes], thread: Any, done: threading.Event) -> None:
    for _ in iter(stream.readline, b""):
        thread.wake()
    done.set()  # end of the pipe: the worker that started us is gone or stopping


def main(argv: list[str] | None = None) -> int:
    """The scorer process: load the model, open the store, score until stdin closes."""
    parser = argparse.ArgumentParser(prog="python -m mqlscore.serving.scorer_process")
    parser.add_argument("--model", required=True, help="the model folder the workers loaded")
    parser.add_argument("--nice", type=int, default=10, help="CPU priority below the workers'")
    args = parser.parse_args(argv)
    priority = lower_priority(args.nice)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from mqlscore.serving.engine import ScoringEngine
    from mqlscore.store.repository import LeadStore
    from mqlscore.store.scorer import ScorerThread, StoreScorer

    engine = ScoringEngine.from_folder(args.model)
    config = engine.config.store
    url = store_url(config)
    clock = service_clock()
    store = LeadStore(url, config)
    scorer = StoreScorer(store, engine.model, clock, config)
    status = _status_writer(store)
    status(None)
    thread = ScorerThread(scorer, before_first=scorer.process_model_change, on_status=status).start()
    done = threading.Event()
    threading.Thread(target=_read_wakes, args=(sys.stdin.buffer, thread, done), daemon=True).start()
    log.info("store scorer for %s on %s (clock %r; CPU priority: %s)", scorer.model_key, store.location, clock,
             priority)
    done.wait()
    thread.stop()
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
