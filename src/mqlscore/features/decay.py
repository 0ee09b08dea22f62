"""Learned decay: an effective half-life per signal family, estimated from data.

How fast a signal fades is a property of the *hazard* of becoming an SQL, not of
a 90-day window (whose label also integrates the lead's future activity). So the
estimate uses case-base sampling (Hanley & Miettinen, 2009): the moments at which
leads became SQLs (cases) against moments drawn uniformly from all the time leads
spent open (the base series). A logistic regression of case against base then
estimates log hazard ratios. Each signal family enters it as ``w_f * log(1 + D_f)``
with ``D_f = sum over the lead's past events of the family of 0.5 ** (age / h_f)``,
next to the fit, buying-committee and evidence-stage features and the lead's age as
controls. Weights and half-lives ``h_f`` are fitted jointly by maximum likelihood
(L-BFGS with exact gradients) on the older moments; the log loss on the most recent
period is reported next to the same model with every half-life set by the
25 %-per-quarter rule of thumb.

A half-life is reported as "identified" only when the family has enough events
and a weight clearly away from zero; otherwise the data cannot say how fast
that signal fades.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from mqlscore.features.builder import FeatureBuilder
from mqlscore.features.events import (US_PER_DAY, SortedEvents, expand_ranges, instant_us, time_frame, to_us,
                                      utc_times)

QUARTER_DAYS = 365.25 / 4
RULE_OF_THUMB_LOSS = 0.25  # share of weight lost per quarter, the common hand-set practice
MIN_HALF_LIFE, MAX_HALF_LIFE = 1.0, 1000.0
# A half-life counts as identified when its 95 % interval spans at most about
# a factor of 2 each way and its weight is clearly away from zero.
MAX_SE_LOG_HALF_LIFE = 0.35


def half_life_for_quarterly_loss(loss: float) -> float:
    """The half-life (days) at which a signal loses ``loss`` of its weight per quarter."""
    return QUARTER_DAYS * np.log(2) / -np.log1p(-loss)


def quarterly_loss(half_life_days: float) -> float:
    """The share of weight a signal with this half-life loses per quarter of inactivity."""
    return float(1 - 0.5 ** (QUARTER_DAYS / half_life_days))


@dataclass
class HalfLife:
    """The learned half-life of one signal family."""

    family: str
    half_life_days: float
    low_days: float  # 95 % interval of the half-life
    high_days: float
    lost_per_quarter: float
    weight: float
    events: int
    identified: bool


@dataclass
class DecayReport:
    """Learned half-lives and how much they improve on the rule of thumb."""

    half_lives: list[HalfLife]
    validation_log_loss: float
    rule_of_thumb_log_loss: float
    rule_of_thumb_half_life: float
    rows_fit: int
    rows_validation: int
    notes: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """One row per family, identified ones first, shortest half-life first."""
        frame = pd.DataFrame([asdict(h) for h in self.half_lives])
        if frame.empty:
            return frame
        return frame.sort_values(["identified", "half_life_days"], ascending=[False, True]).reset_index(drop=True)

    def to_dict(self) -> dict:
        """JSON-ready."""
        return {**{k: v for k, v in asdict(self).items() if k != "half_lives"},
                "half_lives": [asdict(h) for h in self.half_lives]}


@dataclass
class _Problem:
    """Arrays of the likelihood: controls, pair expansion and labels."""

    controls: np.ndarray  # (rows, k) standardised, with an intercept column
    y: np.ndarray
    pair_row: np.ndarray
    pair_family: np.ndarray
    pair_age: np.ndarray  # days
    n_families: int
    segment_starts: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    segment_cells: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    _cache: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Sorting the pairs by (row, family) cell once lets every evaluation sum
        # contiguous segments instead of scattering into random cells.
        cell = self.pair_row * self.n_families + self.pair_family
        order = np.argsort(cell, kind="stable")
        self.pair_row, self.pair_family, self.pair_age = (
            self.pair_row[order], self.pair_family[order], self.pair_age[order])
        cell = cell[order]
        starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]]) if len(cell) else np.empty(0, np.int64)
        self.segment_starts, self.segment_cells = starts, cell[starts]


def _controls(X: pd.DataFrame) -> np.ndarray:
    """Fit, committee and evidence-stage features and the lead's age as a
    dense, standardised design matrix with an intercept."""
    parts: list[np.ndarray] = [np.ones((len(X), 1))]
    for col in X.columns:
        if not (col.startswith(("fit__", "extra__", "account__")) or col == "intent__evidence_stage"):
            continue
        values = X[col]
        if isinstance(values.dtype, pd.CategoricalDtype):
            dummies = pd.get_dummies(values, dtype=float).to_numpy()
            parts.append(dummies[:, dummies.std(axis=0) > 0][:, 1:])
            continue
        v = values.to_numpy(float)
        missing = np.isnan(v)
        if col.startswith("account__") or col == "fit__lead_age_days":
            v = np.log1p(np.clip(v, 0, None))
        filled = np.where(missing, np.nanmean(v) if (~missing).any() else 0.0, v)
        sd = filled.std()
        if sd > 0:
            parts.append(((filled - filled.mean()) / sd)[:, None])
        if missing.any() and not missing.all():
            parts.append(missing.astype(float)[:, None])
    return np.hstack(parts)


def case_base_rows(leads: pd.DataFrame, outcomes: pd.DataFrame | None, as_of: pd.Timestamp, n_base: int,
                   rng: np.random.Generator) -> pd.DataFrame:
    """Cases (each SQL, at its moment) and ``n_base`` moments drawn uniformly
    from the time leads spent open before ``as_of``; columns ``lead_id``,
    ``as_of``, ``label`` (1 for a case)."""
    from mqlscore.features.snapshots import closing_times

    created = to_us(leads["created_at"])
    sql, closed = closing_times(leads, outcomes)
    t_end = instant_us(as_of)
    end = np.minimum(closed, t_end)
    open_us = np.clip(end - created, 0, None).astype(float)
    is_case = (sql < t_end) & (sql > created)
    base_lead = rng.choice(len(leads), size=n_base, p=open_us / open_us.sum())
    base_t = created[base_lead] + (rng.random(n_base) * open_us[base_lead]).astype(np.int64)
    ids = leads["lead_id"].to_numpy()
    return pd.DataFrame({
        "lead_id": np.r_[ids[is_case], ids[base_lead]],
        "as_of": utc_times(np.r_[sql[is_case], base_t]),
        "label": np.r_[np.ones(int(is_case.sum())), np.zeros(n_base)].astype(np.int8),
    })


def _pairs(builder: FeatureBuilder, leads: pd.DataFrame, activities: pd.DataFrame, rows: pd.DataFrame,
           families: list[int], lookback_days: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lead_code = pd.Index(leads["lead_id"].astype(str))
    acts = activities[activities["lead_id"].astype(str).isin(lead_code)]
    fam = builder.family_codes(acts)
    keep = np.isin(fam, families)
    acts, fam = acts[keep], fam[keep]
    remap = np.full(len(builder.families_), -1)
    remap[families] = np.arange(len(families))
    ev_us = to_us(acts["occurred_at"])
    snap_lead = lead_code.get_indexer(rows["lead_id"].astype(str))
    snap_us = to_us(rows["as_of"])
    base, span = time_frame(ev_us, snap_us, n_entities=len(leads) + 1)
    events = SortedEvents.build(lead_code.get_indexer(acts["lead_id"].astype(str)), ev_us, remap[fam], base, span)
    start = events.count_before(snap_lead, snap_us - int(lookback_days * US_PER_DAY))
    end = events.count_before(snap_lead, snap_us)
    row, event = expand_ranges(start, end)
    age = (snap_us[row] - events.us[event]) / US_PER_DAY
    return row, events.payload[event], age


def _design(problem: _Problem, log_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row and family: log(1 + D) and dD/dlog(h) / (1 + D) (cached per half-lives)."""
    key = log_h.tobytes()
    if key in problem._cache:
        return problem._cache[key]
    n, F = len(problem.y), problem.n_families
    h = np.exp(log_h)[problem.pair_family]
    k = np.exp2(-problem.pair_age / h)
    D = np.zeros(n * F)
    dD = np.zeros(n * F)
    if len(k):
        D[problem.segment_cells] = np.add.reduceat(k, problem.segment_starts)
        dD[problem.segment_cells] = np.add.reduceat(k * problem.pair_age * (np.log(2) / h), problem.segment_starts)
    D, dD = D.reshape(n, F), dD.reshape(n, F)
    result = (np.log1p(D), dD / (1 + D))
    problem._cache.clear()  # only the latest point is ever asked for again
    problem._cache[key] = result
    return result


