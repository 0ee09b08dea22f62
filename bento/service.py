"""The mqlscore scoring service: BentoML glue only.

The model, the request and response models, the limits, the API-key check and
the scoring call all come from the ``mqlscore`` package (``mqlscore.service``,
``mqlscore.scoring``); this file wires them into a BentoML service. Build it
with ``mqlscore build`` and run it with ``mqlscore serve`` (docs/service.md).
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.isdir(os.path.join(_HERE, "mqlscore")):  # a built bento serves the code it was built with
    sys.path.insert(0, _HERE)
os.environ.setdefault("OMP_NUM_THREADS", "1")  # one scoring thread per worker (before LightGBM loads)
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

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
    bento_model = bentoml.models.BentoModel(mq.model_tag(_HERE))

    def __init__(self) -> None:
        self.engine = mq.start_engine(type(self).bento_model)
        self.batcher = mq.Batcher(self.engine)  # requests queued while busy share one model call

    @bentoml.api(route="/score", input_spec=mq.ScoreRequest)
    async def score(self, leads: List[mq.LeadIn], as_of: Optional[str] = None,
                    reasons: bool = True) -> mq.ScoreResponse:
        """Score leads: probability, 0-100 score, tier, MQL flag, and the reasons."""
        return await self.batcher.score(leads, as_of, reasons)


MQLScore.add_asgi_middleware(mq.GuardMiddleware)


if not mq.building():
    # `bentoml serve` imports this module before starting any worker: no API key, a
    # missing or a corrupt model stops it here, loudly, instead of in every worker.
    mq.start_engine(MQLScore.inner.bento_model)
