"""``mqlscore generate``: a digital-health CRM export with a known truth.

The export (leads, activities, outcomes) follows the data contract. The truth
goes to a separate folder that no training code reads: the true weights and
half-lives, each lead's true persona, and for every lead open at the export
time its true probability of becoming an SQL within the horizon (Monte Carlo
over continuations of the process) next to what actually happened.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mqlscore.config import GeneratorConfig
from mqlscore.synthetic import details, process, vocab, world

GROUPS = vocab.PERSONA_GROUPS
ROLES = vocab.COMMITTEE_ROLES

# Events that bring a lead into the CRM, per lead source.
INITIAL_EVENTS = {
    "organic_search": ("page_other", "form_submit"),
    "paid_search": ("page_pricing", "form_submit"),
    "direct": ("page_other", "form_submit"),
    "conference": ("event_booth_scan",),
    "webinar": ("webinar_registered",),
    "content_syndication": ("content_download",),
    "referral": ("form_submit",),
    "partner": ("form_submit",),
    "list_import": (),
}


@dataclass
class GenerationResult:
    """What ``generate_export`` wrote and a few headline figures."""

    out: Path
    truth_out: Path
    counts: dict[str, int] = field(default_factory=dict)
    oracle_mean: float = 0.0
    realised_rate: float = 0.0
    seconds: float = 0.0

    def summary(self) -> str:
        """A short human-readable report."""
        c = self.counts
        return (
            f"Wrote {c['leads']:,} leads in {c['accounts']:,} accounts, {c['activities']:,} activities "
            f"and {c['outcomes']:,} outcome rows to {self.out}\n"
            f"  SQLs {c['sqls']:,}, disqualified {c['disqualified']:,}, open at export {c['open']:,}\n"
            f"  truth in {self.truth_out}: oracle mean P(SQL in horizon) {self.oracle_mean:.3f}, "
            f"realised {self.realised_rate:.3f}\n"
            f"  {self.seconds:.1f} s"
        )


def default_truth_dir(out: Path) -> Path:
    """The truth folder beside an export: ``<out>-truth``."""
    out = Path(out)
    return out.with_name(out.name + "-truth")


def build_calendar(config: GeneratorConfig, total_days: int) -> tuple[process.Calendar, pd.DatetimeIndex]:
    """Campaign (weekly), webinar (fortnightly) and conference days of the window."""
    start = pd.Timestamp(config.export_at).normalize() - pd.Timedelta(days=config.history_days)
    dates = pd.date_range(start, periods=total_days, freq="D")
    campaign = np.asarray(dates.day_of_week == 1)
    webinar = ((np.arange(total_days) % 14) == 9)
    conference = np.full(total_days, -1)
    for k, (_, month, first, length) in enumerate(vocab.CONFERENCES):
        hit = (dates.month == month) & (dates.day >= first) & (dates.day < first + length)
        conference[np.asarray(hit)] = k
    return process.Calendar(campaign=campaign, webinar=webinar, conference=conference), dates


def _codes(values: pd.Series, labels: tuple[str, ...]) -> np.ndarray:
    """Index of each value in ``labels`` (-1 when absent)."""
    index = {label: i for i, label in enumerate(labels)}
    return values.map(index).fillna(-1).to_numpy(np.int8)


def _rows_from_leads(leads: pd.DataFrame) -> process.Rows:
    return process.Rows(
        account=leads["account_idx"].to_numpy(np.int64),
        role=_codes(leads["committee_role"], ROLES),
        group=_codes(leads["persona_group"], GROUPS),
        fit=leads["fit"].to_numpy(float),
        interest=leads["interest"].to_numpy(float),
        interest_half_life=leads["interest_half_life"].to_numpy(float),
        silence_limit=leads["silence_limit"].to_numpy(float),
        created_day=leads["created_day"].to_numpy(np.int64),
        conference_reach=leads["conference_reach"].to_numpy(float),
        junk=(leads["persona_group"] == "junk").to_numpy(),
    )


def _initial_events(leads: pd.DataFrame, calendar: process.Calendar) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Creation events per day: {day: (rows, signals)}.

    A conference lead created on a conference day arrives by a booth scan; one
    created on another day (a list uploaded after the show) by a follow-up form.
    """
    rows, sigs, days = [], [], []
    source = leads["lead_source"].to_numpy()
    created = leads["created_day"].to_numpy()
    on_show = calendar.conference[np.clip(created, 0, len(calendar.conference) - 1)] >= 0
    for src, names in INITIAL_EVENTS.items():
        idx = np.flatnonzero(source == src)
        for name in names:
            signal = np.full(len(idx), process.SIG[name])
            if name == "event_booth_scan":
                signal = np.where(on_show[idx], signal, process.SIG["form_submit"])
            rows.append(idx)
            sigs.append(signal)
            days.append(created[idx])
    r, s, d = np.concatenate(rows), np.concatenate(sigs), np.concatenate(days)
    order = np.argsort(d, kind="stable")
    r, s, d = r[order], s[order], d[order]
    cuts = np.flatnonzero(np.diff(d)) + 1
    return {int(dd[0]): (rr, ss) for rr, ss, dd in zip(np.split(r, cuts), np.split(s, cuts), np.split(d, cuts))}


