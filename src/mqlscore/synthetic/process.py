"""The generative process of the synthetic world: activity and outcomes, day by day.

One simulator serves two purposes with the same code:

* the **history**: every lead of the world, one path, events recorded, run up
  to the export time and on for a horizon beyond it (the realised future);
* the **oracle**: K independent continuations of the state at the export time,
  without recording events, to estimate each open lead's true probability of
  becoming an SQL within the horizon.

Rows of the simulator are (path, lead) pairs; accounts are (path, account)
pairs, so the buying-committee coupling between leads of one account stays
inside a path. See ``docs/synthetic-data.md`` for the process in words.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

# --- the signals ---------------------------------------------------------------
# name, activity type, page category, true weight, true half-life (days),
# base share of the spontaneous activity rate (0 = calendar-driven only)
SIGNALS: tuple[tuple[str, str, str | None, float, float, float], ...] = (
    ("email_open", "email_open", None, 0.05, 5, 0.0),
    ("email_click", "email_click", None, 0.25, 14, 0.0),
    ("page_blog", "page_view", "blog", 0.05, 21, 0.16),
    ("page_other", "page_view", "other", 0.10, 14, 0.20),
    ("page_pricing", "page_view", "pricing", 0.60, 10, 0.05),
    ("page_security", "page_view", "security", 0.45, 30, 0.035),
    ("page_integrations", "page_view", "integrations", 0.40, 30, 0.035),
    ("page_evidence", "page_view", "evidence", 0.25, 60, 0.04),
    ("page_case_studies", "page_view", "case_studies", 0.30, 45, 0.04),
    ("page_roi", "page_view", "roi", 0.50, 21, 0.015),
    ("page_careers", "page_view", "careers", -0.80, 120, 0.02),
    ("content_download", "content_download", None, 0.25, 45, 0.08),
    ("webinar_registered", "webinar_registered", None, 0.15, 21, 0.04),
    ("webinar_attended", "webinar_attended", None, 0.55, 45, 0.0),
    ("event_booth_scan", "event_booth_scan", None, 0.50, 60, 0.0),
    ("demo_request", "demo_request", None, 1.90, 14, 0.012),
    ("contact_sales", "contact_sales", None, 1.70, 10, 0.008),
    ("baa_request", "baa_request", None, 1.50, 21, 0.005),
    ("security_review", "security_review", None, 1.20, 30, 0.004),
    ("sandbox_signup", "sandbox_signup", None, 1.00, 21, 0.006),
    ("form_submit", "form_submit", None, 0.30, 21, 0.03),
    ("chat_started", "chat_started", None, 0.35, 7, 0.02),
    ("unsubscribe", "unsubscribe", None, -1.50, 180, 0.0),
    ("g2_intent_surge", "g2_intent_surge", None, 0.50, 30, 0.012),
)
SIGNAL_NAMES = tuple(s[0] for s in SIGNALS)
SIG = {name: i for i, name in enumerate(SIGNAL_NAMES)}

# How far along the evidence sequence a lead has come: peer-reviewed evidence,
# then a reference customer, then EHR integration, then ROI or pricing.
EVIDENCE_SEQUENCE = (("page_evidence",), ("page_case_studies",), ("page_integrations",), ("page_roi", "page_pricing"))

# Activity mix multipliers per persona group (groups as in vocab.PERSONA_GROUPS).
GROUP_MIX: dict[str, dict[str, float]] = {
    "champion": {"page_pricing": 1.3, "page_evidence": 1.5, "page_case_studies": 1.4, "page_roi": 1.3,
                 "demo_request": 1.8, "contact_sales": 1.5, "security_review": 0.6, "sandbox_signup": 0.8,
                 "page_careers": 0.3},
    "it_security": {"page_security": 3.0, "page_integrations": 2.5, "baa_request": 2.5, "security_review": 3.5,
                    "sandbox_signup": 2.5, "demo_request": 0.8, "page_pricing": 0.6, "page_careers": 0.3},
    "finance": {"page_pricing": 2.5, "page_roi": 3.0, "demo_request": 0.8, "contact_sales": 1.5,
                "page_careers": 0.3},
    "compliance": {"page_security": 2.5, "baa_request": 3.0, "security_review": 1.5, "page_careers": 0.3},
    "influencer": {"page_blog": 1.5, "page_evidence": 1.2, "demo_request": 0.4, "contact_sales": 0.4,
                   "baa_request": 0.3, "security_review": 0.3},
    "junk": {"page_blog": 2.0, "page_careers": 6.0, "page_other": 1.2, "demo_request": 0.08,
             "contact_sales": 0.1, "baa_request": 0.03, "security_review": 0.03, "sandbox_signup": 0.3,
             "page_pricing": 0.4, "page_roi": 0.2},
}


@dataclass(frozen=True)
class ProcessParams:
    """The true parameters of the process (written to the truth folder)."""

    base_log_hazard: float = -9.6
    stage_weight: float = 0.20
    committee_weight: float = 0.35
    committee_window_days: int = 30
    base_activity_rate: float = 0.12
    excitation_half_life: float = 3.0
    excitation_gain: float = 0.6
    excitation_cap: float = 4.0
    in_market_start_per_day: float = 1 / 700
    in_market_end_per_day: float = 1 / 100
    in_market_boost: float = 3.0
    interest_floor: float = 0.12
    open_base: float = 0.05
    open_per_engagement: float = 0.20
    click_given_open: float = 0.18
    unsubscribe_given_no_open: float = 0.003
    webinar_attend_rate: float = 0.5
    booth_rate: float = 0.006
    next_stage_boost: float = 3.0
    junk_dq_per_day: float = 0.04
    silence_dq_per_day: float = 0.03
    base_dq_per_day: float = 0.0003
    weights: tuple[float, ...] = field(default_factory=lambda: tuple(s[3] for s in SIGNALS))
    half_lives: tuple[float, ...] = field(default_factory=lambda: tuple(s[4] for s in SIGNALS))


def _mix_weights(groups: tuple[str, ...]) -> np.ndarray:
    """Spontaneous rate of each signal per (persona group, evidence stage), in
    units of the base mix: the group's multipliers, and the next step of the
    evidence sequence boosted."""
    base = np.array([s[5] for s in SIGNALS])
    n_stages = len(EVIDENCE_SEQUENCE) + 1
    weights = np.zeros((len(groups), n_stages, len(SIGNALS)))
    for g, group in enumerate(groups):
        mult = np.ones(len(SIGNALS))
        for name, m in GROUP_MIX[group].items():
            mult[SIG[name]] = m
        for stage in range(n_stages):
            weights[g, stage] = base * mult
            if stage < len(EVIDENCE_SEQUENCE):
                for name in EVIDENCE_SEQUENCE[stage]:
                    weights[g, stage, SIG[name]] *= ProcessParams.next_stage_boost
    return weights


def signal_mix_cdf(groups: tuple[str, ...]) -> np.ndarray:
    """Cumulative mix of spontaneous signals per (persona group, evidence stage)."""
    weights = _mix_weights(groups)
    return np.cumsum(weights, axis=2) / weights.sum(axis=2, keepdims=True)


def group_rate_scale(groups: tuple[str, ...]) -> np.ndarray:
    """Total spontaneous rate of each (group, stage) relative to the base mix."""
    return _mix_weights(groups).sum(axis=2) / np.array([s[5] for s in SIGNALS]).sum()


@dataclass
class Rows:
    """Static attributes of the simulator's rows (one per path and lead)."""

    account: np.ndarray  # int: index of the (path, account) pair
    role: np.ndarray  # int8: committee role index, -1 for none
    group: np.ndarray  # int8: persona group index
    fit: np.ndarray  # float: fit part of the log-hazard
    interest: np.ndarray  # float: engagement scale
    interest_half_life: np.ndarray  # float days
    silence_limit: np.ndarray  # float days of silence before disqualification starts
    created_day: np.ndarray  # int
    conference_reach: np.ndarray  # float: multiplier of booth-scan chance
    junk: np.ndarray  # bool


