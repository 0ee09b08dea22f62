"""The routes mounted beside BentoML's API: ``GET /model`` and the lead card."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mqlscore.serving.engine import ScoringEngine
from mqlscore.serving.leadcard import ui_routes


def model_routes(get_engine: Callable[[], ScoringEngine]) -> Any:
    """A small Starlette app answering ``GET /model`` and the lead card under ``/ui``,
    mounted beside the API (``get_engine`` returns the worker's loaded engine)."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def model_view(_request: Any) -> Any:
        return JSONResponse(get_engine().info())

    return Starlette(routes=[Route("/model", model_view, methods=["GET"]), *ui_routes(get_engine)])
