"""Experiment tracking and the model registry (MLflow), imported lazily.

The embedded default is a SQLite tracking store in the working directory
(``sqlite:///mlflow.db``), never the deprecated ``./mlruns`` file store;
``MLFLOW_TRACKING_URI`` points it at a real server instead. Each training run is
logged as one MLflow model (a pyfunc that scores raw contract data) registered
under one name; the alias ``champion`` moves only through the promotion gate.
The report written after registration joins the run with :func:`log_report`.

Each run is tagged at its start with the process that owns it (:func:`process_tags`:
its PID, its start time and a hash of the host name), so that a later training can
tell a run whose process was killed (left ``RUNNING`` forever) from one still
going, and mark it ``FAILED`` (:func:`fail_dead_runs`).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mqlscore.contract.schema import (CHAMPION_ALIAS, COUNT_COLUMNS, LEAD_COLUMNS, PYFUNC_OUTPUT_COLUMNS,
                                      REQUIRED_COLUMNS, champion_uri)

REPORT_ARTIFACT_PATH = "report"
# Run tags naming the process that owns a run (see process_tags)
PID_TAG = "mqlscore.pid"
PROCESS_STARTED_TAG = "mqlscore.process_started"
HOST_TAG = "mqlscore.host"
FAILURE_TAG = "mqlscore.failure"
_START_TIME_SLACK = 1.0  # seconds
# MLflow types of the pyfunc's output columns; the others are text
OUTPUT_TYPES = {"probability": "double", "score": "double", "is_mql": "boolean", "fit_points": "double",
                "intent_points": "double"}


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else a SQLite store in the working directory."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def configure() -> Any:
    """Point MLflow at the tracking store and return the module."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # keep the CLI's own output readable
    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_registry_uri(tracking_uri())
    return mlflow


def input_example() -> pd.DataFrame:
    """A made-up lead (no real person) showing the input format."""
    return pd.DataFrame([{
        "lead_id": "L-EXAMPLE", "created_at": "2026-01-05T15:00:00Z", "account_id": "ACC-EXAMPLE",
        "job_title": "VP Digital Innovation", "org_type": "health_system", "employee_count": 12000.0,
        "country": "US", "state": "MA", "ehr_vendor": "epic", "lead_source": "webinar",
        "activities": json.dumps([
            {"occurred_at": "2026-01-05T15:00:00Z", "activity_type": "webinar_registered", "detail": "Webinar"},
            {"occurred_at": "2026-01-20T16:30:00Z", "activity_type": "page_view", "detail": "/pricing"},
            {"occurred_at": "2026-01-21T09:10:00Z", "activity_type": "baa_request", "detail": None}]),
    }])


def signature() -> Any:
    """Input: the contract's lead columns plus ``activities`` (a JSON list); a
    param ``as_of`` (ISO-8601; empty for now). Output: the score columns."""
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    required = REQUIRED_COLUMNS["leads"]
    inputs = Schema([ColSpec("double" if c in COUNT_COLUMNS else "string", c, required=c in required)
                     for c in LEAD_COLUMNS] + [ColSpec("string", "activities", required=False)])
    outputs = Schema([ColSpec(OUTPUT_TYPES.get(c, "string"), c) for c in PYFUNC_OUTPUT_COLUMNS])
    return ModelSignature(inputs=inputs, outputs=outputs, params=ParamSchema([ParamSpec("as_of", "string", "")]))


def requirements() -> list[str]:
    """Explicit requirements (inference would cost seconds in a subprocess)."""
    from importlib.metadata import version

    names = ("mlflow", "numpy", "pandas", "pyarrow", "pydantic", "lightgbm", "scikit-learn", "scipy",
             "pyyaml")
    return [f"{n}=={version(n)}" for n in names]


def conda_env() -> dict[str, Any]:
    """The model's environment, given whole: MLflow then writes it as is instead of
    asking the installed ``pip`` for its version (a uv environment has no pip, and
    MLflow warned "Failed to resolve installed pip version" on every training)."""
    import platform

    return {"name": "mlflow-env", "channels": ["conda-forge"],
            "dependencies": [f"python={platform.python_version()}", "pip", {"pip": requirements()}]}


@dataclass
class GateFigures:
    """The promotion gate's comparison: the new model's and the current champion's
    validation log loss on the same ``rows`` snapshots; ``detail`` says which rows."""

    new_log_loss: float
    champion_log_loss: float
    rows: int
    detail: str = ""