@dataclass
class State:
    """Dynamic state of every row, plus the accounts' in-market flags."""

    intent: np.ndarray  # float32 (rows, signals): decayed counts
    excitation: np.ndarray  # float32
    last_activity: np.ndarray  # int day, very negative when none
    stage: np.ndarray  # int8
    unsubscribed: np.ndarray  # bool
    webinar_pending: np.ndarray  # bool
    closed: np.ndarray  # bool
    sql_day: np.ndarray  # int, -1 when none
    dq_day: np.ndarray  # int, -1 when none
    in_market: np.ndarray  # bool per (path, account)

    @classmethod
    def empty(cls, n_rows: int, n_accounts: int) -> State:
        """A state where nothing has happened yet."""
        return cls(
            intent=np.zeros((n_rows, len(SIGNALS)), dtype=np.float32),
            excitation=np.zeros(n_rows, dtype=np.float32),
            last_activity=np.full(n_rows, -10**6, dtype=np.int64),
            stage=np.zeros(n_rows, dtype=np.int8),
            unsubscribed=np.zeros(n_rows, dtype=bool),
            webinar_pending=np.zeros(n_rows, dtype=bool),
            closed=np.zeros(n_rows, dtype=bool),
            sql_day=np.full(n_rows, -1, dtype=np.int64),
            dq_day=np.full(n_rows, -1, dtype=np.int64),
            in_market=np.zeros(n_accounts, dtype=bool),
        )

    def take(self, idx: np.ndarray, account_idx: np.ndarray) -> State:
        """The state of a subset of rows and accounts (copies)."""
        return State(
            intent=self.intent[idx].copy(), excitation=self.excitation[idx].copy(),
            last_activity=self.last_activity[idx].copy(), stage=self.stage[idx].copy(),
            unsubscribed=self.unsubscribed[idx].copy(), webinar_pending=self.webinar_pending[idx].copy(),
            closed=self.closed[idx].copy(), sql_day=self.sql_day[idx].copy(), dq_day=self.dq_day[idx].copy(),
            in_market=self.in_market[account_idx].copy(),
        )


