"""The lead store: events in, scores kept up to date as time passes, MQL hand-offs out.

One module per job, dependencies pointing one way:

- :mod:`.clock` what "now" is (the machine's, shifted, or moved by hand in tests);
- :mod:`.database` one connection layer over SQLite and PostgreSQL;
  :mod:`.migrations` the schema as numbered migrations;
- :mod:`.events` a batch of events through the data contract, minimised;
- :mod:`.repository` the store's reads and writes (``LeadStore``);
- :mod:`.backfill` loading a CRM export (``mqlscore store load``);
- :mod:`.timeline` a stored lead's score through time (``mql_since``, ``mql_until``, the card's picture);
- :mod:`.scorer` keeping states up to date and recording each crossing once;
- :mod:`.webhook` posting hand-offs, signed, in order, retried.

Nothing here computes a feature or a score of its own: stored histories are
validated by ``mqlscore.contract.validate_tables`` and scored by
``ScoringModel.score``, as ``POST /score`` does.
"""

from __future__ import annotations

from typing import Any

from mqlscore.store.backfill import EXPORT_AS_OF, Loaded, load_dataset
from mqlscore.store.clock import Clock, ManualClock, ShiftedClock, SystemClock
from mqlscore.store.clock import clock_from as clock_from_text
from mqlscore.store.repository import LeadStore

__all__ = ["Clock", "LeadStore", "Loaded", "ManualClock", "ShiftedClock", "SystemClock", "clock_from_text",
           "export_clock_start", "load_dataset"]


def export_clock_start(store: LeadStore) -> Any:
    """The as-of time of the export last loaded into the store (ValueError when none was)."""
    value = store.meta(EXPORT_AS_OF)
    if value is None:
        raise ValueError("--clock-from export: no export has been loaded into this store (mqlscore store load)")
    return value
