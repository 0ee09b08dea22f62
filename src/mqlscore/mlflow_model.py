"""The MLflow pyfunc entry point ("models from code").

MLflow executes this file when it loads a registered mqlscore model; it is not
imported by the package itself. The model scores raw contract data: one row
per lead with its activities as a JSON list, and an optional ``as_of`` param.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from mqlscore.contract.schema import PYFUNC_OUTPUT_COLUMNS


class MQLScoreModel(mlflow.pyfunc.PythonModel):
    """Wraps :class:`mqlscore.scoring.ScoringModel`."""

    def load_context(self, context: Any) -> None:
        from mqlscore.scoring import ScoringModel

        self.scoring_model = ScoringModel.load(Path(context.artifacts["scoring_model"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        from mqlscore.batch import score_request_frame

        as_of = (params or {}).get("as_of") or None
        out = score_request_frame(self.scoring_model, model_input, as_of)
        out["reasons"] = [json.dumps(r) for r in out["reasons"]]
        return out[list(PYFUNC_OUTPUT_COLUMNS)]


mlflow.models.set_model(MQLScoreModel())