def _with_conference_reach(leads: pd.DataFrame, accounts: world.Accounts) -> pd.DataFrame:
    country = accounts.frame["country"].to_numpy()[leads["account_idx"].to_numpy()]
    leads["conference_reach"] = np.where(np.isin(country, ["US", "CA"]), 1.0, 0.3)
    return leads


def draw_population(config: GeneratorConfig, calendar: process.Calendar, rng: np.random.Generator
                    ) -> tuple[world.Accounts, pd.DataFrame]:
    """Accounts and every lead created in the window, up to the end of the horizon."""
    n_accounts = max(3, int(round(config.n_leads / 2.3)))
    accounts = world.build_accounts(n_accounts, rng)
    weights = accounts.frame["arrival_weight"].to_numpy()
    n_future = rng.poisson(config.n_leads * config.horizon_days / config.history_days)
    created = np.concatenate([
        rng.integers(0, config.history_days, config.n_leads),
        rng.integers(config.history_days, config.history_days + config.horizon_days, n_future),
    ])
    created.sort()
    account_idx = rng.choice(n_accounts, size=len(created), p=weights / weights.sum())
    leads = world.draw_leads(accounts, account_idx, created, calendar.conference >= 0, rng)
    leads.insert(0, "lead_id", [f"L{i:07d}" for i in range(len(leads))])
    return accounts, _with_conference_reach(leads, accounts)


def simulate_history(leads: pd.DataFrame, n_accounts: int, calendar: process.Calendar, config: GeneratorConfig,
                     rng: np.random.Generator, progress) -> tuple[process.Simulator, process.State]:
    """Run the world from the first day to the end of the horizon; return the
    simulator (with its recorded events) and the state at the export time."""
    params = process.ProcessParams()
    rows = _rows_from_leads(leads)
    state = process.State.empty(len(leads), n_accounts)
    p_in = params.in_market_start_per_day / (params.in_market_start_per_day + params.in_market_end_per_day)
    state.in_market[:] = rng.random(n_accounts) < p_in
    sim = process.Simulator(rows, state, calendar, params, GROUPS, rng, record=True)
    initial = _initial_events(leads, calendar)
    snapshot = None
    total = config.history_days + config.horizon_days
    for day in range(total):
        if day == config.history_days:
            snapshot = state.take(np.arange(len(leads)), np.arange(n_accounts))
        sim.step(day, initial.get(day))
        progress(day + 1, total)
    assert snapshot is not None
    return sim, snapshot


