"""A killed ``mqlscore train`` (SIGKILL, issue 11 defect 8): the report folder holds the
complete old report or the complete new one, never a mix; the MLflow run it leaves
RUNNING is marked FAILED by the next training (and only that run); the champion alias
always points to a version whose model loads.

First, without training: a report being switched in is killed before each file
operation in turn (a forked process that SIGKILLs itself), from a folder holding a
switched report and from one an earlier version wrote file by file.

Then one small export and one SQLite MLflow store for the module; ``mqlscore train``
runs as a real process four times in a row: complete, killed while writing its report,
killed while MLflow logs its model, complete again. The fixtures form that chain, so
any test can run alone."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from mqlscore.contract.schema import CHAMPION_ALIAS, champion_uri

MODEL = "mql-atomic"
EXPERIMENT = "atomic-test"
README = "# models/\n\nA README the repository tracks: training must leave it alone.\n"
# Scorecard only (LightGBM needs more SQLs than this), no half-lives: a run takes ~15-25 s.
CONFIG = (f"train:\n  model_name: {MODEL}\n  experiment: {EXPERIMENT}\n  estimate_half_lives: false\n"
          "  gbm_min_conversions: 100000\n  optuna_trials: 0\n")
# killed once this many files were written under the report folder since the run started
KILL_AFTER_FILES = 4


OLD = {"model_card.md": "# Model card\n- Version: 1\n", "report.md": "- Version: 1\n", "metrics.csv": "auc\n0.71\n",
       "gains.png": "png of version 1"}
# the new report drops gains.png and adds lift.png: links appear and disappear with the switch
NEW = {"model_card.md": "# Model card\n- Version: 2\n", "report.md": "- Version: 2\n", "metrics.csv": "auc\n0.74\n",
       "lift.png": "png of version 2"}
THIRD = {"model_card.md": "# Model card\n- Version: 3\n", "report.md": "- Version: 3\n", "metrics.csv": "auc\n0.75\n"}
# the file operations a report's writing and switching is made of; the child dies before the n-th
FILE_EVENTS = {"os.rename", "os.symlink", "os.remove", "os.mkdir", "shutil.rmtree", "shutil.copyfile"}


def _publish(folder: Path, label: str, files: dict[str, str]) -> Path:
    from mqlscore.reporting import stage_report

    with stage_report(folder, label) as staged:
        for name, text in files.items():
            (staged.folder / name).write_text(text)
        return staged.publish()


def _publish_killed_at(folder: Path, step: int) -> bool:
    """Publish ``NEW`` into ``folder`` in a forked child that SIGKILLs itself just
    before its ``step``-th file operation; whether it was killed (else it completed)."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            count = 0

            def die_at_step(event: str, args: tuple) -> None:
                nonlocal count
                if event in FILE_EVENTS or (event == "open" and isinstance(args[1], str) and "w" in args[1]):
                    count += 1
                    if count == step:
                        os.kill(os.getpid(), signal.SIGKILL)

            sys.addaudithook(die_at_step)
            _publish(folder, "v2", NEW)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return os.WTERMSIG(status) == signal.SIGKILL
    assert os.WEXITSTATUS(status) == 0, f"publishing failed in the child at step {step}"
    return False


