"""Adaptive batching inside one server worker, request semantics kept.

Requests that arrive while the worker is busy wait in a queue; when it is free,
everything queued (up to ``batch_max_leads`` leads) is scored with one
``ScoringEngine.score_many`` call in a thread. An idle worker scores a request at
once (no timer, no added latency); under load, the fixed cost of feature building
and of the model call is shared by the batch. Each request keeps its own as-of
time, buying groups and errors (BentoML's own batching would concatenate the
leads of different callers into one list).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from mqlscore.serving import context
from mqlscore.serving.engine import Job, Outcome, ScoringEngine
from mqlscore.serving.schemas import LeadIn


class Batcher:
    """Queues a worker's requests and scores what waits together (see the module)."""

    def __init__(self, engine: ScoringEngine, max_leads: int | None = None) -> None:
        self.engine = engine
        self.max_leads = max_leads or engine.config.batch_max_leads
        self._queue: list[tuple[Job, Any]] = []
        self._running = False

    async def score(self, leads: Sequence[LeadIn], as_of: str | None, reasons: bool) -> Any:
        """The body of ``POST /score``: the response model, or a 4xx JSON response."""
        import asyncio

        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.append((Job(leads, as_of, reasons, pd.Timestamp.now(tz="UTC")), future))
        if not self._running:
            self._running = True
            loop.create_task(self._drain())
        outcome: Outcome = await future
        return reply(outcome, len(leads), reasons)

    async def _drain(self) -> None:
        import anyio

        try:
            while self._queue:
                batch = self._next_batch()
                try:
                    outcomes = await anyio.to_thread.run_sync(self.engine.score_many, [job for job, _ in batch])
                except Exception:  # noqa: BLE001 - a server fault: retry alone, so it only fails its own request
                    outcomes = [await anyio.to_thread.run_sync(self._alone, job) for job, _ in batch]
                for (_, future), outcome in zip(batch, outcomes):
                    if future.done():
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)  # BentoML answers 500 and logs it
                    else:
                        future.set_result(outcome)
        finally:
            self._running = False

    def _next_batch(self) -> list[tuple[Job, Any]]:
        """Take the queued requests that fit in one model call (at least one)."""
        size = len(self._queue[0][0].leads)
        take = 1
        while take < len(self._queue) and size + len(self._queue[take][0].leads) <= self.max_leads:
            size += len(self._queue[take][0].leads)
            take += 1
        batch, self._queue = self._queue[:take], self._queue[take:]
        return batch

    def _alone(self, job: Job) -> Outcome | BaseException:
        try:
            return self.engine.score_many([job])[0]
        except Exception as exc:  # noqa: BLE001 - handed to the request's own task
            return exc


def reply(outcome: Outcome, n_leads: int, reasons: bool) -> Any:
    """The response of one scored job, or its refusal as a JSON response."""
    from starlette.responses import JSONResponse

    if outcome.error is not None:
        context.count(leads=n_leads, problems=len(outcome.error.problems))
        return JSONResponse(outcome.error.body(context.request_id()), status_code=outcome.error.status)
    context.count(leads=n_leads, activities=outcome.activities, reasons=reasons, batch=outcome.batch)
    return outcome.response
