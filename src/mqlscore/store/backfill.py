"""Backfilling the store from a CRM export (``mqlscore store load --data DIR``).

The export goes through the data contract as for training; each row becomes an
event with an id derived from its content (``export:lead:<lead_id>``, ...), so
loading the same export twice changes nothing. Loaded leads get their first MQL
state quietly: what the export's history already handed off is not handed off
again (``--handoffs`` to hand off the current MQLs anyway).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mqlscore.contract.report import Dataset
from mqlscore.features.fit import minimise_leads
from mqlscore.store.events import EVENT_COLUMN, EventBatch, to_micros
from mqlscore.store.repository import LeadStore

CHUNK_LEADS = 2_000
EXPORT_AS_OF = "export_as_of"  # store_meta: the as-of time of the export last loaded


@dataclass
class Loaded:
    """What a backfill did."""

    leads: int = 0
    activities: int = 0
    outcomes: int = 0
    accepted: int = 0
    duplicates: int = 0


def _activity_ids(acts: pd.DataFrame) -> list[str]:
    """Content ids: the same activity row gets the same id on every load."""
    at = to_micros(acts["occurred_at"])
    detail = acts["detail"].astype(object).where(acts["detail"].notna(), "") if "detail" in acts else [""] * len(acts)
    keys = [f"{lead}\x1f{t}\x1f{kind}\x1f{d}" for lead, t, kind, d in zip(acts["lead_id"], at, acts["activity_type"],
                                                                          detail)]
    out, seen = [], {}
    for key in keys:
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        n = seen.get(digest, 0)  # the same activity twice in the export: two events
        seen[digest] = n + 1
        out.append(f"export:activity:{digest}" + (f":{n}" if n else ""))
    return out


def _batch(leads: pd.DataFrame, acts: pd.DataFrame, outs: pd.DataFrame) -> EventBatch:
    ids = ([f"export:lead:{lead}" for lead in leads["lead_id"]] + _activity_ids(acts)
           + [f"export:outcome:{lead}" for lead in outs["lead_id"]])
    kinds = ["lead"] * len(leads) + ["activity"] * len(acts) + ["outcome"] * len(outs)
    lead_ids = [*map(str, leads["lead_id"]), *map(str, acts["lead_id"]), *map(str, outs["lead_id"])]
    n1, n2 = len(leads), len(leads) + len(acts)
    leads = minimise_leads(leads).assign(**{EVENT_COLUMN: np.arange(n1)})
    acts = acts.assign(**{EVENT_COLUMN: np.arange(n1, n2)})
    outs = outs.assign(**{EVENT_COLUMN: np.arange(n2, n2 + len(outs))})
    return EventBatch(ids, kinds, lead_ids, leads.reset_index(drop=True), acts.reset_index(drop=True),
                      outs.reset_index(drop=True))


def load_dataset(store: LeadStore, dataset: Dataset, quiet: bool = True,
                 progress: Callable[[int, int], None] | None = None) -> Loaded:
    """Write a validated export into the store, a chunk of leads (with their
    activities and outcomes) per transaction; ``progress(done, total)`` after each."""
    leads, acts, outs = dataset.leads, dataset.activities, dataset.outcomes
    # Chunks by account, so a buying group is written (and marked for scoring) together.
    order = leads.assign(_key=leads["account_id"].fillna(leads["lead_id"]) if "account_id" in leads
                         else leads["lead_id"]).sort_values(["_key", "lead_id"]).drop(columns="_key")
    done = Loaded()
    by_lead_acts = acts.groupby("lead_id", sort=False).indices if len(acts) else {}
    by_lead_outs = outs.groupby("lead_id", sort=False).indices if len(outs) else {}
    total = len(order)
    for start in range(0, total, CHUNK_LEADS):
        part = order.iloc[start:start + CHUNK_LEADS]
        ids = part["lead_id"].tolist()
        a = acts.iloc[np.concatenate([by_lead_acts[i] for i in ids if i in by_lead_acts] or [np.array([], int)])]
        o = outs.iloc[np.concatenate([by_lead_outs[i] for i in ids if i in by_lead_outs] or [np.array([], int)])]
        accepted, duplicates = store.ingest(_batch(part, a, o), quiet=quiet)
        done.leads += len(part)
        done.activities += len(a)
        done.outcomes += len(o)
        done.accepted += accepted
        done.duplicates += duplicates
        if progress is not None:
            progress(done.leads, total)
    store.set_meta(EXPORT_AS_OF, pd.Timestamp(dataset.as_of).tz_convert("UTC").isoformat().replace("+00:00", "Z"))
    return done