@pytest.mark.parametrize("start", ["switched", "written-in-place"])
def test_a_report_killed_at_any_step_shows_the_old_or_the_new_one(tmp_path: Path, start: str) -> None:
    """Before every file operation of writing and switching in a report, a kill
    leaves the folder showing exactly the old report or exactly the new one; the
    next report then switches in cleanly, leaving nothing behind."""
    old_view = {k: v.encode() for k, v in OLD.items()}
    new_view = {k: v.encode() for k, v in NEW.items()}
    step, outcomes = 0, []
    while True:
        step += 1
        assert step < 200, "publishing never completed"
        folder = tmp_path / f"step{step}"
        folder.mkdir()
        (folder / "README.md").write_text(README)
        if start == "switched":
            _publish(folder, "v1", OLD)
        else:  # the layout of earlier versions: the files straight in the folder
            for name, text in OLD.items():
                (folder / name).write_text(text)
        killed = _publish_killed_at(folder, step)
        view = _view(folder)
        assert view in (old_view, new_view), (step, sorted(view))
        outcomes.append(view == new_view)
        _publish(folder, "v3", THIRD)
        assert _view(folder) == {k: v.encode() for k, v in THIRD.items()}, step
        assert (folder / "README.md").read_text() == README
        assert not [p.name for p in folder.iterdir() if p.name.startswith(".")], (step, sorted(os.listdir(folder)))
        if not killed:
            break
    # killed at every step of the way: first the old report showed, at the end the new one
    assert step > 10 and not outcomes[0] and outcomes[-1] and outcomes[-2], outcomes


def test_a_partial_report_of_a_running_training_is_left_alone(tmp_path: Path) -> None:
    from mqlscore.reporting import clean_leftovers, current_report, stage_report

    _publish(tmp_path, "v1", OLD)
    with stage_report(tmp_path, "v2") as running:  # this process holds its lock: a live training
        (running.folder / "model_card.md").write_text(NEW["model_card.md"])
        cleaned, busy = clean_leftovers(tmp_path)
        assert cleaned == [] and busy == [running.folder] and running.folder.is_dir()
        assert _view(tmp_path) == {k: v.encode() for k, v in OLD.items()}
    assert not running.folder.exists()  # the block ended without publishing: discarded
    assert current_report(tmp_path).name.endswith("-v1")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    """A small export, a settings file, a SQLite MLflow store and a report folder
    holding a tracked README; this process's MLflow points at the store meanwhile."""
    from mqlscore.config import GeneratorConfig
    from mqlscore.synthetic import generate_export

    root = tmp_path_factory.mktemp("atomic")
    export = generate_export(GeneratorConfig(n_leads=1_200, seed=11, mc_sims=10), root / "export").out
    config = root / "settings.yaml"
    config.write_text(CONFIG)
    models = root / "models"
    models.mkdir()
    (models / "README.md").write_text(README)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    yield {"root": root, "export": export, "config": config, "models": models, "uri": uri,
           "db": root / "mlflow.db"}
    if old is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old