def _loss_and_grad(params: np.ndarray, problem: _Problem, l2: float, fixed_log_h: np.ndarray | None
                   ) -> tuple[float, np.ndarray]:
    k = problem.controls.shape[1]
    F = problem.n_families
    beta, w = params[:k], params[k:k + F]
    log_h = fixed_log_h if fixed_log_h is not None else params[k + F:]
    logD, dlogD = _design(problem, log_h)
    eta = problem.controls @ beta + logD @ w
    p = 1 / (1 + np.exp(-eta))
    eps = 1e-12
    n = len(problem.y)
    loss = -np.mean(problem.y * np.log(p + eps) + (1 - problem.y) * np.log(1 - p + eps))
    loss += 0.5 * l2 * (beta[1:] @ beta[1:] + w @ w)
    g = (p - problem.y) / n
    grad_beta = problem.controls.T @ g + l2 * np.r_[0.0, beta[1:]]
    grad_w = logD.T @ g + l2 * w
    if fixed_log_h is not None:
        return float(loss), np.r_[grad_beta, grad_w]
    grad_log_h = (dlogD * w).T @ g
    return float(loss), np.r_[grad_beta, grad_w, grad_log_h]


def _fit(problem: _Problem, l2: float, fixed_log_h: np.ndarray | None, start: np.ndarray | None = None
         ) -> np.ndarray:
    from scipy.optimize import minimize

    k, F = problem.controls.shape[1], problem.n_families
    size = k + F + (0 if fixed_log_h is not None else F)
    x0 = np.zeros(size) if start is None else start
    bounds = [(None, None)] * (k + F)
    if fixed_log_h is None:
        bounds += [(np.log(MIN_HALF_LIFE), np.log(MAX_HALF_LIFE))] * F
    result = minimize(_loss_and_grad, x0, args=(problem, l2, fixed_log_h), jac=True, method="L-BFGS-B",
                      bounds=bounds, options={"maxiter": 250, "ftol": 1e-8})
    return result.x


