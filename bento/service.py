"""The mqlscore scoring service: BentoML glue only.

The model, the request and response models, the limits, the API-key check and
the scoring call all come from ``mqlscore.serving``; this file wires them into a
BentoML service. Build it with ``mqlscore build`` and run it with ``mqlscore
serve`` (docs/service.md).
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

from mqlscore.serving.batching import Batcher  # noqa: E402
from mqlscore.serving.engine import ScoringEngine  # noqa: E402
from mqlscore.serving.guard import GuardMiddleware  # noqa: E402
from mqlscore.serving.openapi import OpenAPIDocument  # noqa: E402
from mqlscore.serving.routes import model_routes  # noqa: E402
from mqlscore.serving.schemas import LeadIn, ScoreRequest, ScoreResponse  # noqa: E402
from mqlscore.serving.startup import (  # noqa: E402
    building,
    model_tag,
    settle_memory,
    start_engine,
    start_store,
    workers_from_env,
)


def _engine() -> ScoringEngine:
    return bentoml.get_current_service().engine


def _store():  # noqa: ANN202 - the worker's StoreService, or None
    return bentoml.get_current_service().store


@bentoml.asgi_app(model_routes(_engine, _store), path="/")
@bentoml.service(
    name="mqlscore",
    workers=workers_from_env(),
    traffic={"timeout": 60},
    logging={"access": {"enabled": False}},  # the guard logs one line per request instead
)
class MQLScore:
    """Scores MQL leads with the packaged champion model."""

    # The model `mqlscore build` packaged (its tag is written beside this file), else the newest in the store.
    bento_model = bentoml.models.BentoModel(model_tag(_HERE))

    def __init__(self) -> None:
        self.engine = start_engine(type(self).bento_model)
        self.batcher = Batcher(self.engine)  # requests queued while busy share one model call
        self.store = start_store(self.engine)  # the lead store and its scorer (None without --store)
        settle_memory()

    @bentoml.on_shutdown
    def close_store(self) -> None:
        """Stop the store's background work and close it."""
        if self.store is not None:
            self.store.stop()

    @bentoml.api(route="/score", input_spec=ScoreRequest)
    async def score(self, leads: List[LeadIn], as_of: Optional[str] = None,
                    reasons: bool = True) -> ScoreResponse:
        """Score leads: probability, 0-100 score, tier, MQL flag, and the reasons."""
        return await self.batcher.score(leads, as_of, reasons)


MQLScore.add_asgi_middleware(GuardMiddleware)
# GET /docs.json: BentoML's OpenAPI document with the error answers, limits and key schemes of
# POST /score (BentoML cannot declare them; see mqlscore.serving.openapi).
MQLScore.add_asgi_middleware(OpenAPIDocument, service=MQLScore, config=lambda: _engine().config)


if not building():
    # `bentoml serve` imports this module before starting any worker: no API key, a
    # missing or a corrupt model stops it here, loudly, instead of in every worker.
    start_engine(MQLScore.inner.bento_model)