def _train(store: dict, kill_when: Callable[[], bool] | None = None) -> dict:
    """Run ``mqlscore train`` as its own process (its own session, so its children die
    with it); SIGKILL it as soon as ``kill_when()`` holds. Returns its exit code,
    output and whether it was killed."""
    cmd = [sys.executable, "-c", "from mqlscore.cli import app; app()", "train", "--data", str(store["export"]),
           "--config", str(store["config"]), "--report-dir", str(store["models"]), "--promote", "always"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": store["uri"], "MPLBACKEND": "Agg", "COLUMNS": "200",
           # the four runs share compiled bytecode in a cache of their own (halves a run's time)
           "PYTHONPYCACHEPREFIX": str(store["root"] / "pycache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    log = store["root"] / f"train-{time.time_ns()}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=store["root"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        killed = False
        deadline = time.monotonic() + 300
        try:
            while proc.poll() is None:
                if kill_when is not None and kill_when():
                    os.killpg(proc.pid, signal.SIGKILL)
                    killed = True
                    break
                if time.monotonic() > deadline:
                    os.killpg(proc.pid, signal.SIGKILL)
                    pytest.fail("mqlscore train took more than 300 s")
                time.sleep(0.01)
        finally:
            proc.wait()  # reaped: a killed training is gone, not a zombie
    return {"code": proc.returncode, "output": log.read_text(errors="replace"), "killed": killed}


def _view(folder: Path) -> dict[str, bytes]:
    """What someone opening the report folder reads: every file at its top (links
    followed), but the README."""
    return {p.name: p.read_bytes() for p in folder.iterdir()
            if p.name != "README.md" and not p.name.startswith(".") and p.is_file()}


def _files_written_since(folder: Path, since_ns: int) -> int:
    count = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            try:
                if os.lstat(os.path.join(dirpath, name)).st_mtime_ns > since_ns:
                    count += 1
            except FileNotFoundError:
                pass
    return count


def _client(store: dict):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=store["uri"], registry_uri=store["uri"])


def _version_named(view: dict[str, bytes], name: str) -> str:
    match = re.search(rb"- Version: (\d+)", view[name])
    assert match, f"{name} names no registered version"
    return match.group(1).decode()


def _logged_report(store: dict, version: str) -> dict[str, bytes]:
    """The report the run of registered ``version`` logged to MLflow."""
    client = _client(store)
    run = client.get_run(client.get_model_version(MODEL, version).run_id)
    folder = Path(run.info.artifact_uri.removeprefix("file://")) / "report"
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def _view_is_logged_report(store: dict, view: dict[str, bytes], version: str) -> bool:
    logged = _logged_report(store, version)
    logged.pop("README.md", None)  # the folder's README, logged with the report before the fix
    return view == logged


def _assert_one_complete_report(store: dict, view: dict[str, bytes]) -> str:
    """Every file shown belongs to one training run's complete report: the model
    card and the report name the same version, and every file is that version's
    logged report, byte for byte. Returns the version."""
    version = _version_named(view, "model_card.md")
    assert _version_named(view, "report.md") == version
    assert _view_is_logged_report(store, view, version), "the folder mixes files of different runs"
    return version


def _assert_champion_loads(store: dict) -> str:
    """The champion alias points to a version whose model loads and scores; returns it."""
    import mlflow

    from mqlscore.registry import configure, input_example

    configure()
    version = str(_client(store).get_model_version_by_alias(MODEL, CHAMPION_ALIAS).version)
    scored = mlflow.pyfunc.load_model(champion_uri(MODEL)).predict(input_example())
    assert len(scored) == 1 and 0 <= float(scored["score"].iloc[0]) <= 100
    return version


def _query(store: dict, sql: str) -> list[tuple]:
    """Read the MLflow store directly (cheap enough to poll while a training runs)."""
    with closing(sqlite3.connect(f"file:{store['db']}?mode=ro", uri=True, timeout=5)) as db:
        return db.execute(sql).fetchall()


def _runs(store: dict) -> dict[str, str]:
    return dict(_query(store, "select run_uuid, status from runs"))


@pytest.fixture(scope="module")
def first(store: dict) -> dict:
    """A complete training: version 1, champion, its report in the folder."""
    run = _train(store)
    assert run["code"] == 0, run["output"]
    view = _view(store["models"])
    assert _assert_one_complete_report(store, view) == "1"
    return {"view": view}


@pytest.fixture(scope="module")
def killed_in_report(store: dict, first: dict) -> dict:
    """A second training, killed in the middle of writing its report (after its
    model was registered and made champion)."""
    since = time.time_ns()
    run = _train(store, lambda: _files_written_since(store["models"], since) >= KILL_AFTER_FILES)
    assert run["killed"], f"the training ended before writing its report:\n{run['output']}"
    return {"view": _view(store["models"]), "before": first["view"]}


@pytest.fixture(scope="module")
def killed_in_mlflow(store: dict, killed_in_report: dict) -> dict:
    """A third training, killed while MLflow logs its model (its run is open)."""
    known = set(_runs(store))

    def logging_the_model() -> bool:
        rows = _query(store, "select run_uuid, artifact_uri from runs where status = 'RUNNING'")
        return any(run_id not in known and
                   (Path(uri.removeprefix("file://")) / "feature_definition.json").exists() for run_id, uri in rows)

    before = _view(store["models"])
    run = _train(store, logging_the_model)
    assert run["killed"], f"the training ended before logging to MLflow:\n{run['output']}"
    dead = [run_id for run_id, status in _runs(store).items() if run_id not in known]
    assert len(dead) == 1
    return {"run_id": dead[0], "status": _runs(store)[dead[0]], "view": _view(store["models"]), "before": before,
            "output": run["output"]}


@pytest.fixture(scope="module")
def recovered(store: dict, killed_in_mlflow: dict) -> dict:
    """Runs of other processes left RUNNING (which a next training must not touch,
    but for one whose PID was reused), then a fourth, complete training."""
    from mqlscore.registry import HOST_TAG, PID_TAG, PROCESS_STARTED_TAG, process_tags

    client = _client(store)
    experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id
    live = client.create_run(experiment, tags=process_tags()).info.run_id  # this test process: alive
    gone_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout.strip()
    elsewhere = client.create_run(experiment, tags={**process_tags(), PID_TAG: gone_pid,
                                                    HOST_TAG: "another-host"}).info.run_id
    untagged = client.create_run(experiment).info.run_id
    reused = client.create_run(experiment, tags={**process_tags(), PROCESS_STARTED_TAG: "1000.000"}).info.run_id
    run = _train(store)
    assert run["code"] == 0, run["output"]
    return {**run, "view": _view(store["models"]), "live": live, "elsewhere": elsewhere, "untagged": untagged,
            "reused": reused}


def test_a_kill_while_the_report_is_written_leaves_the_old_report_whole(store: dict, killed_in_report: dict):
    assert killed_in_report["view"] == killed_in_report["before"], \
        "new report files appeared beside the old model card"
    assert (store["models"] / "README.md").read_text() == README
    # the model was complete before the report started: it may be champion, and it loads
    assert _assert_champion_loads(store) == "2"


def test_a_kill_while_mlflow_logs_leaves_the_champion_and_the_report(store: dict, killed_in_mlflow: dict):
    assert killed_in_mlflow["status"] == "RUNNING"  # killed inside the run, which no one ended
    assert killed_in_mlflow["view"] == killed_in_mlflow["before"]
    assert _assert_champion_loads(store) == "2"  # no version 3 was registered, the alias did not move
    assert [v.version for v in _client(store).search_model_versions(f"name = '{MODEL}'")
            if str(v.version) == "3"] == []


def test_the_next_training_marks_the_killed_run_failed_and_only_it(store: dict, killed_in_mlflow: dict,
                                                                    recovered: dict):
    runs = _runs(store)
    assert runs[killed_in_mlflow["run_id"]] == "FAILED"
    assert runs[recovered["reused"]] == "FAILED"  # its PID now belongs to a process that started later
    for other in ("live", "elsewhere", "untagged"):
        assert runs[recovered[other]] == "RUNNING", other
    failed_line = [line for line in recovered["output"].splitlines() if "FAILED" in line]
    assert len(failed_line) == 1 and "Marked 2 MLflow run(s)" in failed_line[0], recovered["output"]
    assert killed_in_mlflow["run_id"] in recovered["output"].replace("\n", "")


def test_the_next_training_switches_in_its_complete_report(store: dict, killed_in_report: dict,
                                                           killed_in_mlflow: dict, recovered: dict):
    models = store["models"]
    view = recovered["view"]
    assert set(view) == set(killed_in_report["before"])
    version = _assert_one_complete_report(store, view)
    assert version == _assert_champion_loads(store) == "3"  # the killed third run registered none
    assert (models / "README.md").read_text() == README
    assert "README.md" not in _logged_report(store, version)  # the folder's README is not part of a report
    # what the run killed in its report left was removed (and said so) by the training after it
    assert "Removed 1 unfinished report folder" in killed_in_mlflow["output"]
    assert not [p.name for p in models.iterdir() if p.name.startswith(".")], sorted(p.name for p in models.iterdir())
    # the documented layout: model_card.md -> current/model_card.md, current -> reports/<stamp>-v3
    assert os.readlink(models / "model_card.md") == "current/model_card.md"
    assert (models / "current").is_symlink() and os.readlink(models / "current").endswith("-v3")
    assert len(list((models / "reports").iterdir())) <= 3
