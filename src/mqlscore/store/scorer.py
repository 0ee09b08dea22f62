"""Keeping stored scores up to date, and recording every MQL crossing once.

Three kinds of work, each taking its leads from the store under a lease so that
several workers share it and a killed worker's leads are taken up again:

- **changed leads** (an event on the lead or its buying group): scored now; a lead
  that rose above the threshold is handed off ``up`` at the moment its current
  stretch began (``mql_since``), one that fell below is handed off ``down``
  (``cause`` ``event``: an unsubscribe, a colleague leaving the account, ...);
- **decayed MQLs** (the clock has passed their ``mql_until``): handed off ``down`` at
  ``mql_until`` (``cause`` ``decay``), with no event needed;
- **a new model** (after ``build``): every lead scored again, each crossing its
  threshold or scores imply handed off (``cause`` ``model``).

A backfilled lead (``mqlscore store load``) gets its first state quietly: history
already handed off by the old process is not handed off again.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from mqlscore.config import StoreConfig
from mqlscore.store.clock import Clock, SystemClock
from mqlscore.store.repository import Handoff, LeadState, LeadStore, StateUpdate, micros, stamp
from mqlscore.store.timeline import History, LeadNotScorable, mql_since, mql_until, score_at, stored_history

if TYPE_CHECKING:
    from mqlscore.scoring import ScoringModel

log = logging.getLogger("mqlscore.store")
MODEL_META = "model_version"
MODEL_CHANGE_META = "last_model_change"  # what the last new model's rescoring handed off (JSON)
MAX_REASONS = 5


@dataclass
class Pass:
    """What one pass did."""

    scored: int = 0
    up: int = 0
    down: int = 0
    cursors: list[int] = field(default_factory=list)

    def add(self, other: Pass) -> None:
        """Count another pass in."""
        self.scored += other.scored
        self.up += other.up
        self.down += other.down
        self.cursors += other.cursors

    @property
    def handoffs(self) -> int:
        """Hand-offs recorded."""
        return self.up + self.down


class StoreScorer:
    """Scores stored leads with one model and records their crossings."""

    def __init__(self, store: LeadStore, model: ScoringModel, clock: Clock | None = None,
                 config: StoreConfig | None = None) -> None:
        self.store = store
        self.model = model
        self.clock = clock or SystemClock()
        self.config = config or store.config
        self.name = str(model.metadata.get("model_name", "mqlscore"))
        self.version = str(model.metadata.get("model_version", "unregistered"))
        self.model_key = f"{self.name}:{self.version}"

    # -- one pass of each kind ------------------------------------------------------
    def process_changed(self) -> Pass:
        """Score leads whose history changed; record crossings (cause ``event``)."""
        claimed = self.store.claim_changed(self.config.score_batch)
        return self._score_claimed(claimed, self.clock.now(), cause="event")

    def process_decayed(self) -> Pass:
        """Hand off MQLs whose ``mql_until`` the clock has passed (cause ``decay``)."""
        now = self.clock.now()
        claimed = self.store.claim_decayed(micros(now), self.config.score_batch)
        if not claimed:
            return Pass()
        states = self.store.states([lead for lead, _ in claimed])
        done = Pass()
        # Each lead is scored at its own mql_until: the hand-off's moment and its numbers.
        by_moment: dict[int, list[tuple[str, int]]] = {}
        for lead, changed in claimed:
            by_moment.setdefault(int(states[lead].mql_until), []).append((lead, changed))
        for until, group in sorted(by_moment.items()):
            done.add(self._score_claimed(group, stamp(until), cause="decay", states=states, now=now))
        return done

    def process_model_change(self, progress: Callable[[int], None] | None = None) -> Pass:
        """After a new model: score every lead it has not scored, recording the
        crossings its threshold or scores imply (cause ``model``)."""
        total = Pass()
        previous = self.store.meta(MODEL_META)
        while True:
            claimed = self.store.claim_all(self.config.score_batch, self.model_key)
            if not claimed:
                break
            total.add(self._score_claimed(claimed, self.clock.now(), cause="model"))
            if progress is not None:
                progress(total.scored)
        if previous != self.model_key:
            if total.scored:
                log.info("store: model %s replaced %s: %d leads rescored, %d hand-offs (%d up, %d down)",
                         self.model_key, previous, total.scored, total.handoffs, total.up, total.down)
            self.store.set_meta(MODEL_META, self.model_key)
            self.store.set_meta(MODEL_CHANGE_META, json.dumps({
                "model": self.model_key, "replaced": previous, "at": micros(self.clock.now()),
                "rescored": total.scored, "handoffs": total.handoffs, "up": total.up, "down": total.down}))
        return total

    def tick(self) -> Pass:
        """Everything due now: decayed MQLs first, then changed leads (until none is left)."""
        total = Pass()
        for work in (self.process_decayed, self.process_changed):
            while True:
                done = work()
                total.add(done)
                if not done.scored:
                    break
        return total

    # -- the work itself --------------------------------------------------------------
    def _score_claimed(self, claimed: Sequence[tuple[str, int]], at: pd.Timestamp, cause: str,
                       states: dict[str, LeadState] | None = None, now: pd.Timestamp | None = None) -> Pass:
        if not claimed:
            return Pass()
        ids = [lead for lead, _ in claimed]
        try:
            updates, handoffs = self._conclude(claimed, at, cause, states)
        except Exception:
            self.store.release(ids)
            raise
        cursors = self.store.save(updates, handoffs, micros(now or self.clock.now()))
        done = Pass(scored=len(updates), cursors=cursors)
        done.up = sum(h.direction == "up" for h in handoffs)
        done.down = sum(h.direction == "down" for h in handoffs)
        if handoffs:
            log.info("store: %d hand-offs (%d up, %d down; cause %s) after scoring %d leads", len(handoffs), done.up,
                     done.down, cause, len(updates))
        return done

    def _conclude(self, claimed: Sequence[tuple[str, int]], at: pd.Timestamp, cause: str,
                  states: dict[str, LeadState] | None) -> tuple[list[StateUpdate], list[Handoff]]:
        ids = [lead for lead, _ in claimed]
        states = states if states is not None else self.store.states(ids)
        try:
            hist = stored_history(self.store.group_tables(ids), at)
        except LeadNotScorable:
            hist = None
        scorable = [] if hist is None else [lead for lead in ids if lead in set(hist.leads["lead_id"])]
        scores = score_at(self.model, hist, scorable, [at] * len(scorable), reasons=True) if scorable else None
        row_of = {lead: k for k, lead in enumerate(scorable)}
        open_mqls = [lead for lead in scorable if bool(scores.at[row_of[lead], "is_mql"])
                     and hist.state_at(lead, at) == "open"]
        untils = mql_until(self.model, hist, open_mqls, at, self.config.lookahead_days) if open_mqls else {}
        updates, handoffs = [], []
        for lead, changed in claimed:
            before = states.get(lead)
            if lead not in row_of:  # created after `at` (or gone): nothing to conclude yet
                updates.append(StateUpdate(lead, changed, False, None, None, None, None, micros(at), self.model_key))
                continue
            row = scores.iloc[row_of[lead]]
            is_mql = lead in untils
            was_mql = bool(before and before.is_mql)
            since = None
            if is_mql:
                since = (before.mql_since if was_mql and before.mql_since is not None
                         else micros(mql_since(self.model, hist, lead, at)))
                if not was_mql and before is not None and before.scored_at is not None:
                    # Events dated before the lead was last seen below the threshold arrived late:
                    # the stretch handed off starts when the store saw it, not earlier.
                    since = max(since, int(before.scored_at))
            until = untils.get(lead)
            updates.append(StateUpdate(lead, changed, is_mql, float(row["probability"]), float(row["score"]), since,
                                       None if until is None else micros(until), micros(at), self.model_key))
            quiet = before is None or before.quiet
            if is_mql != was_mql and not quiet and (is_mql or hist.state_at(lead, at) == "open"):
                handoffs.append(self._handoff(lead, hist, row, is_mql, before, since, at, cause))
        return updates, handoffs

    def _handoff(self, lead: str, hist: History, row: pd.Series, is_mql: bool, before: LeadState | None,
                 since: int | None, at: pd.Timestamp, cause: str) -> Handoff:
        if is_mql:
            moment = since if cause == "event" and since is not None else micros(at)
        else:
            moment = micros(at)
            if cause == "event" and before is not None and before.mql_until is not None \
                    and before.mql_until <= micros(at):
                cause, moment = "decay", int(before.mql_until)  # it had faded before the event came
        account = hist.leads.loc[hist.leads["lead_id"] == lead, "account_id"] if "account_id" in hist.leads else None
        account_id = None if account is None or account.empty or pd.isna(account.iloc[0]) else str(account.iloc[0])
        reasons = [dict(r) for r in (row["reasons"] or [])][:MAX_REASONS]
        return Handoff(lead, account_id, "up" if is_mql else "down", cause, moment, float(row["probability"]),
                       float(row["score"]), str(row["tier"]), float(self.model.threshold), self.name, self.version,
                       reasons)


class ScorerThread:
    """The scorer running in the background of a service worker: every
    ``scan_seconds`` it does what is due (:meth:`StoreScorer.tick`)."""

    def __init__(self, scorer: StoreScorer, before_first: Callable[[], Any] | None = None,
                 on_error: Callable[[Exception], Any] | None = None,
                 on_status: Callable[[str | None], Any] | None = None) -> None:
        self.scorer = scorer
        self.before_first = before_first  # e.g. rescoring the store after a new model
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mqlscore-store-scorer", daemon=True)
        self.on_error = on_error
        self.on_status = on_status  # told each time last_error changes (None: healthy again)
        self.last_error: str | None = None
        self.passes = 0

    def start(self) -> ScorerThread:
        """Start the loop."""
        self._thread.start()
        return self

    def wake(self) -> None:
        """Look now rather than at the next scan (events just came in)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop and wait for it."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            before = self.last_error
            try:
                if self.before_first is not None:
                    self.before_first()
                    self.before_first = None
                self.scorer.tick()
                self.passes += 1
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - a database hiccup must not stop the scorer for good
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("store scorer: %s (trying again in %.0f s)", self.last_error,
                            self.scorer.config.scan_seconds)
                if self.on_error is not None:
                    self.on_error(exc)
            if self.on_status is not None and self.last_error != before:
                try:
                    self.on_status(self.last_error)
                except Exception as exc:  # noqa: BLE001 - reporting must not stop the scorer either
                    log.warning("store scorer: cannot report its status: %s", type(exc).__name__)
            self._wake.wait(self.scorer.config.scan_seconds)
            self._wake.clear()

