"""The lead store's schema, as numbered migrations applied in order.

Each migration runs once, in one transaction, and is recorded in
``schema_version``; opening a store applies the ones it lacks (two workers
starting together apply each once: PostgreSQL takes an advisory lock, SQLite its
write lock). A store migrated by a newer mqlscore is refused rather than guessed at.

Times are whole microseconds since 1970 UTC (``BIGINT``) on both databases: exact,
ordered, and the same numbers the feature code counts in. The store keeps what the
features need and no more: leads as minimised by
``mqlscore.features.fit.minimise_leads`` (derived facts, never an email, a name or
a raw job title), activities and outcomes as the contract has them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from mqlscore.store.database import POSTGRES, Cursor, Database


@dataclass(frozen=True)
class Migration:
    """One step of the schema."""

    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "leads, activities, outcomes, events, lead states, hand-offs, deliveries", (
        # The idempotency log: one row per accepted event id (no content: that is in the tables below).
        """CREATE TABLE events (
            event_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            lead_id TEXT NOT NULL,
            received_at BIGINT NOT NULL)""",
        "CREATE INDEX events_lead ON events (lead_id)",
        # A lead's fields as minimised (JSON of the contract's fields and extras, derived facts in
        # place of personal ones); a later lead event replaces them.
        """CREATE TABLE leads (
            lead_id TEXT PRIMARY KEY,
            account_id TEXT,
            created_at BIGINT NOT NULL,
            fields TEXT NOT NULL,
            updated_at BIGINT NOT NULL)""",
        "CREATE INDEX leads_account ON leads (account_id)",
        """CREATE TABLE activities (
            event_id TEXT PRIMARY KEY,
            lead_id TEXT NOT NULL,
            occurred_at BIGINT NOT NULL,
            activity_type TEXT NOT NULL,
            detail TEXT)""",
        "CREATE INDEX activities_lead ON activities (lead_id, occurred_at)",
        """CREATE TABLE outcomes (
            lead_id TEXT PRIMARY KEY,
            sql_at BIGINT,
            disqualified_at BIGINT)""",
        # What the store last concluded about each lead: its MQL state and when decay ends it.
        # ``changed`` counts events touching the lead (its own or its account's) since it was
        # last scored; ``quiet`` marks a backfilled lead whose first state is set without a hand-off.
        """CREATE TABLE lead_state (
            lead_id TEXT PRIMARY KEY,
            changed BIGINT NOT NULL DEFAULT 0,
            quiet INTEGER NOT NULL DEFAULT 0,
            is_mql INTEGER NOT NULL DEFAULT 0,
            probability DOUBLE PRECISION,
            score DOUBLE PRECISION,
            mql_since BIGINT,
            mql_until BIGINT,
            scored_at BIGINT,
            model_version TEXT,
            lease_until BIGINT NOT NULL DEFAULT 0)""",
        "CREATE INDEX lead_state_changed ON lead_state (changed)",
        "CREATE INDEX lead_state_until ON lead_state (mql_until)",
        # Every crossing of the MQL threshold, numbered without gaps in the order recorded.
        """CREATE TABLE handoffs (
            cursor BIGINT PRIMARY KEY,
            lead_id TEXT NOT NULL,
            account_id TEXT,
            direction TEXT NOT NULL,
            cause TEXT NOT NULL,
            at BIGINT NOT NULL,
            recorded_at BIGINT NOT NULL,
            probability DOUBLE PRECISION NOT NULL,
            score DOUBLE PRECISION NOT NULL,
            tier TEXT NOT NULL,
            threshold DOUBLE PRECISION NOT NULL,
            model_name TEXT NOT NULL,
            model_version TEXT NOT NULL,
            reasons TEXT NOT NULL)""",
        "CREATE INDEX handoffs_lead ON handoffs (lead_id)",
        # Small facts: the hand-off counter, the model the states were computed with.
        "CREATE TABLE store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "INSERT INTO store_meta (name, value) VALUES ('handoff_cursor', '0')",
        # Webhook delivery: how far each target has been sent, and who is sending.
        """CREATE TABLE deliveries (
            target TEXT PRIMARY KEY,
            delivered_through BIGINT NOT NULL,
            lease_until BIGINT NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT)""",
    )),
)

LATEST_VERSION = MIGRATIONS[-1].version


class NewerStore(RuntimeError):
    """The store was migrated by a newer mqlscore than this one."""


def _now_us() -> int:
    return time.time_ns() // 1000


def current_version(cur: Cursor) -> int:
    """The schema version a store is at (0: empty)."""
    cur.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
    row = cur.fetchone()
    return int(row[0]) if row else 0


def _apply(cur: Cursor) -> list[int]:
    if cur.dialect == POSTGRES:
        cur.execute("SELECT pg_advisory_xact_lock(7263001)")  # one migrating worker at a time
    cur.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
                "applied_at BIGINT NOT NULL)")
    have = current_version(cur)
    if have > LATEST_VERSION:
        raise NewerStore(f"the lead store is at schema version {have}; this mqlscore knows up to {LATEST_VERSION}: "
                         "upgrade mqlscore")
    applied = []
    for migration in MIGRATIONS:
        if migration.version <= have:
            continue
        for statement in migration.statements:
            cur.execute(statement)
        cur.execute("INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.description, _now_us()))
        applied.append(migration.version)
    return applied


def migrate(db: Database) -> list[int]:
    """Bring the store's schema up to date; the versions applied (empty when it was)."""
    return db.run(_apply)
