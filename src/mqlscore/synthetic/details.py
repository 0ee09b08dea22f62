"""Turn the simulated world into the three contract tables, with the mess of a
real export: missing values, messy URLs, local-time offsets, duplicate events,
an activity type outside the canonical list, and (on request) invalid rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mqlscore.config import GeneratorConfig
from mqlscore.synthetic import process, vocab, world

VENDOR_SITE = "https://www.example-telehealth.com"
OFFSETS_MINUTES = (-300, -360, -420, -480, -240, 60)
FIXED_DETAIL = {
    "form_submit": ("Contact us", "Newsletter signup", "Product tour request", "Event follow-up"),
    "demo_request": ("Demo request form",),
    "contact_sales": ("Contact sales", "Talk to an expert"),
    "baa_request": ("BAA request",),
    "security_review": ("Security questionnaire (SIG Lite)", "HECVAT request", "SOC 2 report request"),
    "sandbox_signup": ("FHIR sandbox", "API sandbox"),
    "g2_intent_surge": ("G2 category: Telehealth", "G2 category: Remote Patient Monitoring"),
    "chat_started": ("Website chat",),
}


def _clock(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds into the UTC day, mostly during North-American business hours."""
    secs = rng.normal(17.5 * 3600, 3.2 * 3600, n)
    return np.mod(secs, 86400).astype(np.int64)


# Hidden columns ``build_tables(hidden=True)`` adds so that exports can be spliced and cut by time
# without parsing what was written: the simulated day of the row, and its true UTC instant(s).
DAY, AT, SQL_AT, DQ_AT = "__day", "__at", "__sql_at", "__dq_at"
HIDDEN = (DAY, AT, SQL_AT, DQ_AT)


def build_tables(leads: pd.DataFrame, accounts: world.Accounts, sim: process.Simulator, dates: pd.DatetimeIndex,
                 config: GeneratorConfig, rng: np.random.Generator, hidden: bool = False) -> dict[str, pd.DataFrame]:
    """The leads, activities and outcomes tables as they would leave a CRM.

    With ``hidden``, each row also carries its simulated day and true instants
    (``HIDDEN`` columns, for ``splice_tables`` and ``cut_tables``; drop them with
    ``without_hidden`` before writing). They change no random draw: the visible
    columns are the same either way.
    """
    d0 = config.history_days
    exported = np.flatnonzero(leads["created_day"].to_numpy() < d0)
    created_at = dates[leads["created_day"].to_numpy()] + pd.to_timedelta(_clock(rng, len(leads)), unit="s")
    lead_table = _lead_table(leads.iloc[exported], accounts, created_at[exported], rng)
    if hidden:
        lead_table[DAY] = leads["created_day"].to_numpy()[exported]
        lead_table[AT] = created_at[exported]
    activities = _activity_table(leads, sim, dates, created_at, d0, rng, hidden)
    outcomes = _outcome_table(leads, sim.state, dates, exported, d0, rng, hidden)
    return {"leads": lead_table, "activities": activities, "outcomes": outcomes}


