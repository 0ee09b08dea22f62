"""A shared MLflow for teams (issue 15): ``mqlscore`` against a real ``mlflow server`` whose backend
store is PostgreSQL and whose artifacts are in a folder, every step through
``MLFLOW_TRACKING_URI=http://127.0.0.1:PORT``; and the promotion gate when two trainings finish at
the same time (``--promote if-better``): the better model holds the champion alias at the end,
whichever way they interleave, and the alias never points at a version that is not ``READY``.

PostgreSQL and ``mlflow server`` are started here on 127.0.0.1 (``support.postgres_server``,
``support.mlflow_server``) and stopped afterwards; the tests skip with the reason when they cannot
start, or fail when ``MQLSCORE_REQUIRE_POSTGRES=1`` (as ``make test`` sets where PostgreSQL is
installed). The races are forced with the documented seam ``mqlscore.registry.gate_hook``: two
threads each register a real trained model, and the hook holds them at chosen points of the gate.

The default suite (``-m "not slow"``) runs the end-to-end test, one forced race on SQLite and one
on the server, and the READY checks on the server and for a version that never becomes READY;
the other interleavings and the SQLite READY wait are marked slow (``make test-all`` runs them).
One server, one PostgreSQL database and one set of trained models serve the whole module.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mqlscore.config import FeatureConfig, Settings, TrainConfig
from mqlscore.contract import load_folder
from mqlscore.contract.schema import CHAMPION_ALIAS, champion_uri

REQUIRE_POSTGRES_ENV = "MQLSCORE_REQUIRE_POSTGRES"
FAST = {"estimate_half_lives": False, "refit": False}  # as `train --no-refit`, without the report's half-lives
# a log loss, and the gate's note on which rows it compared on
FIGURE = r"[0-9.]+(?: \([^)]*\))?"
WAIT = 240.0  # seconds a held training waits for the other before the test gives up on the interleaving


# ---------------------------------------------------------------------------
# The server, the data and three models of different quality
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_server(postgres_url: str, tmp_path_factory: pytest.TempPathFactory):
    """``mlflow server`` on 127.0.0.1 with its store in a fresh PostgreSQL database and its
    artifacts in a folder served through it; stopped at the module's end."""
    from support import MlflowServerUnavailable, cannot_start, fresh_database, mlflow_server

    with ExitStack() as stack:
        try:
            t0 = time.perf_counter()
            server = stack.enter_context(mlflow_server(fresh_database(postgres_url),
                                                       tmp_path_factory.mktemp("mlflow-server")))
        except MlflowServerUnavailable as exc:
            cannot_start("mlflow server", exc, REQUIRE_POSTGRES_ENV)
        server["start_seconds"] = time.perf_counter() - t0
        yield server


@pytest.fixture(scope="module")
def dataset(small_export: Path):
    return load_folder(small_export)


def fast_settings(model_name: str, **train: Any) -> Settings:
    return Settings(train=TrainConfig(model_name=model_name, experiment=f"exp-{model_name}", **FAST, **train))


@pytest.fixture(scope="module")
def models(dataset) -> dict[str, Any]:
    """Three real trainings on the same export (seeded, so the same figures every run): ``strong``
    (the default: LightGBM is the champion), ``weak`` (only the scorecard) and ``old`` (a scorecard
    that forgets activity within a day: the champion the two find in place)."""
    from mqlscore.training import gate_figures, train

    out = {
        "strong": train(dataset, fast_settings("m")),
        "weak": train(dataset, fast_settings("m", gbm_min_conversions=100_000)),
        "old": train(dataset, Settings(train=TrainConfig(model_name="m", gbm_min_conversions=100_000, **FAST),
                                       features=FeatureConfig(half_lives_days=(0.01,), windows_days=(1,),
                                                              page_rules=()))),
    }
    # The premise, not the thing under test: seen from either training's gate rows the order is
    # strong < weak < old in log loss, so "the better one" is well defined.
    for better, worse in (("strong", "weak"), ("strong", "old"), ("weak", "old")):
        ahead = gate_figures(out[better], dataset, out[worse].scoring_model)
        behind = gate_figures(out[worse], dataset, out[better].scoring_model)
        assert ahead.new_log_loss < ahead.champion_log_loss, (better, worse, ahead)
        assert behind.champion_log_loss < behind.new_log_loss, (better, worse, behind)
    return out