@dataclass
class Registration:
    """Where a run's model went and whether it became the champion."""

    run_id: str
    model_uri: str
    version: str
    promoted: bool
    decision: str
    new_log_loss: float
    champion_log_loss: float | None


def log_and_register(scoring_model: Any, *, model_name: str, experiment: str, params: dict[str, Any],
                     metrics: dict[str, float], feature_definition: dict[str, Any], fingerprint: dict[str, Any],
                     new_log_loss: float, compare_with_champion: Any, promote: str) -> Registration:
    """Log one training run, register its model and apply the promotion gate.

    ``new_log_loss`` is the new model's validation log loss;
    ``compare_with_champion(scoring_model_of_current_champion) -> GateFigures``
    scores the new model and the current champion on the same validation rows
    (rows the champion was not trained on, where there are enough); ``promote`` is
    ``if-better`` (default), ``always`` or ``never``. The run ends here; the
    report written afterwards joins it through :func:`log_report`.
    """
    import tempfile

    mlflow = configure()
    from mlflow import MlflowClient

    _use_experiment(mlflow, experiment)
    client = MlflowClient()
    # the owner is recorded with the run itself, so a run killed at any later moment can be recognised
    with mlflow.start_run(tags=process_tags()) as run:
        mlflow.log_params(_flatten(params))
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})
        mlflow.log_dict(fingerprint, "data_fingerprint.json")
        mlflow.log_dict(feature_definition, "feature_definition.json")
        with tempfile.TemporaryDirectory() as tmp:
            model_dir = scoring_model.save(Path(tmp) / "scoring_model")
            code = _scoring_code(Path(tmp) / "code")
            info = mlflow.pyfunc.log_model(
                name="model", python_model=str(code / "mlflow_model.py"),
                artifacts={"scoring_model": str(model_dir)}, signature=signature(), input_example=input_example(),
                conda_env=conda_env(), code_paths=[str(code)],
            )
        version = mlflow.register_model(info.model_uri, model_name).version
        current = _champion_version(client, model_name)
        champion_loss = None
        # Each decision says what happened to this version and who the champion is now.
        if current is None and promote == "never":
            promoted, decision = False, "no champion yet and promotion disabled (--promote never): still no champion"
        elif current is None:
            promoted, decision = True, f"no champion yet: v{version} is now the champion"
        elif promote == "always":
            promoted, decision = True, f"promotion forced (--promote always): v{version} replaces v{current} as champion"
        elif promote == "never":
            promoted, decision = False, f"promotion disabled (--promote never): v{current} stays the champion"
        else:
            gate = compare_with_champion(load_scoring_model(champion_uri(model_name)))
            new_log_loss, champion_loss = float(gate.new_log_loss), float(gate.champion_log_loss)
            promoted = new_log_loss < champion_loss
            decision = (f"validation log loss {new_log_loss:.5f} vs champion v{current} {champion_loss:.5f}"
                        + (f" ({gate.detail})" if gate.detail else "") + ": "
                        + (f"better, v{version} is now the champion" if promoted
                           else f"not better, v{current} stays the champion"))
        if promoted:
            client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version)
        mlflow.set_tags({"promotion_decision": decision, "promoted": str(promoted),
                         "registered_version": str(version)})
        mlflow.log_metric("promotion_new_log_loss", new_log_loss)
        if champion_loss is not None:
            mlflow.log_metric("promotion_champion_log_loss", champion_loss)
        return Registration(run.info.run_id, info.model_uri, str(version), promoted, decision, new_log_loss,
                            champion_loss)


def log_report(run_id: str, folder: Path) -> None:
    """Attach a written report folder to a (finished) training run, under ``report/``."""
    configure()
    from mlflow import MlflowClient

    MlflowClient().log_artifacts(run_id, str(folder), REPORT_ARTIFACT_PATH)


def process_tags(pid: int | None = None) -> dict[str, str]:
    """Run tags naming a process (default: this one): its PID, its start time (epoch
    seconds; a PID can be reused by a later process) and a short hash of the host
    name (enough to compare hosts without storing a machine's name)."""
    import psutil

    pid = os.getpid() if pid is None else pid
    return {PID_TAG: str(pid), PROCESS_STARTED_TAG: f"{psutil.Process(pid).create_time():.3f}",
            HOST_TAG: host_id()}