def oracle_probabilities(leads: pd.DataFrame, accounts: world.Accounts, snapshot: process.State,
                         calendar: process.Calendar, config: GeneratorConfig, rng: np.random.Generator,
                         progress) -> tuple[np.ndarray, np.ndarray]:
    """Monte Carlo estimate of P(SQL within the horizon) for leads open at the export time.

    Each path continues the process from the export-time state, with fresh
    randomness and freshly drawn future leads. The estimate on a path is the
    compensator (the sum of daily SQL probabilities while open), whose
    expectation equals the probability and whose variance is lower than the
    0/1 outcome's.
    """
    d0, horizon, k = config.history_days, config.horizon_days, config.mc_sims
    n_acc = len(accounts.frame)
    existing = leads["created_day"].to_numpy() < d0
    open_idx = np.flatnonzero(existing & ~snapshot.closed)
    recent_closed = np.flatnonzero(existing & snapshot.closed
                                   & (snapshot.last_activity >= d0 - process.ProcessParams.committee_window_days))
    keep = np.concatenate([open_idx, recent_closed])
    touched = np.unique(leads["account_idx"].to_numpy()[open_idx])
    daily_rate = world.account_daily_rates(accounts, config.n_leads, d0)

    # Future leads of every path, drawn in one go: arrivals per (path, account).
    arrivals = rng.poisson(np.tile(daily_rate[touched] * horizon, k))
    fut_path = np.repeat(np.repeat(np.arange(k), len(touched)), arrivals)
    fut_acc = np.repeat(np.tile(touched, k), arrivals)
    future = world.draw_leads(accounts, fut_acc, rng.integers(d0, d0 + horizon, len(fut_acc)),
                              calendar.conference >= 0, rng)
    future = _with_conference_reach(future, accounts)
    future["account_idx"] += fut_path * n_acc
    base = leads.iloc[keep]
    frames, states = [], []
    for path in range(k):
        part = base.assign(account_idx=base["account_idx"].to_numpy() + path * n_acc)
        mine = future[fut_path == path]
        frames.append(pd.concat([part, mine], ignore_index=True))
        states.append(_extend_state(snapshot.take(keep, np.arange(n_acc)), len(mine)))
    all_rows = pd.concat(frames, ignore_index=True)
    rows = _rows_from_leads(all_rows)
    state = _concat_states(states)
    sim = process.Simulator(rows, state, calendar, process.ProcessParams(), GROUPS, rng, record=False)
    initial = _initial_events(all_rows, calendar)
    for i, day in enumerate(range(d0, d0 + horizon)):
        sim.step(day, initial.get(day))
        progress(i + 1, horizon)
    offsets = np.cumsum([0] + [len(f) for f in frames[:-1]])
    comp = np.stack([sim.compensator[o: o + len(open_idx)] for o in offsets])
    # Per path the compensator may pass 1 for a near-certain lead; the mean
    # stays unbiased, and only the (rare) excess over 1 is clipped.
    return open_idx, np.minimum(comp.mean(axis=0), 1.0)


def _extend_state(state: process.State, n_new: int) -> process.State:
    empty = process.State.empty(n_new, 0)
    return process.State(
        intent=np.concatenate([state.intent, empty.intent]),
        excitation=np.concatenate([state.excitation, empty.excitation]),
        last_activity=np.concatenate([state.last_activity, empty.last_activity]),
        stage=np.concatenate([state.stage, empty.stage]),
        unsubscribed=np.concatenate([state.unsubscribed, empty.unsubscribed]),
        webinar_pending=np.concatenate([state.webinar_pending, empty.webinar_pending]),
        closed=np.concatenate([state.closed, empty.closed]),
        sql_day=np.concatenate([state.sql_day, empty.sql_day]),
        dq_day=np.concatenate([state.dq_day, empty.dq_day]),
        in_market=state.in_market,
    )


def _concat_states(states: list[process.State]) -> process.State:
    return process.State(**{
        name: np.concatenate([getattr(s, name) for s in states]) for name in process.State.__dataclass_fields__
    })


def truth_document(config: GeneratorConfig) -> dict:
    """The true parameters of the process, as written to ``truth.json``."""
    params = process.ProcessParams()
    signals = [
        {"signal": name, "activity_type": typ, "page_category": cat, "weight": w, "half_life_days": h,
         "weight_lost_per_quarter": round(1 - 0.5 ** (91.25 / h), 4)}
        for name, typ, cat, w, h, _ in process.SIGNALS
    ]
    p = {k: v for k, v in asdict(params).items() if k not in ("weights", "half_lives")}
    return {
        "description": "True generative process of the synthetic export; see docs/synthetic-data.md.",
        "seed": config.seed,
        "export_at": pd.Timestamp(config.export_at).isoformat().replace("+00:00", "Z"),
        "horizon_days": config.horizon_days,
        "history_days": config.history_days,
        "hazard": "daily P(SQL) = 1 - exp(-exp(base_log_hazard + fit + sum_s weight_s * log1p(I_s) "
                  "+ stage_weight * evidence_stage + committee_weight * committee_roles_active))",
        "intent": "I_s = sum over the lead's past events of signal s of 0.5 ** (age_days / half_life_s)",
        "signals": signals,
        "evidence_sequence": [list(x) for x in process.EVIDENCE_SEQUENCE],
        "fit_weights": world.FIT_WEIGHTS,
        "process": p,
        "committee_roles": list(ROLES),
        "mc_sims": config.mc_sims,
    }


