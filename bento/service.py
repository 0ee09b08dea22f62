"""The mqlscore scoring service: BentoML glue only.

The model, the request and response models, the limits, the API-key check and
the scoring call all come from the ``mqlscore`` package (``mqlscore.service``,
``mqlscore.scoring``); this file wires them into a BentoML service. Build it
with ``mqlscore build`` and run it with ``mqlscore serve`` (docs/service.md).
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one scoring thread per worker (before LightGBM loads)
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from typing import List, Optional  # noqa: E402

import bentoml  # noqa: E402

from mqlscore import service as mq  # noqa: E402

def _engine() -> "mq.ScoringEngine":
    return bentoml.get_current_service().engine


@bentoml.asgi_app(mq.model_routes(_engine), path="/")
@bentoml.service(
    name="mqlscore",
    workers=mq.workers_from_env(),
    traffic={"timeout": 60},
    logging={"access": {"enabled": False}},  # mqlscore.service logs one line per request instead
)
class MQLScore:
    """Scores MQL leads with the packaged champion model."""

    # The model `mqlscore build` packaged (its tag is written beside this file), else the newest in the store.
    bento_model = bentoml.models.BentoModel(mq.model_tag(os.path.dirname(os.path.abspath(__file__))))

    def __init__(self) -> None:
        self.engine = mq.start_engine(type(self).bento_model)

    @bentoml.api(route="/score", input_spec=mq.ScoreRequest)
    def score(self, leads: List[mq.LeadIn], as_of: Optional[str] = None, reasons: bool = True) -> mq.ScoreResponse:
        """Score leads: probability, 0-100 score, tier, MQL flag, and the reasons."""
        return mq.handle_score(self.engine, leads, as_of, reasons)


MQLScore.add_asgi_middleware(mq.GuardMiddleware)
