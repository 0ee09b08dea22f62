"""``mqlscore generate``: a digital-health CRM export with a known truth.

The export (leads, activities, outcomes) follows the data contract. The truth
goes to a separate folder that no training code reads: the true weights and
half-lives, each lead's true persona, and for every lead open at the export
time its true probability of becoming an SQL within the horizon (Monte Carlo
over continuations of the process) next to what actually happened.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mqlscore.config import GeneratorConfig
from mqlscore.synthetic import details, drift, process, vocab, world

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
class EarlierExport:
    """The same CRM as exported at an earlier date (``GeneratorConfig.also_export_at``)."""

    as_of: pd.Timestamp
    out: Path
    truth_out: Path
    counts: dict[str, int] = field(default_factory=dict)
    oracle_mean: float = 0.0
    realised_rate: float = 0.0


@dataclass
class GenerationResult:
    """What ``generate_export`` wrote and a few headline figures."""

    out: Path
    truth_out: Path
    counts: dict[str, int] = field(default_factory=dict)
    oracle_mean: float = 0.0
    realised_rate: float = 0.0
    seconds: float = 0.0
    earlier: list[EarlierExport] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)  # each change in the compact --change form
    changes_file: Path | None = None

    def summary(self) -> str:
        """A short human-readable report."""
        c = self.counts
        lines = [
            f"Wrote {c['leads']:,} leads in {c['accounts']:,} accounts, {c['activities']:,} activities "
            f"and {c['outcomes']:,} outcome rows to {self.out}",
            f"  SQLs {c['sqls']:,}, disqualified {c['disqualified']:,}, open at export {c['open']:,}",
            f"  truth in {self.truth_out}: oracle mean P(SQL in horizon) {self.oracle_mean:.3f}, "
            f"realised {self.realised_rate:.3f}",
        ]
        if self.changes:
            lines.append(f"  changes of the world ({self.changes_file}): {', '.join(self.changes)}")
        for e in self.earlier:
            lines.append(f"  as exported at {e.as_of:%Y-%m-%d}: {e.counts['leads']:,} leads, "
                         f"{e.counts['activities']:,} activities, {e.counts['outcomes']:,} outcome rows, "
                         f"open {e.counts['open']:,} (oracle {e.oracle_mean:.3f}, realised {e.realised_rate:.3f}) "
                         f"in {e.out}")
        lines.append(f"  {self.seconds:.1f} s")
        return "\n".join(lines)


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


# Random streams added with the changes of the world and the earlier exports: children of the seed
# beside the five above (spawn key 5, then these), so that they leave those five untouched.
_STREAMS = {"population": 0, "details": 1, "oracle": 2, "oracle_arrivals": 3, "errors": 4}


def _stream(config: GeneratorConfig, name: str, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(5, _STREAMS[name], *key)))


def changed_population(base: pd.DataFrame, accounts: world.Accounts, calendar: process.Calendar,
                       config: GeneratorConfig, schedule: drift.Schedule, rng: np.random.Generator
                       ) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """The leads of the world with its channel-volume changes: ``base`` without the leads a
    shrunk channel never brings, then the extra leads of a grown channel (ids after the base's).
    Returns ``base`` itself without such changes, and per channel the leads added and removed
    before the export time."""
    if not schedule.channels():
        return base, {}
    n_days = len(calendar.conference)
    conference_days = calendar.conference >= 0
    keep = drift.thinned(base, schedule, n_days, rng)
    weight = accounts.frame["arrival_weight"].to_numpy()
    per_day = config.n_leads / config.history_days  # the arrival rate of draw_population
    extras = []
    for channel, excess in drift.extra_arrivals(schedule, conference_days, 0, n_days):
        n = rng.poisson(per_day * excess.sum())
        days = np.sort(rng.choice(n_days, size=n, p=excess / excess.sum()))
        account_idx = rng.choice(len(weight), size=n, p=weight / weight.sum())
        extras.append(world.draw_leads(accounts, account_idx, days, conference_days, rng, source=channel))
    leads = base[keep]
    d0 = config.history_days
    population = {}
    more = pd.concat(extras, ignore_index=True) if extras else base.iloc[:0]
    for channel in schedule.channels():
        removed = ~keep & (base["lead_source"] == channel).to_numpy() & (base["created_day"] < d0).to_numpy()
        added = (more["lead_source"] == channel) & (more["created_day"] < d0)
        population[channel] = {"leads_added_before_export": int(added.sum()),
                               "leads_removed_before_export": int(removed.sum())}
    if extras:
        more = more.sort_values("created_day", kind="stable").reset_index(drop=True)
        more.insert(0, "lead_id", [f"L{len(base) + i:07d}" for i in range(len(more))])
        leads = pd.concat([leads, _with_conference_reach(more, accounts)], ignore_index=True)
    return leads.reset_index(drop=True), population


@dataclass
class History:
    """The simulated history of a world."""

    sim: process.Simulator  # the world as it happened, changes included, to the end of the horizon
    snapshots: dict[int, process.State]  # the state of sim's rows at the start of given days
    unchanged: process.Simulator | None  # the world without its changes, up to the export time (None: no changes)


def _resized(state: process.State, n_rows: int, n_kept: int) -> process.State:
    """``state``'s first ``n_kept`` rows, then empty rows up to ``n_rows`` (leads not created yet)."""
    out = process.State.empty(n_rows, len(state.in_market))
    for name in process.State.__dataclass_fields__:
        if name != "in_market":
            getattr(out, name)[:n_kept] = getattr(state, name)[:n_kept]
    out.in_market[:] = state.in_market
    return out


def simulate_history(base: pd.DataFrame, leads: pd.DataFrame, accounts: world.Accounts, calendar: process.Calendar,
                     config: GeneratorConfig, rng: np.random.Generator, progress,
                     schedule: drift.Schedule | None = None, snapshot_days: tuple[int, ...] = ()) -> History:
    """Run the world from the first day to the end of the horizon, with the state at the
    export time and at ``snapshot_days`` (rows: ``leads``).

    ``base`` are the leads of the world without changes, ``leads`` those with them
    (``changed_population``; both sorted by creation up to the first change). The
    world without changes runs up to the first change; from there on it goes on to the
    export time on a copy of the random stream (its export is the history before the
    change, exactly as without changes) and the changed world goes on with ``leads``.
    """
    n_accounts = len(accounts.frame)
    params = process.ProcessParams()
    rows = _rows_from_leads(base)
    state = process.State.empty(len(base), n_accounts)
    p_in = params.in_market_start_per_day / (params.in_market_start_per_day + params.in_market_end_per_day)
    state.in_market[:] = rng.random(n_accounts) < p_in
    sim = process.Simulator(rows, state, calendar, params, GROUPS, rng, record=True)
    initial = base_initial = _initial_events(base, calendar)
    fork = schedule.first_day if schedule is not None else None
    created = base["created_day"].to_numpy()
    d0 = config.history_days
    wanted = set(snapshot_days) | {d0}
    unchanged = None
    snapshots = {}
    total = config.history_days + config.horizon_days
    for day in range(total):
        if day == fork:
            n_shared = int(np.searchsorted(created, day))  # leads created before the change: the same rows
            if not (leads["lead_id"].to_numpy()[:n_shared] == base["lead_id"].to_numpy()[:n_shared]).all():
                raise AssertionError("the changed world must keep the leads created before its first change")
            org_type = accounts.frame["org_type"].to_numpy()[leads["account_idx"].to_numpy()]
            changed = process.Simulator(_rows_from_leads(leads), _resized(sim.state, len(leads), n_shared), calendar,
                                        params, GROUPS, rng, record=True,
                                        regimes=schedule.regimes(leads["fit"].to_numpy(float), org_type))
            changed.events = list(sim.events)
            unchanged, sim = sim, changed
            unchanged.rng = copy.deepcopy(rng)
            initial = _initial_events(leads, calendar)
        if day in wanted:
            if fork is None or unchanged is not None:
                snapshots[day] = sim.state.take(np.arange(len(leads)), np.arange(n_accounts))
            else:  # before the change: the rows of leads created so far are the same in both worlds
                snapshots[day] = _resized(sim.state, len(leads), int(np.searchsorted(created, day)))
        sim.step(day, initial.get(day))
        if unchanged is not None and day < d0:
            unchanged.step(day, base_initial.get(day))
        progress(day + 1, total)
    return History(sim=sim, snapshots=snapshots, unchanged=unchanged)


def oracle_probabilities(leads: pd.DataFrame, accounts: world.Accounts, snapshot: process.State,
                         calendar: process.Calendar, config: GeneratorConfig, rng: np.random.Generator,
                         progress, day0: int | None = None, schedule: drift.Schedule | None = None,
                         rng_arrivals: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Monte Carlo estimate of P(SQL within the horizon) for leads open at the export time
    (or at the start of simulated day ``day0``, with ``snapshot`` the state then).

    Each path continues the process from the export-time state, with fresh
    randomness and freshly drawn future leads. The estimate on a path is the
    compensator (the sum of daily SQL probabilities while open), whose
    expectation equals the probability and whose variance is lower than the
    0/1 outcome's. The paths follow the changes of ``schedule`` that fall in the
    horizon (the truth, not a forecast); ``rng_arrivals`` draws the future leads'
    changed channel volumes.
    """
    d0 = config.history_days if day0 is None else day0
    horizon, k = config.horizon_days, config.mc_sims
    n_acc = len(accounts.frame)
    existing = leads["created_day"].to_numpy() < d0
    open_idx = np.flatnonzero(existing & ~snapshot.closed)
    recent_closed = np.flatnonzero(existing & snapshot.closed
                                   & (snapshot.last_activity >= d0 - process.ProcessParams.committee_window_days))
    if not len(open_idx):  # an export made just after the history starts
        return open_idx, np.zeros(0)
    keep = np.concatenate([open_idx, recent_closed])
    touched = np.unique(leads["account_idx"].to_numpy()[open_idx])
    daily_rate = world.account_daily_rates(accounts, config.n_leads, config.history_days)

    # Future leads of every path, drawn in one go: arrivals per (path, account).
    arrivals = rng.poisson(np.tile(daily_rate[touched] * horizon, k))
    fut_path = np.repeat(np.repeat(np.arange(k), len(touched)), arrivals)
    fut_acc = np.repeat(np.tile(touched, k), arrivals)
    future = world.draw_leads(accounts, fut_acc, rng.integers(d0, d0 + horizon, len(fut_acc)),
                              calendar.conference >= 0, rng)
    if schedule is not None and schedule.channels():
        assert rng_arrivals is not None
        future, fut_path = _future_channel_changes(future, fut_path, touched, daily_rate[touched], accounts, calendar,
                                                   schedule, d0, horizon, k, rng_arrivals)
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
    regimes = None
    if schedule is not None:
        org_type = accounts.frame["org_type"].to_numpy()[all_rows["account_idx"].to_numpy() % n_acc]
        regimes = schedule.regimes(rows.fit, org_type)
    sim = process.Simulator(rows, state, calendar, process.ProcessParams(), GROUPS, rng, record=False,
                            regimes=regimes)
    initial = _initial_events(all_rows, calendar)
    for i, day in enumerate(range(d0, d0 + horizon)):
        sim.step(day, initial.get(day))
        progress(i + 1, horizon)
    offsets = np.cumsum([0] + [len(f) for f in frames[:-1]])
    comp = np.stack([sim.compensator[o: o + len(open_idx)] for o in offsets])
    # Per path the compensator may pass 1 for a near-certain lead; the mean
    # stays unbiased, and only the (rare) excess over 1 is clipped.
    return open_idx, np.minimum(comp.mean(axis=0), 1.0)


def _future_channel_changes(future: pd.DataFrame, fut_path: np.ndarray, touched: np.ndarray, rate: np.ndarray,
                            accounts: world.Accounts, calendar: process.Calendar, schedule: drift.Schedule, d0: int,
                            horizon: int, k: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """The Monte Carlo paths' future leads with the changed channel volumes, as in the history."""
    conference_days = calendar.conference >= 0
    keep = drift.thinned(future, schedule, len(conference_days), rng)
    frames, paths = [future[keep]], [fut_path[keep]]
    for channel, excess in drift.extra_arrivals(schedule, conference_days, d0, d0 + horizon):
        counts = rng.poisson(np.tile(rate * excess.sum(), k))
        paths.append(np.repeat(np.repeat(np.arange(k), len(touched)), counts))
        account_idx = np.repeat(np.tile(touched, k), counts)
        days = d0 + rng.choice(len(excess), size=len(account_idx), p=excess / excess.sum())
        frames.append(world.draw_leads(accounts, account_idx, days, conference_days, rng, source=channel))
    return pd.concat(frames, ignore_index=True), np.concatenate(paths)


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
    """Simulate the world and write the export and its truth.

    With ``config.changes`` the world changes from their dates on; with
    ``config.also_export_at`` the same CRM is also written as exported at those
    earlier dates (``OUT/earlier/DATE``, truth in ``TRUTH/earlier/DATE``). Every
    truth folder holds ``changes.json`` (``drift.read_changes``). Raises
    ValueError when a change names a signal the generator does not have.
    """
    from mqlscore.progress import stage_bar

    drift.check_changes(config)
    t0 = time.perf_counter()
    out = Path(out)
    truth_out = Path(truth_out) if truth_out is not None else default_truth_dir(out)
    seeds = np.random.SeedSequence(config.seed).spawn(5)
    rng_world, rng_hist, rng_mc, rng_detail, rng_err = (np.random.default_rng(s) for s in seeds)
    total_days = config.history_days + config.horizon_days
    calendar, dates = build_calendar(config, total_days)
    schedule = drift.Schedule.from_config(config)
    d0 = config.history_days
    earlier_days = tuple(drift.day_of(config, when) for when in config.also_export_at)

    with stage_bar(progress) as bar:
        accounts, base = draw_population(config, calendar, rng_world)
        leads, population = changed_population(base, accounts, calendar, config, schedule,
                                               _stream(config, "population"))
        history = simulate_history(base, leads, accounts, calendar, config, rng_hist,
                                   bar("Simulating history", total_days), schedule, earlier_days)
        sim = history.sim
        open_idx, oracle = oracle_probabilities(leads, accounts, history.snapshots[d0], calendar, config, rng_mc,
                                                bar("Oracle (Monte Carlo)", config.horizon_days), schedule=schedule,
                                                rng_arrivals=_stream(config, "oracle_arrivals", d0))
        # Rows before the first change come from the world without changes, drawn exactly as
        # without changes; rows from the change on from the changed world, on a stream of their own.
        hidden = bool(config.changes or config.also_export_at)
        tables = details.build_tables(base, accounts, history.unchanged or sim, dates, config, rng_detail, hidden)
        if schedule.first_day is not None and schedule.first_day < d0:
            after = details.build_tables(leads, accounts, sim, dates, config, _stream(config, "details"), hidden)
            tables = details.splice_tables(tables, after, schedule.first_day)
        written = details.without_hidden(tables)
        if config.with_errors:
            written = details.add_invalid_rows(written, rng_err)
        counts = details.write_tables(written, out, config.output_format)
        counts.update(_counts(leads, sim.state, open_idx, d0))
        oracle_frame = _oracle_frame(leads, sim.state, open_idx, oracle, d0, config.horizon_days)
        _write_truth(truth_out, config, leads, oracle_frame, d0)

        earlier = []
        for when, day in zip(config.also_export_at, earlier_days):
            e_out, e_truth = drift.earlier_dirs(out, truth_out, when)
            cut = details.without_hidden(details.cut_tables(tables, dates[day]))
            if config.with_errors:
                cut = details.add_invalid_rows(cut, _stream(config, "errors", day))
            e_counts = details.write_tables(cut, e_out, config.output_format)
            e_open, e_oracle = oracle_probabilities(
                leads, accounts, history.snapshots[day], calendar, config, _stream(config, "oracle", day),
                bar(f"Oracle as of {when}", config.horizon_days), day0=day, schedule=schedule,
                rng_arrivals=_stream(config, "oracle_arrivals", day))
            e_counts.update(_counts(leads, sim.state, e_open, day))
            e_frame = _oracle_frame(leads, sim.state, e_open, e_oracle, day, config.horizon_days)
            _write_truth(e_truth, config, leads, e_frame, day, as_of=dates[day])
            earlier.append(EarlierExport(as_of=dates[day], out=e_out, truth_out=e_truth, counts=e_counts,
                                         oracle_mean=float(e_oracle.mean()) if len(e_oracle) else 0.0,
                                         realised_rate=float(e_frame["realised_sql"].mean()) if len(e_frame) else 0.0))

        records = drift.change_records(config, population)
        exports = [("main", dates[d0], out, truth_out)] + [("earlier", e.as_of, e.out, e.truth_out) for e in earlier]
        document = drift.exports_document(config, exports, records)
        changes_file = drift.write_changes(truth_out, document, truth_out, dates[d0])
        for e in earlier:
            drift.write_changes(e.truth_out, document, truth_out, e.as_of)

    return GenerationResult(
        out=out, truth_out=truth_out, counts=counts, oracle_mean=float(oracle.mean()) if len(oracle) else 0.0,
        realised_rate=float(oracle_frame["realised_sql"].mean()) if len(oracle_frame) else 0.0,
        seconds=time.perf_counter() - t0, earlier=earlier, changes=[c.spec() for c in config.changes],
        changes_file=changes_file,
    )


def _counts(leads: pd.DataFrame, final: process.State, open_idx: np.ndarray, d0: int) -> dict[str, int]:
    """Accounts, SQLs, disqualified and open leads of the export made at the start of day ``d0``."""
    exported = leads["created_day"].to_numpy() < d0
    return {
        "accounts": int(leads.loc[exported, "account_idx"].nunique()),
        "sqls": int(((final.sql_day >= 0) & (final.sql_day < d0) & exported).sum()),
        "disqualified": int(((final.dq_day >= 0) & (final.dq_day < d0) & exported).sum()),
        "open": len(open_idx),
    }


def _oracle_frame(leads: pd.DataFrame, final: process.State, open_idx: np.ndarray, oracle: np.ndarray,
                  d0: int, horizon: int) -> pd.DataFrame:
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


def _write_truth(truth_out: Path, config: GeneratorConfig, leads: pd.DataFrame, oracle_frame: pd.DataFrame,
                 d0: int, as_of: pd.Timestamp | None = None) -> None:
    """The truth folder of the export made at the start of day ``d0`` (``as_of``: an earlier export's time)."""
    truth_out.mkdir(parents=True, exist_ok=True)
    document = truth_document(config)
    if as_of is not None:
        document = dict(document, export_at=drift.iso_utc(as_of), main_export_at=document["export_at"])
    with open(truth_out / "truth.json", "w", encoding="utf-8") as fh:
        json.dump(document, fh, indent=2)
    oracle_frame.to_csv(truth_out / "oracle.csv", index=False)
    exported = leads["created_day"] < d0
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
        "- `leads_truth.csv`: each lead's true persona, seniority, committee role and fit.\n"
        "- `changes.json`: the changes of the world (drift) and every export written with their truth.\n",
        encoding="utf-8",
    )
