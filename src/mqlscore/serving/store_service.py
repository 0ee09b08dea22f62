"""The lead store as the service uses it: one per worker process, with its scorer
(and webhook sender) running in the background.

Chosen by ``MQLSCORE_STORE`` (``mqlscore serve --store URL``) or the settings'
``service.store.url``; none: the service scores requests only. The service's clock
is the machine's, or real time shifted to start at ``MQLSCORE_STORE_CLOCK_FROM``
(``serve --clock-from``, for serving an export as if it were being made now).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pandas as pd

from mqlscore.config import StoreConfig
from mqlscore.serving.engine import ScoringEngine, iso_utc
from mqlscore.serving.errors import FieldProblem, RequestRejected
from mqlscore.serving.group_commit import GroupCommit
from mqlscore.serving.tables import RequestTables
from mqlscore.store.clock import Clock
from mqlscore.store.events import EventsRejected, check_events, check_shape
from mqlscore.store.location import service_clock
from mqlscore.store.repository import LeadStore, micros, stamp
from mqlscore.store.scorer import ScorerThread, StoreScorer
from mqlscore.store.timeline import LeadNotScorable, mql_since, mql_until, stored_history, timeline

WEBHOOK_ENV = "MQLSCORE_WEBHOOK_URL"
WEBHOOK_SECRET_ENV = "MQLSCORE_WEBHOOK_SECRET"
MAX_HANDOFF_PAGE = 1_000


class StoreService:
    """A worker's lead store, its scorer and its webhook sender."""

    def __init__(self, engine: ScoringEngine, store: LeadStore, clock: Clock, config: StoreConfig) -> None:
        self.engine = engine
        self.store = store
        self.clock = clock
        self.config = config
        self.scorer = StoreScorer(store, engine.model, clock, config)
        self.thread: ScorerThread | None = None
        self.process: Any = None  # the ScorerProcess this worker started, if any
        self.sender: Any = None
        self.intake = GroupCommit(self._write_group, config)  # POST /events, written in groups

    @classmethod
    def open(cls, engine: ScoringEngine, url: str, clock: Clock | None = None,
             config: StoreConfig | None = None) -> StoreService:
        """Open (and migrate) the store at ``url``."""
        config = config or engine.config.store
        clock = clock or service_clock()
        return cls(engine, LeadStore(url, config), clock, config)

    def start(self, scorer: str = "thread") -> StoreService:
        """Start the background work: scoring changed and decayed leads, and the webhook.

        ``scorer``: ``thread`` scores in this process (tests, a single process);
        ``process`` starts the scorer process beside the workers
        (:mod:`mqlscore.serving.scorer_process`); ``off`` leaves the scoring to
        another worker or service on the same store."""
        if scorer == "thread":
            self.thread = ScorerThread(self.scorer, before_first=self.scorer.process_model_change).start()
        elif scorer == "process":
            from mqlscore.serving.scorer_process import ScorerProcess

            if self.engine.folder is None:
                raise ValueError("the scorer process needs the model's folder (an engine loaded from_folder)")
            self.process = ScorerProcess(self.engine.folder, self.clock, self.config.scorer_nice).start()
        elif scorer != "off":
            raise ValueError(f"scorer must be thread, process or off, got {scorer!r}")
        webhook = os.environ.get(WEBHOOK_ENV, "").strip() or self.config.webhook_url.strip()
        if webhook:
            from mqlscore.store.webhook import WebhookSender

            self.sender = WebhookSender(self.store, webhook, os.environ.get(WEBHOOK_SECRET_ENV, ""),
                                        self.config).start()
        return self

    def stop(self) -> None:
        """Stop the background work and close the store."""
        self.intake.close()
        if self.thread is not None:
            self.thread.stop()
        if self.process is not None:
            self.process.stop()
        if self.sender is not None:
            self.sender.stop()
        self.store.close()

    # -- events in ----------------------------------------------------------------
    def ingest(self, events: Any) -> dict[str, Any]:
        """Check and store a batch (RequestRejected naming each event's problems);
        ``{"accepted": n, "duplicates": m, "warnings": [...]}`` once durable.

        Group commit (:mod:`mqlscore.serving.group_commit`): requests that arrive while
        this worker is writing others, or stream in, are checked by the contract and
        written together, in one pass and one transaction. Each still gets its own
        answer: its own accepted and duplicate counts, its own warnings (a request with
        any is checked again alone for their exact wording), and a group the contract
        refuses is taken again one request at a time, so a bad request fails alone,
        with its own events' indices."""
        self._check_shape(events)
        return self.intake.submit(events)

    async def ingest_async(self, events: Any) -> dict[str, Any]:
        """:meth:`ingest` from the event loop: the request waits for its group without
        holding a thread."""
        self._check_shape(events)
        return await self.intake.submit_async(events)

    def _check_shape(self, events: Any) -> None:
        try:
            check_shape(events, self.config)
        except EventsRejected as exc:
            raise _rejected(exc) from None

    def _write_group(self, requests: list[list[Any]]) -> list[dict[str, Any] | RequestRejected]:
        """Each request's answer (or refusal), the group checked and written as one batch."""
        if len(requests) == 1:
            return [self._write_alone(requests[0])]
        events = [e for r in requests for e in r]
        created = self.store.created_of(_outcome_leads(events))
        try:
            batch = check_events(events, self.config, created)
        except EventsRejected:
            return [self._write_alone(r) for r in requests]
        new = self.store.ingest_new(batch)
        if new:
            self._wake_scorer()
        starts = [0]
        for r in requests:
            starts.append(starts[-1] + len(r))
        own: list[list[tuple[str, str]]] = [[] for _ in requests]
        unplaced = False
        for field, message in batch.warnings:
            found = _EVENT_INDEX.match(field)
            if found is None:
                unplaced = True
                continue
            i = int(found.group(1))
            k = next(k for k in range(len(requests)) if starts[k] <= i < starts[k + 1])
            own[k].append((f"events[{i - starts[k]}]{found.group(2)}", message))
        answers: list[dict[str, Any] | RequestRejected] = []
        for k, r in enumerate(requests):
            warnings = own[k]
            if warnings or unplaced:
                # A warning's wording counts rows of the whole group ("... 'x' 3"): this request's own.
                try:
                    warnings = check_events(r, self.config, created).warnings
                except EventsRejected:
                    pass
            accepted = sum(1 for i in range(starts[k], starts[k + 1]) if i in new)
            answers.append({"accepted": accepted, "duplicates": len(r) - accepted,
                            "warnings": [{"field": f, "message": m} for f, m in warnings]})
        return answers

    def _write_alone(self, events: list[Any]) -> dict[str, Any] | RequestRejected:
        try:
            batch = check_events(events, self.config, self.store.created_of(_outcome_leads(events)))
        except EventsRejected as exc:
            return _rejected(exc)
        accepted, duplicates = self.store.ingest(batch)
        if accepted:
            self._wake_scorer()
        return {"accepted": accepted, "duplicates": duplicates,
                "warnings": [{"field": f, "message": m} for f, m in batch.warnings]}

    def _wake_scorer(self) -> None:
        if self.thread is not None:
            self.thread.wake()
        if self.process is not None:
            self.process.wake()

    # -- scores out ------------------------------------------------------------------
    def lead(self, lead_id: str, as_of: str | None = None) -> dict[str, Any]:
        """A stored lead's score, as one item of ``POST /score`` given its stored
        history (its buying group's too), with ``mql_since``, ``mql_until`` and its state.
        Stored rows are not checked again (``stored_history``): ``warnings`` is empty, what
        the contract noticed was answered to ``POST /events``."""
        at = self.engine.resolve_as_of(as_of, self.clock.now())
        return self._scored(lead_id, at, now=as_of is None)[0]

    def _scored(self, lead_id: str, at: pd.Timestamp, now: bool) -> tuple[dict[str, Any], Any]:
        """:meth:`lead` at ``at`` (``now``: the service's present, when the stored state's
        ``mql_since``/``mql_until`` may answer), and the history it was scored from."""
        hist, state = self._view(lead_id, at)
        response = self.engine.score_tables(RequestTables(hist.leads, hist.activities, at), reasons=True,
                                            lead_ids=[lead_id])
        item = next(s for s in response.scores if s.lead_id == lead_id)
        since = until = None
        lead_state = hist.state_at(lead_id, at)
        if item.is_mql and lead_state == "open":
            fresh = (now and state is not None and state.changed == 0 and state.is_mql
                     and state.scored_at is not None and state.scored_at <= micros(at)
                     and state.model_version == self.scorer.model_key and state.mql_since is not None
                     and (state.mql_until is None or state.mql_until > micros(at)))
            if fresh:
                since, until = stamp(state.mql_since), stamp(state.mql_until)
            else:
                since = mql_since(self.engine.model, hist, lead_id, at)
                until = mql_until(self.engine.model, hist, [lead_id], at, self.config.lookahead_days)[lead_id]
        return {"as_of": iso_utc(at), **item.model_dump(), "state": lead_state,
                "mql_since": None if since is None else iso_utc(since),
                "mql_until": None if until is None else iso_utc(until),
                "warnings": [{"field": f"{w.table}.{w.column}" if w.column else w.table, "message": w.message}
                             for w in hist.warnings]}, hist

    def _view(self, lead_id: str, at: pd.Timestamp) -> tuple[Any, Any]:
        """The lead's history at ``at`` and its stored state, from one read of the store."""
        raw, state = self.store.lead_view(lead_id)
        if raw is None:
            raise RequestRejected(404, "no such lead in the store", [FieldProblem(
                "lead_id", "no lead event with this lead_id has been stored (or it was erased)")])
        try:
            hist = stored_history(raw, at)
        except LeadNotScorable as exc:
            raise RequestRejected(422, "the lead cannot be scored at as_of", [FieldProblem("as_of", str(exc))]) from None
        if lead_id not in set(hist.leads["lead_id"]):
            raise RequestRejected(422, "the lead cannot be scored at as_of", [FieldProblem(
                "as_of", "the lead was created after as_of")])
        return hist, state

    def timeline(self, lead_id: str) -> dict[str, Any]:
        """The lead card's picture of a stored lead: score through time, events,
        threshold, and the decay ahead to ``mql_until``; and its account (``account``:
        the summary ``POST /score`` gives for its stored buying group at the same moment,
        null without an account or account scores) with the account's leads
        (``account_leads``: each one's ``lead_id`` and ``state``, for the card to open)."""
        now = self.clock.now()
        item, hist = self._scored(lead_id, now, now=True)  # the card, its timeline and account at one moment
        until = pd.Timestamp(item["mql_until"]) if item["mql_until"] else None
        out = timeline(self.engine.model, hist, lead_id, now, until)
        out["threshold_score"] = self.engine.info()["threshold"].get("score")
        out["lead"] = item
        out["handoffs"] = [_handoff_json(h) for h in self.store.handoffs_of(lead_id)]
        account = self._account_of(lead_id, hist, now)
        out["account"] = None if account is None else account.model_dump(mode="json")
        out["account_leads"] = [] if account is None else [
            {"lead_id": i, "state": hist.state_at(i, now)} for i in account.lead_ids]
        return out

    def _account_of(self, lead_id: str, hist: Any, now: pd.Timestamp) -> Any:
        """The AccountSummary of the lead's account from its stored buying group at ``now``
        (the whole group scored, as ``POST /score`` scores a request), or None. Only the
        lead card's timeline asks: ``GET /leads/{id}`` stays one lead's work."""
        if self.engine.model.accounts is None:
            return None
        own = hist.leads.loc[hist.leads["lead_id"] == lead_id, "account_id"] if "account_id" in hist.leads else ()
        if not len(own) or pd.isna(own.iloc[0]):
            return None  # no account: nothing to score
        response = self.engine.score_tables(RequestTables(hist.leads, hist.activities, now), reasons=True)
        return next((a for a in response.accounts if lead_id in a.lead_ids), None)

    def erase(self, lead_id: str) -> bool:
        """Erase a lead and everything of it; False when the store had nothing of it."""
        found = self.store.delete_lead(lead_id)
        if found:
            self._wake_scorer()
        return found

    def handoffs(self, after: int, limit: int) -> dict[str, Any]:
        """A page of hand-offs after ``after``, in order, and the cursor to ask from next."""
        items = [_handoff_json(h) for h in self.store.handoffs_after(after, limit)]
        return {"handoffs": items, "next_cursor": items[-1]["cursor"] if items else after}

    def leads(self, query: str, mql_only: bool, offset: int, limit: int) -> dict[str, Any]:
        """Stored leads for the lead card's list."""
        rows, total = self.store.lead_ids(query, mql_only, limit, offset)
        for row in rows:
            for key in ("mql_since", "mql_until"):
                row[key] = None if row[key] is None else iso_utc(stamp(row[key]))
        return {"leads": rows, "total": total, "offset": offset, "now": iso_utc(self.clock.now())}

    def status(self) -> dict[str, Any]:
        """The store's counts and the scorer's health (for ``GET /model``)."""
        from mqlscore.store.scorer import MODEL_CHANGE_META

        change = self.store.meta(MODEL_CHANGE_META)
        return {"location": self.store.location, "counts": self.store.counts(), "clock": repr(self.clock),
                "now": iso_utc(self.clock.now()), "last_model_change": json.loads(change) if change else None,
                "scorer_error": self._scorer_error(),
                "webhook": None if self.sender is None else self.sender.status()}


    def _scorer_error(self) -> str | None:
        if self.thread is not None:
            return self.thread.last_error
        from mqlscore.serving.scorer_process import SCORER_STATUS_META

        status = self.store.meta(SCORER_STATUS_META)  # the scorer process's (maybe another worker's)
        return json.loads(status).get("error") if status else None


_EVENT_INDEX = re.compile(r"^events\[(\d+)\](.*)$", re.DOTALL)


def _outcome_leads(events: list[Any]) -> list[str]:
    """The leads whose stored creation time the contract needs: those of outcome events
    (an outcome may not come before its lead's created_at; activities have no such rule)."""
    return [str(e["lead_id"]) for e in events
            if e.get("kind") == "outcome" and isinstance(e.get("lead_id"), (str, int, float))]


def _rejected(exc: EventsRejected) -> RequestRejected:
    return RequestRejected(422, exc.error, [FieldProblem(f, m) for f, m in exc.problems])


def _handoff_json(h: dict[str, Any]) -> dict[str, Any]:
    out = dict(h)
    out["at"] = iso_utc(stamp(h["at"]))
    out["recorded_at"] = iso_utc(stamp(h["recorded_at"]))
    return out