def _log_loss(problem: _Problem, params: np.ndarray, log_h: np.ndarray) -> float:
    k, F = problem.controls.shape[1], problem.n_families
    logD, _ = _design(problem, log_h)
    eta = problem.controls @ params[:k] + logD @ params[k:k + F]
    p = np.clip(1 / (1 + np.exp(-eta)), 1e-12, 1 - 1e-12)
    return float(-np.mean(problem.y * np.log(p) + (1 - problem.y) * np.log(1 - p)))


def estimate_half_lives(builder: FeatureBuilder, leads: pd.DataFrame, activities: pd.DataFrame,
                        outcomes: pd.DataFrame | None, as_of: pd.Timestamp, *, validation_days: int = 90,
                        base_per_case: float = 4.0, max_base: int = 40_000, min_events: int = 200,
                        l2: float = 1e-4, lookback_days: float = 1000.0, seed: int = 0) -> DecayReport:
    """Fit each signal family's half-life jointly with its weight (see the module docstring).

    ``builder`` is fitted; moments in the last ``validation_days`` before ``as_of``
    only serve to report the validation log loss.
    """
    rng = np.random.default_rng(seed)
    activities = activities[activities["occurred_at"] < as_of] if len(activities) else activities
    counts = pd.Series(builder.family_codes(activities)).value_counts()
    families = sorted(int(f) for f, n in counts.items() if n >= min_events and f >= 0)
    names = [builder.families_[f] for f in families]
    n_cases = int(_sql_before(leads, outcomes, as_of).sum())
    n_base = int(min(max_base, max(1000, base_per_case * n_cases)))
    rows = case_base_rows(leads, outcomes, as_of, n_base, rng)
    X = builder.transform(leads, activities, rows)
    controls = _controls(X)
    is_validation = (rows["as_of"] >= pd.Timestamp(as_of) - pd.Timedelta(days=validation_days)).to_numpy()
    problems = {}
    for name, mask in (("fit", ~is_validation), ("validation", is_validation)):
        part = rows[mask]
        pr, pf, age = _pairs(builder, leads, activities, part, families, lookback_days)
        problems[name] = _Problem(controls[mask], part["label"].to_numpy(float), pr, pf, age, len(families))
    F, k = len(families), controls.shape[1]
    rule_h = half_life_for_quarterly_loss(RULE_OF_THUMB_LOSS)
    rule_log_h = np.full(F, np.log(rule_h))
    start_log_h = np.full(F, np.log(30.0))
    convex = _fit(problems["fit"], l2, start_log_h)
    learned = _fit(problems["fit"], l2, None, np.r_[convex, start_log_h])
    rule = _fit(problems["fit"], l2, rule_log_h)
    val = problems["validation"]
    has_val = len(val.y) > 0 and 0 < val.y.sum() < len(val.y)
    val_loss = _log_loss(val, learned, learned[k + F:]) if has_val else float("nan")
    rule_loss = _log_loss(val, rule, rule_log_h) if has_val else float("nan")
    # The reported half-lives use every moment, the validation period included.
    pr, pf, age = _pairs(builder, leads, activities, rows, families, lookback_days)
    everything = _Problem(controls, rows["label"].to_numpy(float), pr, pf, age, F)
    final = _fit(everything, l2, None, learned)
    log_h, weights = final[k + F:], final[k:k + F]
    se_w, se_log_h = _standard_errors(everything, final, l2)
    half_lives = []
    for i, (f, name) in enumerate(zip(families, names)):
        h = float(np.exp(log_h[i]))
        at_bound = h <= MIN_HALF_LIFE * 1.01 or h >= MAX_HALF_LIFE * 0.99
        identified = bool(not at_bound and se_log_h[i] <= MAX_SE_LOG_HALF_LIFE and abs(weights[i]) >= 2 * se_w[i])
        low, high = (h * np.exp(-1.96 * se_log_h[i]), h * np.exp(1.96 * se_log_h[i])) if np.isfinite(se_log_h[i]) \
            else (float("nan"), float("nan"))
        half_lives.append(HalfLife(name, round(h, 2), round(float(low), 2), round(float(high), 2),
                                   round(quarterly_loss(h), 4), round(float(weights[i]), 4), int(counts[f]),
                                   identified))
    return DecayReport(
        half_lives=half_lives, validation_log_loss=val_loss, rule_of_thumb_log_loss=rule_loss,
        rule_of_thumb_half_life=round(rule_h, 1),
        rows_fit=int((~is_validation).sum()), rows_validation=int(is_validation.sum()),
        notes=[f"{n_cases:,} SQL moments against {n_base:,} moments drawn from open lead time"],
    )