@dataclass
class Regimes:
    """The hazard's signal weights and per-row fit from given days on: how changes of
    the world (``generator.changes``) reach the simulator. Before the first start the
    simulator's own weights and fit hold."""

    starts: tuple[int, ...]  # first day of each regime, ascending
    weights: tuple[np.ndarray, ...]  # float32 per signal, one array per regime
    fit: tuple[np.ndarray, ...]  # float per row, one array per regime

    def at(self, day: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(weights, fit) in force on ``day``; None before the first regime."""
        k = bisect.bisect_right(self.starts, day) - 1
        return None if k < 0 else (self.weights[k], self.fit[k])


@dataclass
class Calendar:
    """Which days carry email campaigns, webinars and conferences."""

    campaign: np.ndarray  # bool per day
    webinar: np.ndarray  # bool per day
    conference: np.ndarray  # int per day: index into vocab.CONFERENCES or -1


class Simulator:
    """Advance the world one day at a time; see the module docstring."""

    def __init__(self, rows: Rows, state: State, calendar: Calendar, params: ProcessParams,
                 groups: tuple[str, ...], rng: np.random.Generator, record: bool,
                 regimes: Regimes | None = None) -> None:
        self.rows = rows
        self.regimes = regimes
        self.state = state
        self.calendar = calendar
        self.params = params
        self.rng = rng
        self.record = record
        self.weights = np.asarray(params.weights, dtype=np.float32)
        self.decay = (0.5 ** (1.0 / np.asarray(params.half_lives))).astype(np.float32)
        self.excitation_decay = np.float32(0.5 ** (1.0 / params.excitation_half_life))
        self.mix_cdf = signal_mix_cdf(groups)
        self.rate_scale = group_rate_scale(groups)
        self.stage_signals = [np.array([SIG[n] for n in names]) for names in EVIDENCE_SEQUENCE]
        self.events: list[tuple[np.ndarray, np.ndarray, int]] = []  # (rows, signals, day)
        self.compensator = np.zeros(len(rows.created_day))
        self._buffer = np.empty_like(state.intent)
        n_roles = int(rows.role.max(initial=-1)) + 1
        self.n_roles = max(n_roles, 1)

    # -- pieces of one day ------------------------------------------------------
    def engagement(self, day: int, idx: np.ndarray) -> np.ndarray:
        """How engaged each row is today (scales every activity rate)."""
        r, p = self.rows, self.params
        age = np.maximum(day - r.created_day[idx], 0)
        fade = p.interest_floor + (1 - p.interest_floor) * 0.5 ** (age / r.interest_half_life[idx])
        boost = 1.0 + p.in_market_boost * self.state.in_market[r.account[idx]]
        return r.interest[idx] * fade * boost

    def committee_coverage(self, day: int) -> np.ndarray:
        """Distinct committee roles among the *other* leads of each row's account
        that were active within the committee window."""
        r, s = self.rows, self.state
        counted = ((day - s.last_activity) <= self.params.committee_window_days) & (r.role >= 0)
        n_acc = len(s.in_market)
        key = r.account[counted] * self.n_roles + r.role[counted]
        counts = np.bincount(key, minlength=n_acc * self.n_roles).reshape(n_acc, self.n_roles)
        roles_present = (counts > 0).sum(axis=1)
        coverage = roles_present[r.account]
        # A role present only because of the lead itself does not count.
        own = np.flatnonzero(counted)
        alone = counts[r.account[own], r.role[own]] == 1
        coverage[own[alone]] -= 1
        return coverage

    def log_hazard(self, day: int, idx: np.ndarray) -> np.ndarray:
        """True log-hazard of becoming an SQL today, for rows ``idx``."""
        s, p = self.state, self.params
        weights, fit = self.weights, self.rows.fit
        current = self.regimes.at(day) if self.regimes is not None else None
        if current is not None:
            weights, fit = current
        np.log1p(s.intent, out=self._buffer)  # whole array in place: cheaper than a gathered copy
        intent = (self._buffer @ weights)[idx]
        coverage = self.committee_coverage(day)[idx]
        return p.base_log_hazard + fit[idx] + intent + p.stage_weight * s.stage[idx] \
            + p.committee_weight * coverage

    def close_leads(self, day: int, alive: np.ndarray) -> None:
        """Draw today's SQLs and disqualifications among open rows."""
        s, r, p = self.state, self.rows, self.params
        idx = np.flatnonzero(alive)
        prob_sql = -np.expm1(-np.exp(self.log_hazard(day, idx)))
        self.compensator[idx] += prob_sql
        silence = day - np.maximum(s.last_activity[idx], r.created_day[idx])
        prob_dq = np.full(len(idx), p.base_dq_per_day)
        prob_dq = np.where(silence > r.silence_limit[idx], p.silence_dq_per_day, prob_dq)
        prob_dq = np.where(r.junk[idx] & (day - r.created_day[idx] >= 3), p.junk_dq_per_day, prob_dq)
        u = self.rng.random(len(idx))
        sql = u < prob_sql
        dq = ~sql & (u < prob_sql + prob_dq * (1 - prob_sql))
        s.sql_day[idx[sql]] = day
        s.dq_day[idx[dq]] = day
        s.closed[idx[sql | dq]] = True

    def spontaneous_events(self, day: int, idx: np.ndarray, engagement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Self-exciting activity: rows and signals of today's spontaneous events."""
        s, p = self.state, self.params
        group, stage = self.rows.group[idx], s.stage[idx]
        boost = np.minimum(1.0 + p.excitation_gain * s.excitation[idx], p.excitation_cap)
        lam = p.base_activity_rate * engagement * boost * self.rate_scale[group, stage]
        counts = self.rng.poisson(lam)
        hit = np.flatnonzero(counts)
        ev_rows = np.repeat(idx[hit], counts[hit])
        cdf = self.mix_cdf[self.rows.group[ev_rows], s.stage[ev_rows]]
        u = self.rng.random(len(ev_rows))
        signals = (u[:, None] > cdf).sum(axis=1)
        return ev_rows, np.minimum(signals, len(SIGNALS) - 1)

    def calendar_events(self, day: int, idx: np.ndarray, engagement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Email campaigns, webinar attendance and conference booth scans."""
        s, p, cal = self.state, self.params, self.calendar
        rows_out: list[np.ndarray] = []
        sig_out: list[np.ndarray] = []
        if cal.campaign[day]:
            reach = ~s.unsubscribed[idx]
            target, eng = idx[reach], engagement[reach]
            opened = self.rng.random(len(target)) < np.minimum(p.open_base + p.open_per_engagement * eng, 0.7)
            clicked = opened & (self.rng.random(len(target)) < p.click_given_open)
            unsub = ~opened & (self.rng.random(len(target)) < p.unsubscribe_given_no_open)
            for mask, name in ((opened, "email_open"), (clicked, "email_click"), (unsub, "unsubscribe")):
                rows_out.append(target[mask])
                sig_out.append(np.full(int(mask.sum()), SIG[name]))
        if cal.webinar[day]:
            pending = idx[s.webinar_pending[idx]]
            attended = pending[self.rng.random(len(pending)) < p.webinar_attend_rate]
            s.webinar_pending[pending] = False
            rows_out.append(attended)
            sig_out.append(np.full(len(attended), SIG["webinar_attended"]))
        if cal.conference[day] >= 0:
            chance = p.booth_rate * engagement * self.rows.conference_reach[idx]
            scanned = idx[self.rng.random(len(idx)) < chance]
            rows_out.append(scanned)
            sig_out.append(np.full(len(scanned), SIG["event_booth_scan"]))
        if not rows_out:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        return np.concatenate(rows_out), np.concatenate(sig_out)

    def apply_events(self, day: int, ev_rows: np.ndarray, signals: np.ndarray) -> None:
        """Fold events into the state (they count from tomorrow on)."""
        s = self.state
        np.add.at(s.intent, (ev_rows, signals), 1.0)
        np.add.at(s.excitation, ev_rows, 1.0)
        s.last_activity[ev_rows] = day
        s.unsubscribed[ev_rows[signals == SIG["unsubscribe"]]] = True
        s.webinar_pending[ev_rows[signals == SIG["webinar_registered"]]] = True
        for stage, sigs in enumerate(self.stage_signals):
            advance = ev_rows[np.isin(signals, sigs) & (s.stage[ev_rows] == stage)]
            s.stage[advance] = stage + 1
        if self.record and len(ev_rows):
            self.events.append((ev_rows, signals, day))

    def step_markets(self) -> None:
        """Accounts enter and leave buying mode (a two-state Markov chain)."""
        s, p = self.state, self.params
        u = self.rng.random(len(s.in_market))
        start = ~s.in_market & (u < p.in_market_start_per_day)
        end = s.in_market & (u < p.in_market_end_per_day)
        s.in_market = (s.in_market | start) & ~end

    def step(self, day: int, initial: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Advance one day: hazards on yesterday's state, then today's events."""
        s, r = self.state, self.rows
        self.step_markets()
        alive = (r.created_day < day) & ~s.closed
        if alive.any():
            self.close_leads(day, alive)
        active = np.flatnonzero((r.created_day < day) & ~s.closed)
        engagement = self.engagement(day, active)
        ev_rows, signals = self.spontaneous_events(day, active, engagement)
        cal_rows, cal_signals = self.calendar_events(day, active, engagement)
        parts_rows = [ev_rows, cal_rows]
        parts_sig = [signals, cal_signals]
        if initial is not None:
            parts_rows.append(initial[0])
            parts_sig.append(initial[1])
        s.intent *= self.decay
        s.excitation *= self.excitation_decay
        self.apply_events(day, np.concatenate(parts_rows), np.concatenate(parts_sig))
