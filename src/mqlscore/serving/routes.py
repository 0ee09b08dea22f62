"""The routes mounted beside BentoML's API: ``GET /model``, the lead card and the lead store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mqlscore.serving.engine import ScoringEngine
from mqlscore.serving.leadcard import ui_routes
from mqlscore.serving.store_routes import store_routes
from mqlscore.serving.store_service import StoreService


def model_routes(get_engine: Callable[[], ScoringEngine],
                 get_store: Callable[[], StoreService | None] = lambda: None) -> Any:
    """A small Starlette app answering ``GET /model``, the lead card under ``/ui`` and
    the lead store's routes, mounted beside the API (``get_engine`` returns the
    worker's loaded engine, ``get_store`` its lead store or None)."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def model_view(_request: Any) -> Any:
        from starlette.concurrency import run_in_threadpool

        store = get_store()
        info = get_engine().info()
        if store is not None:  # what the lead store holds and how its background work goes
            info = {**info, "store": await run_in_threadpool(store.status)}
        return JSONResponse(info)

    return Starlette(routes=[Route("/model", model_view, methods=["GET"]), *store_routes(get_store),
                             *ui_routes(get_engine)])