@pytest.fixture
def on_server(shared_server: dict, monkeypatch: pytest.MonkeyPatch) -> str:
    """This process's MLflow pointed at the shared server."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shared_server["url"])
    return shared_server["url"]


# ---------------------------------------------------------------------------
# 1. Every step of mqlscore against the server
# ---------------------------------------------------------------------------


def test_train_register_promote_build_and_score_against_a_shared_server(shared_server, small_export, dataset, models,
                                                                        tmp_path, monkeypatch) -> None:
    """The first champion is registered on the server from this process (the weak model, through
    the same ``training.register`` the CLI calls); then ``mqlscore train``, ``score`` and ``build``
    run as processes against the server: the trained model beats the champion and is promoted,
    scores come from it and the bento is built from it."""
    from mlflow import MlflowClient

    from support import OFFLINE, base_env, mqlscore_cli

    from mqlscore.batch import score_open_leads
    from mqlscore.registry import GATE_DONE, GATE_TAG, load_scoring_model
    from mqlscore.training import register

    url, name, times = shared_server["url"], "team-mql", {"server_start": shared_server["start_seconds"]}
    work = tmp_path / "work"
    work.mkdir()
    (work / "strong.yaml").write_text(f"train:\n  model_name: {name}\n  estimate_half_lives: false\n"
                                      "service:\n  max_leads_per_request: 2000\n")
    env = {**base_env(tmp_path / "bentoml", tmp_path), "MLFLOW_TRACKING_URI": url}

    def cli(step: str, *args: str, extra: dict[str, str] | None = None) -> str:
        t0 = time.perf_counter()
        out = mqlscore_cli(list(args), {**env, **(extra or {})}, work)
        times[step] = time.perf_counter() - t0
        return " ".join(out.split())  # the console may wrap long lines

    t0 = time.perf_counter()
    with monkeypatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", url)
        first = register(models["weak"], dataset, Settings(train=TrainConfig(model_name=name, **FAST)))
    times["register_weak"] = time.perf_counter() - t0
    assert first.version == "1" and first.promoted and first.decision == "no champion yet: v1 is now the champion"
    second = cli("train_strong", "train", "--data", str(small_export), "--no-refit", "--config", "strong.yaml",
                 "--report-dir", "strong-report")
    assert f"Registered as models:/{name}/2; validation log loss" in second and "vs champion v1" in second
    assert "better, v2 is now the champion." in second

    client = MlflowClient(url, registry_uri=url)
    assert str(client.get_model_version_by_alias(name, CHAMPION_ALIAS).version) == "2"
    for version in ("1", "2"):
        found = client.get_model_version(name, version)
        assert found.status == "READY" and found.tags.get(GATE_TAG) == GATE_DONE
        run = client.get_run(found.run_id)
        assert run.info.status == "FINISHED" and run.data.tags["registered_version"] == version
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # served by the server, not a local path
        # the model (and, from `mqlscore train`, the report) went to the server's artifact folder
        artifacts = shared_server["artifacts"] / run.info.experiment_id / run.info.run_id / "artifacts"
        assert (artifacts / "data_fingerprint.json").is_file()
        assert (artifacts / "report" / "model_card.md").is_file() == (version == "2")
    assert client.get_run(client.get_model_version(name, "2").run_id).data.tags["promoted"] == "True"
    # nothing fell back to the embedded SQLite store or to a local artifact folder
    assert not (work / "mlflow.db").exists() and not (work / "mlruns").exists()

    cli("score", "score", "--data", str(small_export), "--out", "scores.csv", "--config", "strong.yaml")
    scored = pd.read_csv(work / "scores.csv")
    assert len(scored) > 100 and set(scored["model_name"]) == {name} and set(scored["model_version"]) == {2}
    # the champion loaded in this process through the server scores the same
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    model = load_scoring_model(champion_uri(name))
    assert model.metadata["model_version"] == "2"
    again = score_open_leads(model, dataset).set_index("lead_id").loc[scored["lead_id"]]
    assert np.abs(again["probability"].to_numpy() - scored["probability"].to_numpy()).max() < 1e-9

    built = cli("build", "build", "--config", "strong.yaml", extra=OFFLINE)
    assert "Built bento mqlscore-service:" in built and f"{name} v2" in built
    print("\nshared MLflow timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in times.items()))


# ---------------------------------------------------------------------------
# 2. Two trainings promoting at the same time
# ---------------------------------------------------------------------------


@dataclass
class Interleaving:
    """How the two trainings are held. ``waits[(who, event)]``: at that gate event (see
    ``mqlscore.registry.gate_hook``) ``who`` waits until each listed ``(other, event)`` has
    happened; ``start_after[who]``: its thread starts only once that event has happened."""

    name: str
    waits: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    start_after: dict[str, tuple[str, str]] = field(default_factory=dict)


BOTH_READ = {("strong", "read"): [("weak", "read")], ("weak", "read"): [("strong", "read")]}
INTERLEAVINGS = [
    # both read the old champion before either sets the alias, then run freely
    Interleaving("both-read-the-old-champion", dict(BOTH_READ)),
    # ... and the better one has set the alias and finished before the worse one would set it
    # (a gate that reads, compares and sets leaves the worse one champion: the last writer wins)
    Interleaving("better-finishes-first", {**BOTH_READ, ("weak", "write"): [("strong", "done")]}),
    # ... and the worse one has finished before the better one sets it
    Interleaving("worse-finishes-first", {**BOTH_READ, ("strong", "write"): [("weak", "done")]}),
    # the worse one has decided and is about to set the alias when the better one registers,
    # promotes itself and finishes; then the worse one's write lands last
    Interleaving("worse-writes-last", {("weak", "write"): [("strong", "done")]},
                 {"strong": ("weak", "write")}),
    # the mirror image: the better one's write lands last
    Interleaving("better-writes-last", {("strong", "write"): [("weak", "done")]},
                 {"weak": ("strong", "write")}),
]


def race(models: dict[str, Any], dataset: Any, model_name: str, plan: Interleaving,
         monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Register ``old`` as the champion, then register ``strong`` and ``weak`` from two threads
    (``mqlscore.training.register``, ``--promote if-better``) held as ``plan`` says. Returns the
    registrations, the gate events in order and anything that went wrong on the way."""
    from mlflow import MlflowClient

    import mqlscore.registry as registry
    from mqlscore.training import register

    settings = fast_settings(model_name)
    old = register(models["old"], dataset, settings, promote="always")
    client, lock = MlflowClient(), threading.Lock()
    happened: dict[tuple[str, str], threading.Event] = {}
    events: list[tuple[str, str, str]] = []
    problems: list[str] = []

    def event(key: tuple[str, str]) -> threading.Event:
        with lock:
            return happened.setdefault(key, threading.Event())

    def hook(what: str, version: str) -> None:
        who = threading.current_thread().name
        with lock:
            events.append((who, what, version))
        if what == "write":  # the version about to receive the alias must be READY
            status = client.get_model_version(model_name, version).status
            if status != "READY":
                problems.append(f"{who} was about to alias v{version} while it was {status}")
        event((who, what)).set()
        for key in plan.waits.get((who, what), ()):
            if not event(key).wait(WAIT):
                problems.append(f"{who} waited {WAIT:.0f} s at {what} for {key} in vain")

    monkeypatch.setattr(registry, "gate_hook", hook)
    results: dict[str, Any] = {}

    def run(who: str) -> None:
        try:
            results[who] = register(models[who], dataset, settings, promote="if-better")
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            results[who] = exc

    threads = {who: threading.Thread(target=run, args=(who,), name=who, daemon=True) for who in ("weak", "strong")}
    for who in sorted(threads, key=lambda w: w in plan.start_after):
        if who in plan.start_after and not event(plan.start_after[who]).wait(WAIT):
            problems.append(f"{plan.start_after[who]} never happened: {who} not started")
        threads[who].start()
    for thread in threads.values():
        thread.join(2 * WAIT)
    assert not any(t.is_alive() for t in threads.values()), f"a training hangs; events so far: {events}"
    for who, result in results.items():
        if isinstance(result, BaseException):
            raise AssertionError(f"the {who} training failed; events: {events}") from result
    return {"old": old, **results, "events": events, "problems": problems}


