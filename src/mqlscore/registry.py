"""Experiment tracking and the model registry (MLflow), imported lazily.

The embedded default is a SQLite tracking store in the working directory
(``sqlite:///mlflow.db``), never the deprecated ``./mlruns`` file store;
``MLFLOW_TRACKING_URI`` points it at a real server instead. Each training run is
logged as one MLflow model (a pyfunc that scores raw contract data) registered
under one name; the alias ``champion`` moves only through the promotion gate.
The report written after registration joins the run with :func:`log_report`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mqlscore.contract.schema import (CHAMPION_ALIAS, COUNT_COLUMNS, LEAD_COLUMNS, PYFUNC_OUTPUT_COLUMNS,
                                      REQUIRED_COLUMNS, champion_uri)

REPORT_ARTIFACT_PATH = "report"
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

    names = ("mlflow", "numpy", "pandas", "pyarrow", "pandera", "pydantic", "lightgbm", "scikit-learn", "scipy",
             "pyyaml")
    return [f"{n}=={version(n)}" for n in names]


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
                     new_log_loss: float, champion_log_loss_fn: Any, promote: str) -> Registration:
    """Log one training run, register its model and apply the promotion gate.

    ``champion_log_loss_fn(scoring_model_of_current_champion) -> float`` scores
    the current champion on the same validation rows; ``promote`` is
    ``if-better`` (default), ``always`` or ``never``. The run ends here; the
    report written afterwards joins it through :func:`log_report`.
    """
    import tempfile

    mlflow = configure()
    from mlflow import MlflowClient

    _use_experiment(mlflow, experiment)
    client = MlflowClient()
    with mlflow.start_run() as run:
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
                pip_requirements=requirements(), code_paths=[str(code)],
            )
        version = mlflow.register_model(info.model_uri, model_name).version
        current = _champion_version(client, model_name)
        champion_loss = None
        if current is None:
            promoted, decision = promote != "never", "no champion yet"
        elif promote == "always":
            promoted, decision = True, "promotion forced (--promote always)"
        elif promote == "never":
            promoted, decision = False, "promotion disabled (--promote never)"
        else:
            champion_loss = float(champion_log_loss_fn(load_scoring_model(champion_uri(model_name))))
            promoted = new_log_loss < champion_loss
            decision = (f"validation log loss {new_log_loss:.5f} vs champion v{current} {champion_loss:.5f}: "
                        + ("better, promoted" if promoted else "not better, champion kept"))
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