def host_id() -> str:
    """A short hash of this machine's host name."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:16]


def fail_dead_runs(experiment: str) -> list[str]:
    """Mark ``FAILED`` the runs of ``experiment`` left ``RUNNING`` by a training
    process that was killed; return their ids. A run is only touched when its tags
    (:func:`process_tags`) name this host, it started before this process, and its
    process is gone (no such PID, a zombie, or a PID since reused by a process that
    started later). Runs without the tags, of other hosts or of live processes are
    left alone: nothing here can tell whether they are still going."""
    configure()
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    import psutil

    # a process's start time is only known to about a second (the boot time is counted in
    # whole seconds), so "older than this process" allows that much
    now_started_ms = (psutil.Process().create_time() + _START_TIME_SLACK) * 1000
    failed = []
    for run in client.search_runs([found.experiment_id], "attributes.status = 'RUNNING'", ViewType.ACTIVE_ONLY):
        tags = run.data.tags
        if tags.get(HOST_TAG) != host_id() or not str(tags.get(PID_TAG, "")).isdigit():
            continue
        if run.info.start_time is None or run.info.start_time >= now_started_ms:
            continue
        if _process_alive(int(tags[PID_TAG]), tags.get(PROCESS_STARTED_TAG)):
            continue
        client.set_tag(run.info.run_id, FAILURE_TAG, "its training process ended before the run did (killed); "
                                                     "marked by a later training")
        client.set_terminated(run.info.run_id, "FAILED", end_time=int(time.time() * 1000))
        failed.append(run.info.run_id)
    return failed


def _process_alive(pid: int, started: str | None) -> bool:
    """Whether the process ``pid`` that started at ``started`` (epoch seconds) still runs."""
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        created = process.create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True  # it exists and belongs to someone else: assume it is alive
    try:
        # another process with the same PID started later: the run's own process is gone
        return started is None or abs(created - float(started)) < _START_TIME_SLACK
    except ValueError:
        return True


def _use_experiment(mlflow: Any, name: str) -> None:
    """Select the experiment, creating it with its artifacts beside a SQLite store
    (not in whatever folder the process happens to run from)."""
    if mlflow.get_experiment_by_name(name) is None:
        uri = tracking_uri()
        location = None
        if uri.startswith("sqlite:///"):
            location = (Path(uri.removeprefix("sqlite:///")).parent / "mlruns").resolve().as_uri()
        mlflow.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(name)


def _champion_version(client: Any, model_name: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(model_name, CHAMPION_ALIAS).version)
    except Exception:  # noqa: BLE001 - MLflow raises a generic error when the model or alias is absent
        return None


def _package_dir() -> Path:
    import mqlscore

    return Path(mqlscore.__file__).parent


def _scoring_code(target: Path) -> Path:
    """A copy of the package as the model needs it: without the synthetic-data
    generator, the import mappings and caches."""
    import shutil

    shutil.copytree(_package_dir(), target / "mqlscore",
                    ignore=shutil.ignore_patterns("synthetic", "mappings", "__pycache__", "*.pyc"))
    return target / "mqlscore"


def _flatten(params: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)[:500]
    return flat


def load_scoring_model(uri: str) -> Any:
    """The ``ScoringModel`` inside a registered MLflow model (e.g. ``models:/mqlscore@champion``)."""
    mlflow = configure()
    try:
        loaded = mlflow.pyfunc.load_model(uri)
    except Exception as exc:  # noqa: BLE001 - MLflow's errors vary by store; say what was asked for
        raise LookupError(f"cannot load model {uri!r} from {tracking_uri()}: {exc}") from exc
    model = loaded.unwrap_python_model().scoring_model
    if uri.startswith("models:/"):
        name, version = model_version_of(uri)
        model.metadata.update(model_name=name, model_version=version)
    return model


def model_version_of(uri: str) -> tuple[str, str]:
    """(name, version) of a ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` URI."""
    configure()
    from mlflow import MlflowClient

    rest = uri.removeprefix("models:/")
    if "@" in rest:
        name, alias = rest.split("@", 1)
        return name, str(MlflowClient().get_model_version_by_alias(name, alias).version)
    name, _, version = rest.partition("/")
    return name, version