def check_race(out: dict[str, Any], model_name: str) -> None:
    """The better model is the champion, every version READY and its gate finished, and each
    decision says what happened."""
    from mlflow import MlflowClient

    from mqlscore.registry import GATE_DONE, GATE_TAG

    client = MlflowClient()
    strong, weak, old = out["strong"], out["weak"], out["old"]
    where = f"events: {out['events']}\nstrong: {strong.decision}\nweak: {weak.decision}"
    assert not out["problems"], f"{out['problems']}\n{where}"
    champion = str(client.get_model_version_by_alias(model_name, CHAMPION_ALIAS).version)
    assert champion == strong.version, where
    assert strong.promoted and not weak.promoted, where
    for version in (strong.version, weak.version):
        found = client.get_model_version(model_name, version)
        assert found.status == "READY" and found.tags.get(GATE_TAG) == GATE_DONE, where
    # both trainings compared themselves with the old champion and found themselves better ...
    for reg in (strong, weak):
        assert re.search(rf"vs champion v{old.version} {FIGURE}: better", reg.decision), where
    # ... the worse one with the better one too, and lost; the better one says it is the champion
    assert re.search(rf"vs v{strong.version} {FIGURE}: not better", weak.decision), where
    assert re.search(rf"v{strong.version} (is now the champion|stays the champion|is the champion again)$",
                     strong.decision), where
    for reg in (strong, weak):  # the run's tags say the same as the registration
        tags = client.get_run(reg.run_id).data.tags
        assert tags["promotion_decision"] == reg.decision and tags["promoted"] == str(reg.promoted)


