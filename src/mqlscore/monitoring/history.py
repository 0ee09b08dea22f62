"""The monitoring history in MLflow, against the model version.

Each monitoring is one run in the experiment ``<train.experiment>-monitoring``,
tagged with the model's name, version and URI, the verdict and the export's
as-of time; its figures are metrics (``realised.roc_auc``, ``realised.mql_sql_rate``
with ``.low``/``.high``, ``psi.<signal>``, ``signal_change.<signal>``, ...), and
``monitor.json``, ``monitor.md`` and the plots are its artifacts. The model
version itself gets the tags ``monitor.last_verdict``, ``monitor.last_date``,
``monitor.last_export_as_of`` and ``monitor.last_run_id``, so the registry shows
the last verdict and the runs show the history (``mlflow ui``, or
``MlflowClient().search_runs`` filtered on ``tags.model_version``).

Only aggregates are logged: no lead id, email, name or title. MLflow is imported
here, inside the function, never when the package is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mqlscore.monitoring.core import MonitorResult
from mqlscore.registry import configure, process_tags, tracking_uri

EXPERIMENT_SUFFIX = "-monitoring"
VERSION_TAGS = ("monitor.last_verdict", "monitor.last_date", "monitor.last_export_as_of", "monitor.last_run_id")


@dataclass
class Logged:
    """Where a monitoring went in MLflow."""

    run_id: str
    experiment: str
    tagged_version: str | None  # the model version tagged with the verdict (None: not a registered version)


def monitoring_experiment(experiment: str) -> str:
    """The experiment holding the monitoring runs of a training experiment."""
    return f"{experiment}{EXPERIMENT_SUFFIX}"


def _experiment_id(mlflow: Any, name: str) -> str:
    """The experiment's id, creating it with its artifacts beside a SQLite store (as training's)."""
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    uri = tracking_uri()
    location = None
    if uri.startswith("sqlite:///"):
        location = (Path(uri.removeprefix("sqlite:///")).parent / "mlruns").resolve().as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


def log_monitoring(result: MonitorResult, experiment: str, folder: Path | None = None) -> Logged:
    """Log one monitoring as a run of ``<experiment>-monitoring`` (figures as metrics, the
    written report ``folder`` as artifacts, or ``monitor.json`` alone without one) and tag
    the model version with the verdict when the model is a registered version."""
    mlflow = configure()
    from mlflow import MlflowClient

    from mqlscore.monitoring.report import JSON_FILE, plain

    name = str(result.model.get("name") or "")
    version = str(result.model.get("version") or "")
    registered = bool(name) and version.isdigit()
    experiment_name = monitoring_experiment(experiment)
    tags = {
        **process_tags(), "mqlscore.kind": "monitoring", "model_name": name, "model_version": version,
        "model_uri": str(result.model.get("uri") or ""), "verdict": result.verdict,
        "export_as_of": result.windows.export_as_of.isoformat(),
        "drifted_signals": ", ".join(result.drifted_signals)[:4000],
    }
    when = pd.Timestamp.now(tz="UTC")
    run_name = f"{name or 'model'}-v{version or 'unregistered'}-{result.windows.export_as_of:%Y%m%d}"
    client = MlflowClient()
    with mlflow.start_run(experiment_id=_experiment_id(mlflow, experiment_name), run_name=run_name,
                          tags=tags) as run:
        mlflow.log_params({f"monitor.{k}": str(v)[:500] for k, v in result.settings.items()})
        mlflow.log_metrics(result.metrics())
        if folder is not None and Path(folder).is_dir():
            mlflow.log_artifacts(str(folder), "monitoring")
        else:
            mlflow.log_dict(plain(result.to_dict()), f"monitoring/{JSON_FILE}")
        run_id = run.info.run_id
    tagged = None
    if registered:
        values = (result.verdict, when.isoformat(), result.windows.export_as_of.isoformat(), run_id)
        for key, value in zip(VERSION_TAGS, values):
            client.set_model_version_tag(name, version, key, value)
        tagged = version
    return Logged(run_id, experiment_name, tagged)