def _standard_errors(problem: _Problem, params: np.ndarray, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """Standard errors of the family weights and log half-lives, from the
    observed information (a finite-difference Hessian of the exact gradient,
    other parameters held at their estimates)."""
    k, F = problem.controls.shape[1], problem.n_families
    idx = np.arange(k, k + 2 * F)
    step = 1e-4
    base = _loss_and_grad(params, problem, l2, None)[1][idx]
    hess = np.empty((len(idx), len(idx)))
    for j, i in enumerate(idx):
        moved = params.copy()
        moved[i] += step
        hess[j] = (_loss_and_grad(moved, problem, l2, None)[1][idx] - base) / step
    hess = (hess + hess.T) / 2 * len(problem.y)
    try:
        cov = np.linalg.pinv(hess)
    except np.linalg.LinAlgError:
        return np.full(F, np.inf), np.full(F, np.inf)
    var = np.diag(cov)
    se = np.sqrt(np.where(var > 0, var, np.inf))
    return se[:F], se[F:]


def _sql_before(leads: pd.DataFrame, outcomes: pd.DataFrame | None, as_of: pd.Timestamp) -> np.ndarray:
    from mqlscore.features.snapshots import closing_times

    sql, _ = closing_times(leads, outcomes)
    return sql < instant_us(as_of)