# In the default suite: the classic last-writer-wins race here (on SQLite) and the hand-back on the
# server; every other interleaving runs with the slow tests (`make test-all`).
DEFAULT_SQLITE_RACE, DEFAULT_SERVER_RACE = "better-finishes-first", "worse-writes-last"


def plans(default: str) -> list[Any]:
    """Every interleaving, those other than ``default`` marked slow."""
    return [pytest.param(p, id=p.name, marks=() if p.name == default else pytest.mark.slow) for p in INTERLEAVINGS]


@pytest.mark.parametrize("plan", plans(DEFAULT_SQLITE_RACE))
def test_two_trainings_promoting_at_once_leave_the_better_champion_sqlite(plan, models, dataset, tmp_path,
                                                                          monkeypatch) -> None:
    from support import tracking_store

    with tracking_store(tmp_path):
        name = f"race-{plan.name}"
        out = race(models, dataset, name, plan, monkeypatch)
        check_race(out, name)
    if plan.name == "worse-writes-last":  # the worse one did write, then handed the alias back
        assert ("weak", "write", out["strong"].version) in out["events"]
        assert f"handed the champion alias to v{out['strong'].version}, which beat it" in out["weak"].decision


@pytest.mark.parametrize("plan", [p for p in plans(DEFAULT_SERVER_RACE)
                                  if p.values[0].name in ("both-read-the-old-champion", DEFAULT_SERVER_RACE)])
def test_two_trainings_promoting_at_once_leave_the_better_champion_on_the_server(plan, models, dataset, on_server,
                                                                                 monkeypatch) -> None:
    name = f"race-{plan.name}"
    out = race(models, dataset, name, plan, monkeypatch)
    check_race(out, name)


# ---------------------------------------------------------------------------
# 3. Only a READY version becomes the champion
# ---------------------------------------------------------------------------


