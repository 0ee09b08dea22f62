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

Several trainings may register and promote at the same time against one shared
tracking server (docs/shared-mlflow.md). MLflow has no compare-and-set on an alias,
so the ``if-better`` gate converges instead of locking: the alias only ever moves to
a ``READY`` version (:func:`wait_until_ready`); each version is registered with the
tag ``mqlscore.gate=comparing`` while its training compares, so that trainings running
at the same time see each other; a training puts the alias on its own version only
when that beats the champion and every such rival on its own gate rows, re-reads the
champion and the rivals after every write, and hands the alias to a rival that beat
it if it finds one after having taken it. Whichever way two trainings interleave, the
better model holds the alias at the end (tests/test_shared_mlflow.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from mqlscore.contract.schema import (CHAMPION_ALIAS, COUNT_COLUMNS, LEAD_COLUMNS, PYFUNC_OUTPUT_COLUMNS,
                                      REQUIRED_COLUMNS)

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
# Model-version tag of the if-better gate: "comparing" while its training compares, then "done"
GATE_TAG = "mqlscore.gate"
GATE_COMPARING, GATE_DONE = "comparing", "done"
# How long a new version may stay PENDING_REGISTRATION before the training gives up on promoting it
READY_TIMEOUT_SECONDS = 300.0
# An earlier version still tagged "comparing" after this long belongs to a training that was killed
GATE_STALE_SECONDS = 3600.0
# A training writes the alias at most this many times: two trainings whose gate rows disagree about
# which model is better would otherwise take it from each other for ever
MAX_ALIAS_WRITES = 3
READY = "READY"

gate_hook: Callable[[str, str], None] | None = None
"""Test seam (None in production): called as ``gate_hook(event, version)`` by the
promotion gate, from the thread that trains, at ``"registered"`` (the new version
exists, before waiting for it to be ``READY``), ``"read"`` (the champion was read
for the first time, before any comparison), ``"write"`` (just before the alias is
set; ``version`` is the version about to receive it) and ``"done"`` (after the
final read). Tests set it to hold trainings at these points and force an
interleaving (tests/test_shared_mlflow.py)."""


class RegistrationNotReady(RuntimeError):
    """A new model version did not become ``READY`` in time (or failed to register);
    the champion alias was not moved to it."""


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


def signature(extra_columns: dict[str, str] | None = None) -> Any:
    """Input: the contract's lead columns, the extra lead columns the model learned from
    (``FeatureBuilder.extras_``: name -> ``numeric`` or text; MLflow drops every column the
    signature does not name before predict), plus ``activities`` (a JSON list); a param
    ``as_of`` (ISO-8601; empty for now). Output: the score columns."""
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    required = REQUIRED_COLUMNS["leads"]
    extras = [ColSpec("double" if kind == "numeric" else "string", name, required=False)
              for name, kind in (extra_columns or {}).items() if name not in LEAD_COLUMNS]
    inputs = Schema([ColSpec("double" if c in COUNT_COLUMNS else "string", c, required=c in required)
                     for c in LEAD_COLUMNS] + extras + [ColSpec("string", "activities", required=False)])
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
                artifacts={"scoring_model": str(model_dir)}, signature=signature(scoring_model.builder.extras_),
                input_example=input_example(),
                conda_env=conda_env(), code_paths=[str(code)],
            )
        # The gate tag is set with the version itself, so a training running at the same
        # time sees this one as soon as it exists (see _rivals).
        gated = promote == "if-better"
        # MLflow would wait up to 300 s itself on a server; wait_until_ready says why it gave up
        version = str(mlflow.register_model(info.model_uri, model_name, await_registration_for=0,
                                            tags={GATE_TAG: GATE_COMPARING} if gated else None).version)
        try:
            _call_hook("registered", version)
            wait_until_ready(client, model_name, version)
            gate = _Gate(client, model_name, version, compare_with_champion)
            promoted, decision = gate.run(promote)
        finally:
            if gated:
                _end_gate(client, model_name, version)
        if gate.reference is not None:
            new_log_loss = float(gate.reference.new_log_loss)
        champion_loss = float(gate.reference.champion_log_loss) if gate.reference is not None else None
        mlflow.set_tags({"promotion_decision": decision, "promoted": str(promoted),
                         "registered_version": str(version)})
        mlflow.log_metric("promotion_new_log_loss", new_log_loss)
        if champion_loss is not None:
            mlflow.log_metric("promotion_champion_log_loss", champion_loss)
        return Registration(run.info.run_id, info.model_uri, str(version), promoted, decision, new_log_loss,
                            champion_loss)


