"""The lead store's reads and writes: one method per thing the service does.

Every write is one transaction that returns once durable. Writers touching the
same leads take their rows in one order (sorted ids), so two workers writing
events for one account queue instead of deadlocking; a transaction that still
loses a race is retried whole (:meth:`Database.run`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mqlscore.config import StoreConfig
from mqlscore.contract.schema import LEAD_COLUMNS
from mqlscore.store.database import POSTGRES, Cursor, Database
from mqlscore.store.events import EVENT_COLUMN, EventBatch, to_micros
from mqlscore.store.migrations import migrate

CHUNK = 500  # rows per multi-row statement


def wall_us() -> int:
    """The machine's time in microseconds (leases; business time comes from the clock)."""
    return time.time_ns() // 1000


def micros(ts: pd.Timestamp) -> int:
    """A UTC timestamp as microseconds since 1970."""
    return int(pd.Timestamp(ts).tz_convert("UTC").value // 1000)  # .value counts nanoseconds in any unit


def stamp(us: int | None) -> pd.Timestamp | None:
    """Microseconds since 1970 as a UTC timestamp (None stays None)."""
    return None if us is None else pd.Timestamp(int(us), unit="us", tz="UTC")


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


@dataclass
class Handoff:
    """One crossing of the MQL threshold, before it is numbered."""

    lead_id: str
    account_id: str | None
    direction: str  # "up" | "down"
    cause: str  # "event" | "decay" | "model"
    at: int  # microseconds
    probability: float
    score: float
    tier: str
    threshold: float
    model_name: str
    model_version: str
    reasons: list[dict[str, Any]]


@dataclass
class StateUpdate:
    """What scoring concluded about one lead (``claimed``: the change count it saw)."""

    lead_id: str
    claimed: int
    is_mql: bool
    probability: float | None
    score: float | None
    mql_since: int | None
    mql_until: int | None
    scored_at: int
    model_version: str


@dataclass
class LeadState:
    """A lead's stored MQL state."""

    lead_id: str
    changed: int
    quiet: bool
    is_mql: bool
    probability: float | None
    score: float | None
    mql_since: int | None
    mql_until: int | None
    scored_at: int | None
    model_version: str | None


_STATE_COLUMNS = ("lead_id", "changed", "quiet", "is_mql", "probability", "score", "mql_since", "mql_until",
                  "scored_at", "model_version")
HANDOFF_COLUMNS = ("cursor", "lead_id", "account_id", "direction", "cause", "at", "recorded_at", "probability",
                   "score", "tier", "threshold", "model_name", "model_version", "reasons")


class LeadStore:
    """Leads, activities and outcomes as events left them, each lead's MQL state,
    and the numbered hand-offs."""

    def __init__(self, url: str, config: StoreConfig | None = None) -> None:
        self.db = Database(url)
        self.config = config or StoreConfig()
        self.migrated = migrate(self.db)

    def close(self) -> None:
        """Close the store's connections."""
        self.db.close()

    @property
    def location(self) -> str:
        """Where the store is (never with a password)."""
        return self.db.location

    # -- events in -------------------------------------------------------------
    def created_of(self, lead_ids: Iterable[str]) -> dict[str, pd.Timestamp]:
        """Stored leads' creation times (for the contract's checks of events on them)."""
        ids = sorted(set(lead_ids))
        out: dict[str, pd.Timestamp] = {}
        if not ids:
            return out
        with self.db.read() as cur:
            for part in _chunks(ids):
                cur.execute(f"SELECT lead_id, created_at FROM leads WHERE lead_id IN ({_marks(part)})", part)
                out.update({lead: stamp(us) for lead, us in cur.fetchall()})
        return out

    def ingest(self, batch: EventBatch, quiet: bool = False) -> tuple[int, int]:
        """Write a checked batch; (accepted, duplicates). An event id already in the
        store (or earlier in the batch) changes nothing. Returns once durable.
        ``quiet`` (a backfill) sets new leads' first state without a hand-off."""
        new = self.ingest_new(batch, quiet)
        return len(new), len(batch.ids) - len(new)

    def ingest_new(self, batch: EventBatch, quiet: bool = False) -> set[int]:
        """As :meth:`ingest`, answering which events were accepted: the indices in the
        batch of those whose id was neither stored before nor earlier in the batch
        (several requests written in one transaction each get their own counts)."""
        return self.db.run(self._ingest, batch, quiet)

    def _ingest(self, cur: Cursor, batch: EventBatch, quiet: bool) -> set[int]:
        # Few statements, each of many rows: a statement is a round trip to PostgreSQL, and on
        # either database a moment the thread gives up the GIL and may wait to get it back
        # (the worker's scorer thread is busy under load), so per-row statements cost most.
        now = wall_us()
        first: dict[str, int] = {}
        for i, event_id in enumerate(batch.ids):
            first.setdefault(event_id, i)
        new: set[int] = set()
        for part in _chunks(sorted(first)):  # one lock order for every writer
            rows = [(e, batch.kinds[first[e]], batch.lead_ids[first[e]], now) for e in part]
            insert = (f"INSERT INTO events (event_id, kind, lead_id, received_at) VALUES {_rows_marks(4, len(rows))} "
                      "ON CONFLICT (event_id) DO NOTHING")
            values = [v for r in rows for v in r]
            if cur.dialect == POSTGRES:
                cur.execute(insert + " RETURNING event_id", values)
                new.update(first[e] for (e,) in cur.fetchall())
            else:
                # SQLite holds the write lock for the whole transaction (BEGIN IMMEDIATE), so the
                # ids not stored before are those absent now, read as one row (see _column).
                stored = set(_column(cur, f"SELECT event_id AS v FROM events WHERE event_id IN ({_marks(part)})",
                                     part))
                cur.execute(insert, values)
                new.update(first[e] for e in part if e not in stored)
        if not new:
            return new
        leads, acts = _new_rows(batch.leads, new), _new_rows(batch.activities, new)
        outs = _new_rows(batch.outcomes, new)
        touched = {str(x) for frame in (leads, acts, outs) if len(frame) for x in frame["lead_id"]}
        if not touched:
            return new
        # Read once, before the writes: the buying groups the touched leads are in (a lead
        # moved to another account leaves a changed group behind).
        accounts = self._accounts_of(cur, touched)
        self._write_leads(cur, leads, now, accounts)
        self._write_activities(cur, batch, acts)
        self._write_outcomes(cur, outs)
        self._mark_changed(cur, touched, accounts, quiet, looked_up=True)
        return new

    def _accounts_of(self, cur: Cursor, lead_ids: Iterable[str]) -> set[str]:
        """The stored accounts of these leads."""
        out: set[str] = set()
        for part in _chunks(sorted(set(lead_ids))):
            out.update(_column(cur, f"SELECT DISTINCT account_id AS v FROM leads WHERE lead_id IN ({_marks(part)}) "
                                    "AND account_id IS NOT NULL", part))
        return out

    def _write_leads(self, cur: Cursor, leads: pd.DataFrame, now: int, accounts: set[str]) -> None:
        if leads.empty:
            return
        created = to_micros(leads["created_at"]).tolist()
        account = leads["account_id"].tolist() if "account_id" in leads else [None] * len(leads)
        fields = leads.drop(columns=[c for c in ("lead_id", "created_at", "account_id", EVENT_COLUMN) if c in leads])
        by_id: dict[str, tuple] = {}  # the last copy of a lead in the batch wins
        for lead, acc, at, values in zip(leads["lead_id"].astype(str), account, created, fields.to_dict("records")):
            acc = _json_value(acc)
            if acc is not None:
                accounts.add(str(acc))
            values = {c: _json_value(v) for c, v in values.items()}
            by_id[lead] = (lead, None if acc is None else str(acc), int(at),
                           json.dumps({c: v for c, v in values.items() if v is not None}, sort_keys=True), now)
        for part in _chunks([by_id[k] for k in sorted(by_id)]):
            cur.execute(f"INSERT INTO leads (lead_id, account_id, created_at, fields, updated_at) VALUES "
                        f"{_rows_marks(5, len(part))} ON CONFLICT (lead_id) DO UPDATE SET "
                        "account_id = excluded.account_id, created_at = excluded.created_at, "
                        "fields = excluded.fields, updated_at = excluded.updated_at", [v for r in part for v in r])

    def _write_activities(self, cur: Cursor, batch: EventBatch, acts: pd.DataFrame) -> None:
        if acts.empty:
            return
        at = to_micros(acts["occurred_at"]).tolist()
        detail = acts["detail"].tolist() if "detail" in acts else [None] * len(acts)
        rows = sorted((batch.ids[int(e)], str(lead), int(t), str(kind), _json_value(d))
                      for e, lead, t, kind, d in zip(acts[EVENT_COLUMN].tolist(), acts["lead_id"].tolist(), at,
                                                     acts["activity_type"].tolist(), detail))
        for part in _chunks(rows):
            cur.execute("INSERT INTO activities (event_id, lead_id, occurred_at, activity_type, detail) VALUES "
                        f"{_rows_marks(5, len(part))} ON CONFLICT (event_id) DO NOTHING", [v for r in part for v in r])

    def _write_outcomes(self, cur: Cursor, outcomes: pd.DataFrame) -> None:
        if outcomes.empty:
            return
        earliest: dict[str, list[int | None]] = {}
        # The earliest of each fact wins, as when an export lists a lead's outcome twice
        # (merged here too: one statement may not update a row twice on PostgreSQL).
        for lead, s, d in zip(outcomes["lead_id"].astype(str), to_micros(outcomes["sql_at"]).tolist(),
                              to_micros(outcomes["disqualified_at"]).tolist()):
            facts = earliest.setdefault(lead, [None, None])
            for k, value in enumerate((s, d)):
                if value >= 0 and (facts[k] is None or value < facts[k]):
                    facts[k] = int(value)
        rows = [(lead, *earliest[lead]) for lead in sorted(earliest)]
        for part in _chunks(rows):
            cur.execute(f"INSERT INTO outcomes (lead_id, sql_at, disqualified_at) VALUES {_rows_marks(3, len(part))} "
                        "ON CONFLICT (lead_id) DO UPDATE SET "
                        "sql_at = CASE WHEN outcomes.sql_at IS NULL THEN excluded.sql_at "
                        "WHEN excluded.sql_at IS NULL THEN outcomes.sql_at "
                        "WHEN excluded.sql_at < outcomes.sql_at THEN excluded.sql_at ELSE outcomes.sql_at END, "
                        "disqualified_at = CASE WHEN outcomes.disqualified_at IS NULL THEN excluded.disqualified_at "
                        "WHEN excluded.disqualified_at IS NULL THEN outcomes.disqualified_at "
                        "WHEN excluded.disqualified_at < outcomes.disqualified_at THEN excluded.disqualified_at "
                        "ELSE outcomes.disqualified_at END", [v for r in part for v in r])

    def _mark_changed(self, cur: Cursor, leads: set[str], accounts: set[str], quiet: bool,
                      looked_up: bool = False) -> None:
        """Each touched lead, and every lead of a touched buying group, needs scoring again
        (``looked_up``: ``accounts`` already holds the touched leads' accounts)."""
        ids = set(leads)
        if not looked_up:
            accounts = accounts | self._accounts_of(cur, leads)
        for part in _chunks(sorted(accounts)):
            ids.update(_column(cur, f"SELECT lead_id AS v FROM leads WHERE account_id IN ({_marks(part)})", part))
        for part in _chunks(sorted(ids)):
            cur.execute(f"INSERT INTO lead_state (lead_id, changed, quiet) VALUES {_rows_marks(3, len(part))} "
                        "ON CONFLICT (lead_id) DO UPDATE SET changed = lead_state.changed + 1",
                        [v for lead in part for v in (lead, 1, int(quiet))])

    # -- reads -------------------------------------------------------------------
    def has_lead(self, lead_id: str) -> bool:
        """Whether a lead event for ``lead_id`` is stored."""
        with self.db.read() as cur:
            cur.execute("SELECT 1 FROM leads WHERE lead_id = ?", (lead_id,))
            return cur.fetchone() is not None

    def lead_view(self, lead_id: str) -> tuple[tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None,
                                              LeadState | None]:
        """What scoring one stored lead needs, read in one transaction: its buying group's
        tables (as :meth:`group_tables`; None when the lead is not stored) and its state."""
        with self.db.read() as cur:
            rows = self._group_rows(cur, [lead_id])
            if not any(r[0] == lead_id for r in rows):
                return None, None
            tables = self._group_frames(cur, rows)
            cur.execute(f"SELECT {', '.join(_STATE_COLUMNS)} FROM lead_state WHERE lead_id = ?", (lead_id,))
            row = cur.fetchone()
        return tables, (None if row is None else _state(row))

    def group_tables(self, lead_ids: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """The raw leads, activities and outcomes tables of the leads and their buying
        groups (their accounts' leads: at most ``max_group_leads`` most recent per
        account), ready for the contract's validation. Leads as minimised."""
        with self.db.read() as cur:
            return self._group_frames(cur, self._group_rows(cur, sorted(set(lead_ids))))

    def _group_frames(self, cur: Cursor, rows: list[tuple]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """The group's leads (``rows``), with their activities and outcomes read in the caller's transaction."""
        ids = sorted({r[0] for r in rows})
        acts, outs = [], []
        for part in _chunks(ids):
            cur.execute("SELECT lead_id, occurred_at, activity_type, detail FROM activities "
                        f"WHERE lead_id IN ({_marks(part)}) ORDER BY lead_id, occurred_at, event_id", part)
            acts += cur.fetchall()
            cur.execute(f"SELECT lead_id, sql_at, disqualified_at FROM outcomes WHERE lead_id IN ({_marks(part)})",
                        part)
            outs += cur.fetchall()
        leads = _lead_frame(rows)
        activities = _frame(acts, ("lead_id", "occurred_at", "activity_type", "detail"), times=("occurred_at",))
        outcomes = _frame(outs, ("lead_id", "sql_at", "disqualified_at"), times=("sql_at", "disqualified_at"))
        return leads, activities, outcomes

    def _group_rows(self, cur: Cursor, ids: list[str]) -> list[tuple]:
        rows: dict[str, tuple] = {}
        accounts: set[str] = set()
        for part in _chunks(ids):
            cur.execute(f"SELECT lead_id, account_id, created_at, fields FROM leads WHERE lead_id IN ({_marks(part)})",
                        part)
            for row in cur.fetchall():
                rows[row[0]] = row
                if row[1] is not None:
                    accounts.add(row[1])
        for account in sorted(accounts):
            cur.execute("SELECT lead_id, account_id, created_at, fields FROM leads WHERE account_id = ? "
                        "ORDER BY created_at DESC, lead_id LIMIT ?", (account, self.config.max_group_leads))
            for row in cur.fetchall():
                rows.setdefault(row[0], row)
        return [rows[k] for k in sorted(rows)]

    def states(self, lead_ids: Sequence[str]) -> dict[str, LeadState]:
        """The stored MQL states of these leads (those that have one)."""
        out: dict[str, LeadState] = {}
        with self.db.read() as cur:
            for part in _chunks(sorted(set(lead_ids))):
                cur.execute(f"SELECT {', '.join(_STATE_COLUMNS)} FROM lead_state WHERE lead_id IN ({_marks(part)})",
                            part)
                for row in cur.fetchall():
                    out[row[0]] = _state(row)
        return out

    def account_of(self, lead_id: str) -> str | None:
        """A stored lead's account id."""
        with self.db.read() as cur:
            cur.execute("SELECT account_id FROM leads WHERE lead_id = ?", (lead_id,))
            row = cur.fetchone()
        return None if row is None else row[0]

    def lead_ids(self, query: str = "", mql_only: bool = False, limit: int = 50, offset: int = 0,
                 ) -> tuple[list[dict[str, Any]], int]:
        """Stored leads for the lead card's list (MQLs first, then by score), and how many match;
        ``query`` matches the start of a lead or account id."""
        where, params = ["l.lead_id = s.lead_id"], []
        if query:  # ids starting with the query ("L00057" finds L0005765); _ and % are plain characters
            pattern = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append("(l.lead_id LIKE ? ESCAPE '\\' OR l.account_id LIKE ? ESCAPE '\\')")
            params += [pattern, pattern]
        if mql_only:
            where.append("s.is_mql = 1")
        sql_where = " AND ".join(where)
        with self.db.read() as cur:
            cur.execute(f"SELECT COUNT(*) FROM leads l, lead_state s WHERE {sql_where}", params)
            total = int(cur.fetchone()[0])
            cur.execute(f"SELECT l.lead_id, l.account_id, s.is_mql, s.score, s.probability, s.mql_since, s.mql_until "
                        f"FROM leads l, lead_state s WHERE {sql_where} "
                        "ORDER BY s.is_mql DESC, s.score DESC, l.lead_id LIMIT ? OFFSET ?", [*params, limit, offset])
            rows = cur.fetchall()
        return [{"lead_id": r[0], "account_id": r[1], "is_mql": bool(r[2]), "score": r[3], "probability": r[4],
                 "mql_since": r[5], "mql_until": r[6]} for r in rows], total

    def counts(self) -> dict[str, int]:
        """How many leads, activities, events, MQLs, hand-offs and changed leads the store holds."""
        out = {}
        with self.db.read() as cur:
            for name, sql in (("leads", "SELECT COUNT(*) FROM leads"), ("activities", "SELECT COUNT(*) FROM activities"),
                              ("events", "SELECT COUNT(*) FROM events"), ("outcomes", "SELECT COUNT(*) FROM outcomes"),
                              ("mqls", "SELECT COUNT(*) FROM lead_state WHERE is_mql = 1"),
                              ("waiting", "SELECT COUNT(*) FROM lead_state s, leads l WHERE s.lead_id = l.lead_id "
                                          "AND s.changed > 0"),
                              ("handoffs", "SELECT COUNT(*) FROM handoffs")):
                cur.execute(sql)
                out[name] = int(cur.fetchone()[0])
        return out

    # -- erasure ----------------------------------------------------------------
    def delete_lead(self, lead_id: str) -> bool:
        """Erase a lead: its row, activities, outcome, events, state and hand-offs.
        Its colleagues are scored again without it. False when nothing was stored."""
        return self.db.run(self._delete, lead_id)

    def _delete(self, cur: Cursor, lead_id: str) -> bool:
        cur.execute("SELECT account_id FROM leads WHERE lead_id = ?", (lead_id,))
        row = cur.fetchone()
        found = row is not None
        for table in ("leads", "activities", "outcomes", "events", "lead_state", "handoffs"):
            cur.execute(f"DELETE FROM {table} WHERE lead_id = ?", (lead_id,))
            found = found or cur.rowcount > 0
        if row is not None and row[0] is not None:
            self._mark_changed(cur, set(), {row[0]}, quiet=False)
        return found

    def lead_rows_anywhere(self, lead_id: str) -> dict[str, int]:
        """How many rows of each table still name ``lead_id`` (for checks after an erasure)."""
        out = {}
        with self.db.read() as cur:
            for table in ("leads", "activities", "outcomes", "events", "lead_state", "handoffs"):
                cur.execute(f"SELECT COUNT(*) FROM {table} WHERE lead_id = ?", (lead_id,))
                out[table] = int(cur.fetchone()[0])
        return out

    # -- scoring bookkeeping --------------------------------------------------------
    def claim_changed(self, limit: int) -> list[tuple[str, int]]:
        """Take up to ``limit`` leads whose history changed since they were scored
        (with the change count seen), leased for ``lease_seconds``."""
        return self.db.run(self._claim, "changed > 0", (), limit)

    def claim_decayed(self, now_us: int, limit: int) -> list[tuple[str, int]]:
        """Take MQLs whose ``mql_until`` has come (and whose history did not change since)."""
        return self.db.run(self._claim, "changed = 0 AND is_mql = 1 AND mql_until IS NOT NULL AND mql_until <= ?",
                           (now_us,), limit)

    def claim_all(self, limit: int, model_version: str) -> list[tuple[str, int]]:
        """Take leads last scored by another model (never-scored ones are changed leads)."""
        return self.db.run(self._claim, "model_version IS NOT NULL AND model_version <> ?", (model_version,), limit)

    def _claim(self, cur: Cursor, condition: str, params: tuple, limit: int) -> list[tuple[str, int]]:
        now = wall_us()
        lock = " FOR UPDATE SKIP LOCKED" if cur.dialect == POSTGRES else ""
        cur.execute(f"SELECT s.lead_id, s.changed FROM lead_state s WHERE {condition} AND s.lease_until < ? "
                    f"AND EXISTS (SELECT 1 FROM leads l WHERE l.lead_id = s.lead_id) ORDER BY s.lead_id LIMIT ?{lock}",
                    (*params, now, limit))
        rows = [(lead, int(changed)) for lead, changed in cur.fetchall()]
        until = now + int(self.config.lease_seconds * 1e6)
        cur.executemany("UPDATE lead_state SET lease_until = ? WHERE lead_id = ?", [(until, r[0]) for r in rows])
        return rows

    def release(self, lead_ids: Sequence[str]) -> None:
        """Give back leads taken but not scored."""
        self.db.run(lambda cur: cur.executemany("UPDATE lead_state SET lease_until = 0 WHERE lead_id = ?",
                                                [(lead,) for lead in sorted(lead_ids)]))

    def save(self, updates: Sequence[StateUpdate], handoffs: Sequence[Handoff], recorded_at: int) -> list[int]:
        """Store what scoring concluded and number its hand-offs, in one transaction;
        the hand-offs' cursors. A lead whose history changed again while it was being
        scored stays marked changed (it is scored again)."""
        return self.db.run(self._save, list(updates), list(handoffs), recorded_at)

    def _save(self, cur: Cursor, updates: list[StateUpdate], handoffs: list[Handoff], recorded_at: int) -> list[int]:
        cursors: list[int] = []
        if handoffs:
            # The counter row is locked until commit: hand-offs are numbered in commit order,
            # without gaps, so a reader paging by cursor never skips one committed later.
            cur.execute("UPDATE store_meta SET value = CAST(CAST(value AS BIGINT) + ? AS TEXT) "
                        "WHERE name = 'handoff_cursor' RETURNING value", (len(handoffs),))
            last = int(cur.fetchone()[0])
            cursors = list(range(last - len(handoffs) + 1, last + 1))
            cur.executemany(f"INSERT INTO handoffs ({', '.join(HANDOFF_COLUMNS)}) VALUES "
                            f"({', '.join(['?'] * len(HANDOFF_COLUMNS))})",
                            [(c, h.lead_id, h.account_id, h.direction, h.cause, h.at, recorded_at, h.probability,
                              h.score, h.tier, h.threshold, h.model_name, h.model_version,
                              json.dumps(h.reasons)) for c, h in zip(cursors, handoffs)])
        cur.executemany("UPDATE lead_state SET changed = CASE WHEN changed > ? THEN changed - ? ELSE 0 END, quiet = 0, "
                        "is_mql = ?, probability = ?, score = ?, mql_since = ?, mql_until = ?, scored_at = ?, "
                        "model_version = ?, lease_until = 0 WHERE lead_id = ?",
                        [(u.claimed, u.claimed, int(u.is_mql), u.probability, u.score, u.mql_since, u.mql_until,
                          u.scored_at, u.model_version, u.lead_id) for u in sorted(updates, key=lambda u: u.lead_id)])
        return cursors

    # -- hand-offs out ------------------------------------------------------------
    def handoffs_after(self, cursor: int, limit: int) -> list[dict[str, Any]]:
        """Hand-offs numbered after ``cursor``, in order, at most ``limit``."""
        with self.db.read() as cur:
            cur.execute(f"SELECT {', '.join(HANDOFF_COLUMNS)} FROM handoffs WHERE cursor > ? ORDER BY cursor LIMIT ?",
                        (int(cursor), int(limit)))
            rows = cur.fetchall()
        return [_handoff(row) for row in rows]

    def handoffs_of(self, lead_id: str) -> list[dict[str, Any]]:
        """A lead's hand-offs, in order."""
        with self.db.read() as cur:
            cur.execute(f"SELECT {', '.join(HANDOFF_COLUMNS)} FROM handoffs WHERE lead_id = ? ORDER BY cursor",
                        (lead_id,))
            return [_handoff(row) for row in cur.fetchall()]

    def last_cursor(self) -> int:
        """The cursor of the newest hand-off (0: none yet)."""
        with self.db.read() as cur:
            cur.execute("SELECT value FROM store_meta WHERE name = 'handoff_cursor'")
            return int(cur.fetchone()[0])

    # -- small facts ----------------------------------------------------------------
    def meta(self, name: str) -> str | None:
        """A stored fact (``model_version``, ...)."""
        with self.db.read() as cur:
            cur.execute("SELECT value FROM store_meta WHERE name = ?", (name,))
            row = cur.fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        """Store a fact."""
        self.db.run(lambda cur: cur.execute("INSERT INTO store_meta (name, value) VALUES (?, ?) ON CONFLICT (name) "
                                            "DO UPDATE SET value = excluded.value", (name, value)))


def _state(row: tuple) -> LeadState:
    lead, changed, quiet, is_mql, p, score, since, until, scored, version = row
    return LeadState(lead, int(changed), bool(quiet), bool(is_mql), p, score, since, until, scored, version)


def _handoff(row: tuple) -> dict[str, Any]:
    out = dict(zip(HANDOFF_COLUMNS, row))
    out["reasons"] = json.loads(out["reasons"])
    return out


def _utc_micros(values: Sequence[int | None]) -> pd.Series:
    """Stored microseconds as the contract's UTC timestamps (None as NaT)."""
    return pd.Series(pd.DatetimeIndex(np.array(values, dtype="datetime64[us]"), tz="UTC"))


def _frame(rows: list[tuple], columns: tuple[str, ...], times: tuple[str, ...]) -> pd.DataFrame:
    """Fetched rows as a frame built column by column (a fraction of the cost of building
    it from rows, which counts for the one buying group a GET reads): stored
    microseconds as UTC timestamps, texts as the contract's text dtype even with no row."""
    values = list(zip(*rows)) if rows else [()] * len(columns)
    return pd.DataFrame({c: _utc_micros(v) if c in times else pd.Series(list(v), dtype="str" if not rows else None)
                         for c, v in zip(columns, values)})


def _lead_frame(rows: list[tuple]) -> pd.DataFrame:
    """Stored lead rows (id, account, created, fields as JSON) as the raw leads table."""
    if not rows:
        return pd.DataFrame({"lead_id": pd.Series([], dtype=object), "created_at": pd.Series([], dtype=object)})
    fields = [json.loads(f) for _, _, _, f in rows]
    names = list(dict.fromkeys(k for f in fields for k in f))
    columns = {"lead_id": [r[0] for r in rows], "created_at": _utc_micros([r[2] for r in rows]),
               "account_id": [r[1] for r in rows], **{k: [f.get(k) for f in fields] for k in names}}
    order = [c for c in LEAD_COLUMNS if c in columns]  # the contract's order, as its tables have it
    return pd.DataFrame({c: columns[c] for c in order + [c for c in columns if c not in order]})


def _chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


def _column(cur: Cursor, sql: str, params: Sequence[Any]) -> list[Any]:
    """The values of a one-column query (its column named ``v``). On SQLite they come as
    one JSON row: each row fetched is a step that gives up the GIL, and under load the
    thread may then wait a switch interval (5 ms) to get it back from the scorer."""
    if cur.dialect == POSTGRES:
        return [v for (v,) in cur.execute(sql, params).fetchall()]
    row = cur.execute(f"SELECT json_group_array(v) FROM ({sql}) AS q", params).fetchone()
    return json.loads(row[0]) if row and row[0] else []


def _rows_marks(columns: int, rows: int) -> str:
    """``(?, ?), (?, ?), ...``: placeholders of a multi-row VALUES."""
    row = "(" + ", ".join("?" * columns) + ")"
    return ", ".join([row] * rows)


def _new_rows(frame: pd.DataFrame, new: set[int]) -> pd.DataFrame:
    """The rows of a batch table whose event was accepted."""
    if frame.empty or EVENT_COLUMN not in frame:
        return frame.iloc[:0]
    keep = np.fromiter((int(e) in new for e in frame[EVENT_COLUMN].tolist()), dtype=bool, count=len(frame))
    return frame if keep.all() else frame[keep]
