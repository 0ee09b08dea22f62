"""The MLflow pyfunc entry point ("models from code").

MLflow executes this file when it loads a registered mqlscore model; it is not
imported by the package itself. The model scores raw contract data: one row
per lead with its activities as a JSON list, and an optional ``as_of`` param.

A model loaded from the registry (``models:/NAME@ALIAS``, ``models:/NAME/VERSION``,
directly or through ``mlflow.pyfunc.spark_udf``) reports the registered name and
version in its ``model_name`` and ``model_version`` columns: MLflow writes them into
the downloaded copy (its ``registered_model_meta`` file, beside ``MLmodel``), and
:meth:`MQLScoreModel.load_context` reads them there. A model loaded from a run or a
local folder reports what training saved (``model_version`` "unregistered").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from mqlscore.contract.schema import PYFUNC_OUTPUT_COLUMNS

# MLflow's own name (mlflow.store.artifact.models_artifact_repo.REGISTERED_MODEL_META_FILE_NAME); a
# literal, so that loading a model does not depend on where MLflow keeps the constant.
REGISTERED_MODEL_META = "registered_model_meta"


def registered_name_and_version(artifact: str | Path) -> tuple[str, str] | None:
    """(name, version) of the registered model a loaded copy came from, read from the
    ``registered_model_meta`` file MLflow writes beside ``MLmodel`` when it downloads a
    ``models:/`` URI; None for a copy of a run's model or a local folder. ``artifact``
    is any path inside the model's folder (an artifact's)."""
    import yaml

    for folder in Path(artifact).resolve().parents:
        if (folder / "MLmodel").is_file():
            meta = folder / REGISTERED_MODEL_META
            if not meta.is_file():
                return None
            data = yaml.safe_load(meta.read_text()) or {}
            name, version = data.get("model_name"), data.get("model_version")
            if name is None or version is None:
                return None
            return str(name), str(version)
    return None


class MQLScoreModel(mlflow.pyfunc.PythonModel):
    """Wraps :class:`mqlscore.scoring.ScoringModel`."""

    def load_context(self, context: Any) -> None:
        """Load the saved ``ScoringModel``; a copy downloaded from the registry reports its
        registered name and version (training saved it before it had a version)."""
        from mqlscore.scoring import ScoringModel

        artifact = context.artifacts["scoring_model"]
        self.scoring_model = ScoringModel.load(Path(artifact))
        registered = registered_name_and_version(artifact)
        if registered is not None:
            self.scoring_model.metadata.update(model_name=registered[0], model_version=registered[1])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """Score the leads of ``model_input`` at ``params["as_of"]`` (default: now)."""
        from mqlscore.batch import score_request_frame

        as_of = (params or {}).get("as_of") or None
        out = score_request_frame(self.scoring_model, model_input, as_of)
        out["reasons"] = [json.dumps(r) for r in out["reasons"]]
        return out[list(PYFUNC_OUTPUT_COLUMNS)]


mlflow.models.set_model(MQLScoreModel())