def wait_until_ready(client: Any, model_name: str, version: str, timeout: float | None = None) -> None:
    """Wait until version ``version`` of ``model_name`` is ``READY`` (a registry that
    registers asynchronously shows ``PENDING_REGISTRATION`` first). Raises
    :class:`RegistrationNotReady` when it failed to register, or is still pending
    after ``timeout`` seconds (default :data:`READY_TIMEOUT_SECONDS`)."""
    timeout = READY_TIMEOUT_SECONDS if timeout is None else timeout
    deadline, pause = time.monotonic() + timeout, 0.2
    while True:
        found = client.get_model_version(model_name, version)
        status = str(found.status)
        if status == READY:
            return
        message = f" ({found.status_message})" if getattr(found, "status_message", None) else ""
        if status != "PENDING_REGISTRATION":
            raise RegistrationNotReady(f"model version {model_name} v{version} failed to register: status {status}"
                                       f"{message}; the champion alias was not moved to it")
        if time.monotonic() >= deadline:
            raise RegistrationNotReady(
                f"model version {model_name} v{version} is still {status}{message} after {timeout:g} s: the "
                f"champion alias was not moved to it. Once the registry shows it READY, promote it by hand "
                f"(MlflowClient().set_registered_model_alias({model_name!r}, {CHAMPION_ALIAS!r}, {version!r})) "
                "or train again")
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 5.0)


def _call_hook(event: str, version: str) -> None:
    if gate_hook is not None:
        gate_hook(event, version)


def _end_gate(client: Any, model_name: str, version: str) -> None:
    """Mark this version's gate finished; never hides the error that ended it early."""
    try:
        client.set_model_version_tag(model_name, version, GATE_TAG, GATE_DONE)
    except Exception:  # noqa: BLE001 - best effort: a stale "comparing" tag expires (GATE_STALE_SECONDS)
        import logging

        logging.getLogger(__name__).warning("could not mark the gate of %s v%s finished", model_name, version)