def set_status(store: str, model_name: str, version: str, status: str) -> None:
    """Change a model version's registration status in the registry's database, as a registry
    that registers asynchronously shows it (``PENDING_REGISTRATION`` first)."""
    if store.startswith("sqlite:///"):
        with sqlite3.connect(store.removeprefix("sqlite:///")) as db:
            db.execute("UPDATE model_versions SET status = ? WHERE name = ? AND version = ?",
                       (status, model_name, int(version)))
        return
    import psycopg

    with psycopg.connect(store, autocommit=True) as conn:
        conn.execute("UPDATE model_versions SET status = %s WHERE name = %s AND version = %s",
                     (status, model_name, int(version)))


def pending_then_ready(models, dataset, store: str, model_name: str, monkeypatch, ready_after: float | None):
    """Register ``old`` as the champion, then ``strong`` (if-better) with its version held
    ``PENDING_REGISTRATION`` for ``ready_after`` seconds (None: for ever), while a watcher reads
    the alias every 50 ms. Returns (registration or exception, what the watcher saw go wrong,
    the champion at the end, the old registration)."""
    from mlflow import MlflowClient

    import mqlscore.registry as registry
    from mqlscore.training import register

    settings = fast_settings(model_name)
    old = register(models["old"], dataset, settings, promote="always")
    client, seen_wrong, stop = MlflowClient(), [], threading.Event()

    def hook(what: str, version: str) -> None:
        if what == "registered":
            set_status(store, model_name, version, "PENDING_REGISTRATION")
            if ready_after is not None:
                threading.Timer(ready_after, set_status, (store, model_name, version, "READY")).start()
        elif what == "write":  # the version about to receive the alias
            status = client.get_model_version(model_name, version).status
            if status != "READY":
                seen_wrong.append(f"about to alias v{version} while {status}")

    def watch() -> None:
        while not stop.is_set():
            try:
                held = client.get_model_version_by_alias(model_name, CHAMPION_ALIAS)
                if held.status != "READY":
                    seen_wrong.append(f"v{held.version} {held.status}")
            except Exception:  # noqa: BLE001 - the alias is read while it moves
                pass
            time.sleep(0.05)

    monkeypatch.setattr(registry, "gate_hook", hook)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        outcome: Any = register(models["strong"], dataset, settings, promote="if-better")
    except Exception as exc:  # noqa: BLE001 - returned to the test
        outcome = exc
    finally:
        stop.set()
        watcher.join(10)
    champion = str(client.get_model_version_by_alias(model_name, CHAMPION_ALIAS).version)
    return outcome, seen_wrong, champion, old


@pytest.mark.slow  # the same wait is checked on the server in the default suite
def test_the_alias_waits_for_a_ready_version_sqlite(models, dataset, tmp_path, monkeypatch) -> None:
    from support import tracking_store

    with tracking_store(tmp_path):
        store = os.environ["MLFLOW_TRACKING_URI"]
        t0 = time.perf_counter()
        registration, wrong, champion, _ = pending_then_ready(models, dataset, store, "pending-ok", monkeypatch, 2.0)
        assert not isinstance(registration, Exception), registration
        assert not wrong and registration.promoted and champion == registration.version
        assert time.perf_counter() - t0 > 2.0  # it did wait


def test_a_version_that_never_becomes_ready_is_not_promoted(models, dataset, tmp_path, monkeypatch) -> None:
    import mqlscore.registry as registry
    from support import tracking_store

    monkeypatch.setattr(registry, "READY_TIMEOUT_SECONDS", 1.5)
    with tracking_store(tmp_path):
        store = os.environ["MLFLOW_TRACKING_URI"]
        error, wrong, champion, old = pending_then_ready(models, dataset, store, "pending-never", monkeypatch, None)
        assert isinstance(error, registry.RegistrationNotReady), error
        text = str(error)
        assert "pending-never v2 is still PENDING_REGISTRATION after 1.5 s" in text
        assert "the champion alias was not moved to it" in text
        assert not wrong and champion == old.version


def test_the_alias_waits_for_a_ready_version_on_the_server(models, dataset, on_server, shared_server,
                                                           monkeypatch) -> None:
    registration, wrong, champion, _ = pending_then_ready(models, dataset, shared_server["database"],
                                                          "pending-server", monkeypatch, 2.0)
    assert not isinstance(registration, Exception), registration
    assert not wrong and registration.promoted and champion == registration.version