def generate_export(config: GeneratorConfig, out: Path, truth_out: Path | None = None,
                    progress: bool = False) -> GenerationResult:
    """Simulate the world and write the export and its truth."""
    from mqlscore.progress import stage_bar

    t0 = time.perf_counter()
    out = Path(out)
    truth_out = Path(truth_out) if truth_out is not None else default_truth_dir(out)
    seeds = np.random.SeedSequence(config.seed).spawn(5)
    rng_world, rng_hist, rng_mc, rng_detail, rng_err = (np.random.default_rng(s) for s in seeds)
    total_days = config.history_days + config.horizon_days
    calendar, dates = build_calendar(config, total_days)

    with stage_bar(progress) as bar:
        accounts, leads = draw_population(config, calendar, rng_world)
        sim, snapshot = simulate_history(leads, len(accounts.frame), calendar, config, rng_hist,
                                         bar("Simulating history", total_days))
        open_idx, oracle = oracle_probabilities(leads, accounts, snapshot, calendar, config, rng_mc,
                                                bar("Oracle (Monte Carlo)", config.horizon_days))
        tables = details.build_tables(leads, accounts, sim, dates, config, rng_detail)
        if config.with_errors:
            tables = details.add_invalid_rows(tables, rng_err)
        counts = details.write_tables(tables, out, config.output_format)
        oracle_frame = _oracle_frame(leads, sim.state, open_idx, oracle, dates, config)
        _write_truth(truth_out, config, leads, oracle_frame)

    d0 = config.history_days
    exported = leads["created_day"].to_numpy() < d0
    counts.update(
        accounts=int(leads.loc[exported, "account_idx"].nunique()),
        sqls=int(((sim.state.sql_day >= 0) & (sim.state.sql_day < d0) & exported).sum()),
        disqualified=int(((sim.state.dq_day >= 0) & (sim.state.dq_day < d0) & exported).sum()),
        open=len(open_idx),
    )
    return GenerationResult(
        out=out, truth_out=truth_out, counts=counts, oracle_mean=float(oracle.mean()) if len(oracle) else 0.0,
        realised_rate=float(oracle_frame["realised_sql"].mean()) if len(oracle_frame) else 0.0,
        seconds=time.perf_counter() - t0,
    )


def _oracle_frame(leads: pd.DataFrame, final: process.State, open_idx: np.ndarray, oracle: np.ndarray,
                  dates: pd.DatetimeIndex, config: GeneratorConfig) -> pd.DataFrame:
    d0, horizon = config.history_days, config.horizon_days
    sql_day = final.sql_day[open_idx]
    dq_day = final.dq_day[open_idx]
    realised = (sql_day >= d0) & (sql_day < d0 + horizon)
    return pd.DataFrame({
        "lead_id": leads["lead_id"].to_numpy()[open_idx],
        "p_sql_horizon": np.round(oracle, 6),
        "realised_sql": realised,
        "realised_sql_day": np.where(sql_day >= d0, sql_day - d0, -1),
        "realised_disqualified_day": np.where(dq_day >= d0, dq_day - d0, -1),
    })


def _write_truth(truth_out: Path, config: GeneratorConfig, leads: pd.DataFrame, oracle_frame: pd.DataFrame) -> None:
    truth_out.mkdir(parents=True, exist_ok=True)
    with open(truth_out / "truth.json", "w", encoding="utf-8") as fh:
        json.dump(truth_document(config), fh, indent=2)
    oracle_frame.to_csv(truth_out / "oracle.csv", index=False)
    exported = leads["created_day"] < config.history_days
    cols = ["lead_id", "persona", "seniority", "committee_role", "persona_group", "fit", "interest"]
    lt = leads.loc[exported, cols].copy()
    lt["fit"] = lt["fit"].round(4)
    lt["interest"] = lt["interest"].round(4)
    lt.to_csv(truth_out / "leads_truth.csv", index=False)
    (truth_out / "README.md").write_text(
        "# Truth of a synthetic export\n\n"
        "Written by `mqlscore generate`. No training or scoring code reads this folder.\n\n"
        "- `truth.json`: the true weights, half-lives and process parameters.\n"
        "- `oracle.csv`: for every lead open at the export time, the true probability of becoming an SQL\n"
        f"  within {config.horizon_days} days (Monte Carlo, {config.mc_sims} paths) and what actually\n"
        "  happened (`realised_sql`; days counted from the export time, -1 for never).\n"
        "- `leads_truth.csv`: each lead's true persona, seniority, committee role and fit.\n",
        encoding="utf-8",
    )