class _Gate:
    """The promotion gate of one new version (see the module docstring).

    ``compared`` holds this run's comparison with every rival it has seen: the
    champion at each read and the versions of trainings running at the same time
    (:meth:`_rivals`). The new version takes the alias only when it beat all of them;
    if it holds the alias and then meets a rival that beat it, it hands the alias to
    the best such rival. The loop ends when a read after the last write shows nothing
    new. ``steps`` become the decision text; ``reference`` is the comparison with the
    last champion compared (logged as the gate's figures)."""

    def __init__(self, client: Any, model_name: str, version: str, compare: Any) -> None:
        self.client, self.name, self.version, self.compare = client, model_name, version, compare
        self.compared: dict[str, GateFigures] = {}
        self.steps: list[str] = []
        self.reference: GateFigures | None = None
        self._last_is_comparison = False

    def champion(self) -> str | None:
        return _champion_version(self.client, self.name)

    def set_alias(self, version: str) -> None:
        """Point the alias at ``version``, checking first that it is READY."""
        _call_hook("write", version)
        status = str(self.client.get_model_version(self.name, version).status)
        if status != READY:  # never alias a half-registered version
            raise RegistrationNotReady(f"model version {self.name} v{version} is {status}: the champion alias was "
                                       "not moved to it")
        self.client.set_registered_model_alias(self.name, CHAMPION_ALIAS, version)

    def run(self, promote: str) -> tuple[bool, str]:
        """Apply ``promote`` (``if-better``, ``always`` or ``never``); (promoted, decision)."""
        v, current = self.version, self.champion()
        # Each decision says what happened to this version and who the champion is now.
        if promote == "never":
            if current is None:
                return False, "no champion yet and promotion disabled (--promote never): still no champion"
            return False, f"promotion disabled (--promote never): v{current} stays the champion"
        if promote == "always":
            self.set_alias(v)
            if current is None:
                return True, f"no champion yet: v{v} is now the champion"
            return True, f"promotion forced (--promote always): v{v} replaces v{current} as champion"
        _call_hook("read", v)
        return self._if_better(current)

    def _if_better(self, first: str | None) -> tuple[bool, str]:
        v, seen, writes, gave_up, last_written = self.version, first, 0, False, None
        if first is None:
            self.steps.append("no champion yet")
        current = first  # the first round compares with the champion as first read
        while True:
            fresh = False
            if current != seen:  # the alias moved since the last read
                if current not in (None, v) and current not in self.compared:
                    before = "no champion" if seen is None else f"v{seen}"
                    self._compare(current, f"v{current} had replaced {before} as champion meanwhile", True)
                    fresh = True
                seen = current
            for rival in self._rivals(current):
                if rival not in self.compared:
                    self._compare(rival, "" if rival == current else
                                  f"v{rival} came from a training running at the same time", rival == current)
                    fresh = True
            if fresh:
                current = self.champion()  # comparing took time: read again before deciding
                continue
            beaten_by = [r for r, g in self.compared.items() if not g.new_log_loss < g.champion_log_loss]
            if not beaten_by and current != v:
                target, outcome = v, f"v{v} is now the champion" if writes == 0 else f"v{v} is the champion again"
            elif beaten_by and current == v:
                target = min(beaten_by, key=lambda r: self.compared[r].champion_log_loss)
                outcome = f"v{v} handed the champion alias to v{target}, which beat it"
            else:
                break  # nothing new since the last write, and the alias agrees with every comparison
            if writes >= MAX_ALIAS_WRITES:
                gave_up = True
                break
            self.set_alias(target)
            writes, seen, last_written = writes + 1, target, target
            self._settle(outcome)
            current = self.champion()  # read again: another training may have written meanwhile
        _call_hook("done", v)
        final = self.champion()
        if final is not None and final == last_written:
            if self._last_is_comparison:  # compared again after the write, which stands
                self._settle(f"v{final} stays the champion")
        elif final == v:
            self._settle(f"v{v} is now the champion")
        elif final is None:
            self._settle("still no champion")
        else:
            self._settle(f"v{final} stays the champion" if final == first else f"v{final} is the champion")
        if gave_up:
            self.steps.append(f"stopped after moving the alias {MAX_ALIAS_WRITES} times: a training running at the "
                              "same time judges these models differently on its own rows")
        return final == v, "; ".join(self.steps)

    def _compare(self, rival: str, who: str, is_champion: bool) -> None:
        """Compare the new model with version ``rival`` on this run's gate rows (once);
        ``who`` introduces the rival in the decision ("": the champion at the first read)."""
        figures = self.compare(load_scoring_model(f"models:/{self.name}/{rival}"))
        self.compared[rival] = figures
        if is_champion or self.reference is None:
            self.reference = figures
        better = figures.new_log_loss < figures.champion_log_loss
        detail = f" ({figures.detail})" if figures.detail else ""
        if not who:
            text = (f"validation log loss {figures.new_log_loss:.5f} vs champion v{rival} "
                    f"{figures.champion_log_loss:.5f}{detail}")
        else:
            text = f"{who}: {figures.new_log_loss:.5f} vs v{rival} {figures.champion_log_loss:.5f}{detail}"
        self.steps.append(f"{text}: {'better' if better else 'not better'}")
        self._last_is_comparison = True

    def _settle(self, outcome: str) -> None:
        """Say what happened to the alias: after the last comparison, or as a step of its own."""
        if self._last_is_comparison:
            self.steps[-1] += ", " + outcome
        elif self.steps and self.steps[-1] == "no champion yet":
            self.steps[-1] += ": " + outcome
        else:
            self.steps.append(outcome)
        self._last_is_comparison = False

    def _rivals(self, current: str | None) -> list[str]:
        """The champion and the READY versions of trainings whose gates may run at the
        same time as this one: later versions registered with the gate tag (comparing or
        done: one may have finished before this run looked), and earlier ones still
        comparing (their run still running, registered less than GATE_STALE_SECONDS ago;
        an earlier one that finished did so before this run's first read of the champion,
        which already holds its verdict)."""
        found = {current} if current not in (None, self.version) else set()
        quote = '"' if "'" in self.name else "'"
        name = f"{quote}{self.name}{quote}"
        later = self.client.search_model_versions(f"name = {name} AND version_number > {int(self.version)}")
        found |= {str(m.version) for m in later if GATE_TAG in (m.tags or {}) and str(m.status) == READY}
        comparing = self.client.search_model_versions(f"name = {name} AND tags.`{GATE_TAG}` = '{GATE_COMPARING}'")
        now_ms = time.time() * 1000
        for m in comparing:
            if (int(m.version) >= int(self.version) or str(m.status) != READY
                    or now_ms - (m.creation_timestamp or 0) > GATE_STALE_SECONDS * 1000):
                continue
            try:
                running = bool(m.run_id) and self.client.get_run(m.run_id).info.status == "RUNNING"
            except Exception:  # noqa: BLE001 - its run was deleted: that training is not comparing any more
                running = False
            if running:
                found.add(str(m.version))
        return sorted(found, key=int)


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
        try:
            mlflow.create_experiment(name, artifact_location=location)
        except Exception:  # noqa: BLE001 - a training starting at the same time may have created it first
            if mlflow.get_experiment_by_name(name) is None:
                raise
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
