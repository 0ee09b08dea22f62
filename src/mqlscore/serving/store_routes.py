"""The lead store's HTTP routes, mounted beside ``POST /score``.

- ``POST /events`` ``{"events": [...]}`` -> ``{"accepted": n, "duplicates": m, "warnings": [...]}``
  (200 once durable; 422 naming each bad event by index: ``events[3].occurred_at``);
- ``GET /leads/{lead_id}[?as_of=...]`` one item of ``POST /score`` for the stored
  history, with ``state``, ``mql_since`` and ``mql_until`` (404 when not stored);
- ``DELETE /leads/{lead_id}`` erases the lead and its events (204; 404 when nothing stored);
- ``GET /handoffs?after=CURSOR&limit=N`` MQL hand-offs after a cursor, in order;
- for the lead card (signed-in session): ``GET /ui/api/stored`` (a page of stored
  leads) and ``GET /ui/api/stored/{lead_id}/timeline`` (its score through time).

The API key is checked by ``serving.guard`` as for every route. Database work runs
in a thread, never on the event loop.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mqlscore.serving import context
from mqlscore.serving.errors import FieldProblem, RequestRejected
from mqlscore.serving.store_service import MAX_HANDOFF_PAGE, StoreService

NO_STORE = ("this service runs without a lead store: start it with `mqlscore serve --store URL` "
            "(or MQLSCORE_STORE)")
STORE_ROUTE_PATHS = ("/events", "/handoffs", "/ui/api/stored")
STORE_ROUTE_TEMPLATES = {"/leads/": "/leads/{lead_id}", "/ui/api/stored/": "/ui/api/stored/{lead_id}/timeline"}


def _answer(status: int, data: Any) -> Any:
    from starlette.responses import Response

    body = json.dumps(data, separators=(",", ":"), allow_nan=False).encode("utf-8")
    return Response(body, status_code=status, media_type="application/json", headers={"Cache-Control": "no-store"})


def _refused(exc: RequestRejected) -> Any:
    return _answer(exc.status, exc.body(context.request_id()))


def _int_param(request: Any, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise RequestRejected(422, f"{name} is not a whole number", [FieldProblem(name, f"a whole number from {low} "
                                                                                        f"to {high:,}")]) from None
    if not low <= value <= high:
        raise RequestRejected(422, f"{name} is out of range", [FieldProblem(name, f"from {low} to {high:,}")])
    return value


def store_routes(get_store: Callable[[], StoreService | None]) -> list[Any]:
    """The store's routes; each answers 404 with how to start one when the service has no store."""
    from starlette.concurrency import run_in_threadpool
    from starlette.routing import Route

    def need_store() -> StoreService:
        store = get_store()
        if store is None:
            raise RequestRejected(404, "no lead store", [FieldProblem("store", NO_STORE)])
        return store

    def handled(work: Callable[[Any], Any]) -> Callable[[Any], Any]:
        async def endpoint(request: Any) -> Any:
            try:
                return await work(request)
            except RequestRejected as exc:
                return _refused(exc)
        return endpoint

    async def post_events(request: Any) -> Any:
        store = need_store()
        raw = await request.body()
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise RequestRejected(400, "the body is not JSON", [FieldProblem("body", "send a JSON object: "
                                                                                     '{"events": [...]}')]) from None
        if not isinstance(body, dict) or not isinstance(body.get("events"), list):
            raise RequestRejected(422, "no events", [FieldProblem("events", 'send {"events": [...]}: a list of '
                                                                            "events")])
        extra = sorted(k for k in body if k != "events")
        if extra:
            raise RequestRejected(422, "unknown fields", [FieldProblem(str(extra[0])[:40], "not a field of the body "
                                                                                           "(only events)")])
        answer = await store.ingest_async(body["events"])
        context.count(events=len(body["events"]), accepted=answer["accepted"])
        return _answer(200, answer)

    async def get_lead(request: Any) -> Any:
        store = need_store()
        lead_id = request.path_params["lead_id"]
        answer = await run_in_threadpool(store.lead, lead_id, request.query_params.get("as_of"))
        return _answer(200, answer)

    async def delete_lead(request: Any) -> Any:
        from starlette.responses import Response

        store = need_store()
        found = await run_in_threadpool(store.erase, request.path_params["lead_id"])
        if not found:
            raise RequestRejected(404, "no such lead in the store", [FieldProblem("lead_id", "nothing stored for it")])
        return Response(status_code=204)

    async def get_handoffs(request: Any) -> Any:
        store = need_store()
        after = _int_param(request, "after", 0, 0, 2**62)
        limit = _int_param(request, "limit", 100, 1, MAX_HANDOFF_PAGE)
        return _answer(200, await run_in_threadpool(store.handoffs, after, limit))

    async def stored_page(request: Any) -> Any:
        store = need_store()
        offset = _int_param(request, "offset", 0, 0, 10**9)
        limit = _int_param(request, "limit", 50, 1, 500)
        query = request.query_params.get("q", "").strip()[:200]
        mql_only = request.query_params.get("mql", "") in ("1", "true")
        return _answer(200, await run_in_threadpool(store.leads, query, mql_only, offset, limit))

    async def stored_timeline(request: Any) -> Any:
        store = need_store()
        return _answer(200, await run_in_threadpool(store.timeline, request.path_params["lead_id"]))

    return [
        Route("/events", handled(post_events), methods=["POST"]),
        Route("/leads/{lead_id:path}", handled(get_lead), methods=["GET"]),
        Route("/leads/{lead_id:path}", handled(delete_lead), methods=["DELETE"]),
        Route("/handoffs", handled(get_handoffs), methods=["GET"]),
        Route("/ui/api/stored", handled(stored_page), methods=["GET"]),
        Route("/ui/api/stored/{lead_id:path}/timeline", handled(stored_timeline), methods=["GET"]),
    ]