def without_hidden(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The tables as written: the ``HIDDEN`` columns dropped (the same frames when they have none)."""
    return {name: frame.drop(columns=hidden) if (hidden := [c for c in HIDDEN if c in frame.columns]) else frame
            for name, frame in tables.items()}


def splice_tables(before: dict[str, pd.DataFrame], after: dict[str, pd.DataFrame], day: int
                  ) -> dict[str, pd.DataFrame]:
    """Rows of ``before`` dated before simulated ``day`` followed by rows of ``after`` dated on or after it
    (both built with ``hidden``). Leads are dated by creation, activities by occurrence, outcomes by the
    outcome (an outcome row without one, a lead listed open, by the last day before the export)."""
    return {name: pd.concat([before[name][before[name][DAY] < day], after[name][after[name][DAY] >= day]],
                            ignore_index=True)
            for name in before}


def cut_tables(tables: dict[str, pd.DataFrame], at: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """What the CRM held at ``at`` (tables built with ``hidden``): leads created before it, activities
    that occurred before it, and outcomes that happened before it.

    An outcome after ``at`` is blanked; a row left without any outcome is dropped,
    unless it had none in the first place (a lead the CRM lists as open).
    """
    leads = tables["leads"][tables["leads"][AT] < at]
    acts = tables["activities"][tables["activities"][AT] < at]
    out = tables["outcomes"]
    sql_before = (out[SQL_AT] < at).to_numpy()
    dq_before = (out[DQ_AT] < at).to_numpy()
    listed_open = out["sql_at"].isna().to_numpy() & out["disqualified_at"].isna().to_numpy()
    keep = out["lead_id"].isin(leads["lead_id"]).to_numpy() & (sql_before | dq_before | listed_open)
    out = out.assign(sql_at=out["sql_at"].where(sql_before), disqualified_at=out["disqualified_at"].where(dq_before))
    return {"leads": leads.reset_index(drop=True), "activities": acts.reset_index(drop=True),
            "outcomes": out[keep].reset_index(drop=True)}


def _blank(values: pd.Series, rate: float, rng: np.random.Generator) -> pd.Series:
    return values.where(rng.random(len(values)) >= rate)


def _lead_table(leads: pd.DataFrame, accounts: world.Accounts, created_at: pd.DatetimeIndex,
                rng: np.random.Generator) -> pd.DataFrame:
    acc = accounts.frame.iloc[leads["account_idx"].to_numpy()].reset_index(drop=True)
    table = pd.DataFrame({
        "lead_id": leads["lead_id"].to_numpy(),
        "created_at": _iso(created_at),
        "account_id": _blank(acc["account_id"], 0.04, rng),
        "company_name": acc["company_name"],
        "first_name": leads["first_name"].to_numpy(),
        "last_name": leads["last_name"].to_numpy(),
        "email": leads["email"].to_numpy(),
        "job_title": leads["job_title"].to_numpy(),
        "org_type": _blank(acc["org_type"], 0.03, rng),
        "employee_count": _blank(acc["employees"], 0.20, rng).astype("Int64"),
        "bed_count": _blank(acc["beds"], 0.30, rng).astype("Int64"),
        "covered_lives": _blank(acc["covered_lives"], 0.25, rng).astype("Int64"),
        "country": _blank(acc["country"], 0.03, rng),
        "state": _blank(acc["state"], 0.08, rng),
        "ehr_vendor": _blank(acc["ehr_vendor"].replace("", None), 0.30, rng),
        "lead_source": _blank(pd.Series(leads["lead_source"].to_numpy()), 0.04, rng),
        "product_interest": leads["product_interest"].to_numpy(),
    })
    return table


def _iso(ts: pd.DatetimeIndex | pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(ts).strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy()


def _recorded_events(sim: process.Simulator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not sim.events:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    rows = np.concatenate([e[0] for e in sim.events])
    sigs = np.concatenate([e[1] for e in sim.events])
    days = np.concatenate([np.full(len(e[0]), e[2]) for e in sim.events])
    return rows, sigs, days


def _activity_table(leads: pd.DataFrame, sim: process.Simulator, dates: pd.DatetimeIndex,
                    created_at: pd.DatetimeIndex, d0: int, rng: np.random.Generator, hidden: bool = False
                    ) -> pd.DataFrame:
    rows, sigs, days = _recorded_events(sim)
    keep = days < d0
    rows, sigs, days = rows[keep], sigs[keep], days[keep]
    at_creation = days == leads["created_day"].to_numpy()[rows]
    when = dates[days] + pd.to_timedelta(_clock(rng, len(rows)), unit="s")
    creation_time = created_at[rows] + pd.to_timedelta(rng.integers(0, 180, len(rows)), unit="s")
    when = when.where(~at_creation, creation_time)
    types = np.array([s[1] for s in process.SIGNALS])[sigs]
    columns = {
        "lead_id": leads["lead_id"].to_numpy()[rows],
        "occurred_at": when,
        "activity_type": types,
        "detail": _details(sigs, when, rng),
    }
    if hidden:
        columns.update({DAY: days, AT: when})
    table = pd.DataFrame(columns).sort_values(["occurred_at", "lead_id"], kind="stable").reset_index(drop=True)
    table["occurred_at"] = _with_offsets(table["occurred_at"], rng)
    dup = table.sample(frac=0.015, random_state=int(rng.integers(2**31)))
    return pd.concat([table, dup]).sort_index(kind="stable").reset_index(drop=True)


def _with_offsets(ts: pd.Series, rng: np.random.Generator) -> np.ndarray:
    """Write most timestamps in UTC and some in local time with their offset,
    as marketing-automation tools do."""
    out = _iso(ts).astype(object)
    local = np.flatnonzero(rng.random(len(ts)) < 0.25)
    minutes = rng.choice(OFFSETS_MINUTES, len(local))
    shifted = pd.DatetimeIndex(ts.iloc[local]) + pd.to_timedelta(minutes, unit="m")
    sign = np.where(minutes < 0, "-", "+")
    hh = np.abs(minutes) // 60
    mm = np.abs(minutes) % 60
    suffix = [f"{s}{h:02d}:{m:02d}" for s, h, m in zip(sign, hh, mm)]
    out[local] = [a + b for a, b in zip(shifted.strftime("%Y-%m-%dT%H:%M:%S"), suffix)]
    return out


def _details(sigs: np.ndarray, when: pd.DatetimeIndex, rng: np.random.Generator) -> np.ndarray:
    out = np.full(len(sigs), None, dtype=object)
    for i, (_, typ, category, *_rest) in enumerate(process.SIGNALS):
        idx = np.flatnonzero(sigs == i)
        if not len(idx):
            continue
        if category is not None:
            out[idx] = _page_paths(category, len(idx), rng)
        elif typ == "content_download":
            out[idx] = rng.choice(vocab.ASSETS, len(idx))
        elif typ in ("webinar_registered", "webinar_attended"):
            out[idx] = ["Webinar: " + vocab.WEBINARS[(d.day_of_year // 14) % len(vocab.WEBINARS)]
                        for d in when[idx]]
        elif typ == "event_booth_scan":
            out[idx] = [_conference_name(d) for d in when[idx]]
        elif typ in ("email_open", "email_click", "unsubscribe"):
            out[idx] = ["Newsletter " + d.strftime("%Y-%m-%d") for d in when[idx]]
        elif typ in FIXED_DETAIL:
            out[idx] = rng.choice(FIXED_DETAIL[typ], len(idx))
    return out


def _conference_name(day: pd.Timestamp) -> str:
    for name, month, first, length in vocab.CONFERENCES:
        if day.month == month and first - 1 <= day.day <= first + length:
            return f"{name} {day.year}"
    return f"HLTH {day.year}"


def _page_paths(category: str, n: int, rng: np.random.Generator) -> np.ndarray:
    paths = rng.choice(vocab.PAGE_PATHS[category], n).astype(object)
    u = rng.random(n)
    utm = u < 0.10
    paths[utm] = [p + ("&" if "?" in p else "?") + "utm_source=linkedin&utm_medium=paid" for p in paths[utm]]
    full = (u >= 0.10) & (u < 0.13)
    paths[full] = [VENDOR_SITE + p for p in paths[full]]
    slash = (u >= 0.13) & (u < 0.18)
    paths[slash] = [p if p.endswith("/") or "?" in p else p + "/" for p in paths[slash]]
    return paths


def _outcome_table(leads: pd.DataFrame, state: process.State, dates: pd.DatetimeIndex, exported: np.ndarray,
                   d0: int, rng: np.random.Generator, hidden: bool = False) -> pd.DataFrame:
    sql_day = state.sql_day[exported]
    dq_day = state.dq_day[exported]
    has_sql = (sql_day >= 0) & (sql_day < d0)
    has_dq = (dq_day >= 0) & (dq_day < d0)
    still_open = ~has_sql & ~has_dq
    listed_open = still_open & (rng.random(len(exported)) < 0.03)
    keep = has_sql | has_dq | listed_open
    secs = pd.to_timedelta(_clock(rng, len(exported)), unit="s")
    sql_at = pd.Series(dates[np.clip(sql_day, 0, None)] + secs).where(has_sql)
    dq_at = pd.Series(dates[np.clip(dq_day, 0, None)] + secs).where(has_dq)
    table = pd.DataFrame({
        "lead_id": leads["lead_id"].to_numpy()[exported][keep],
        "sql_at": np.where(has_sql, _iso(sql_at.fillna(dates[0])), None)[keep],
        "disqualified_at": np.where(has_dq, _iso(dq_at.fillna(dates[0])), None)[keep],
    })
    if hidden:
        # A lead listed open is dated by the last day of the history: it shows the state at the export.
        table[DAY] = np.where(has_sql, sql_day, np.where(has_dq, dq_day, d0 - 1))[keep]
        table[SQL_AT] = sql_at.array[keep]
        table[DQ_AT] = dq_at.array[keep]
    return table


def add_invalid_rows(tables: dict[str, pd.DataFrame], rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """A few invalid rows of each kind the contract names (for testing validation).

    An export with next to nothing in it (made just after the history starts)
    gets only the kinds it has rows to copy for."""
    leads, acts, outs = (tables[k].copy() for k in ("leads", "activities", "outcomes"))
    if leads.empty or acts.empty:
        return {"leads": leads, "activities": acts, "outcomes": outs}
    template = leads.iloc[rng.integers(len(leads), size=8)].copy().reset_index(drop=True)
    template["lead_id"] = [f"LBAD{i:04d}" for i in range(8)]
    template.loc[0:1, "created_at"] = ["yesterday", "2026-13-45T99:00:00Z"]
    template.loc[2:3, "created_at"] = None
    template.loc[4:5, "employee_count"] = [-5, -120]
    template.loc[6:7, "lead_id"] = leads["lead_id"].iloc[rng.integers(len(leads), size=2)].to_numpy()
    leads = pd.concat([leads, template], ignore_index=True)

    free = np.setdiff1d(leads["lead_id"].iloc[: len(tables["leads"])].to_numpy(), outs["lead_id"].to_numpy())
    if len(free) >= 4:
        chosen = rng.choice(free, 4, replace=False)
        created = pd.to_datetime(leads.set_index("lead_id").loc[chosen, "created_at"], utc=True, format="ISO8601")
        early = _iso(created - pd.Timedelta(days=3))
        bad_outcomes = pd.DataFrame({"lead_id": chosen, "sql_at": [early[0], early[1], None, None],
                                     "disqualified_at": [None, None, early[2], early[3]]})
        outs = pd.concat([outs, bad_outcomes], ignore_index=True)

    bad_acts = acts.iloc[rng.integers(len(acts), size=7)].copy().reset_index(drop=True)
    bad_acts.loc[0:1, "occurred_at"] = ["not a date", "31/02/2026 10:00"]
    bad_acts.loc[2:3, "activity_type"] = None
    bad_acts.loc[4:6, "lead_id"] = ["LUNKNOWN1", "LUNKNOWN2", "LUNKNOWN3"]
    acts = pd.concat([acts, bad_acts], ignore_index=True)
    return {"leads": leads, "activities": acts, "outcomes": outs}


def write_tables(tables: dict[str, pd.DataFrame], out: Path, fmt: str) -> dict[str, int]:
    """Write the three tables as CSV or Parquet; return their row counts."""
    out.mkdir(parents=True, exist_ok=True)
    for other in ("csv", "parquet"):
        for name in tables:
            stale = out / f"{name}.{other}"
            if other != fmt and stale.exists():
                stale.unlink()
    for name, frame in tables.items():
        path = out / f"{name}.{fmt}"
        if fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.astype({c: "string" for c in frame.columns if frame[c].dtype == object}).to_parquet(path, index=False)
    return {name: len(frame) for name, frame in tables.items()}
