"""Account scores learned at training time, validated by time like lead scores.

**Rows.** Every ``every_days`` (the snapshot rule's period) back from the last fully
labelled moment (the export's as-of time minus the horizon; in the fitting period every
other such time), each buying group with an open lead is an *account row*: its members are its leads open then (created
before, not yet closed), and its label is 1 when at least one of them became an SQL
within the horizon after it. Every row's horizon ends before the export's as-of time,
so no row is censored; a lead without an account is a group of one. The rows are
split by time exactly as lead snapshots are (``features.training_set.split_by_time``):
fitted on rows whose horizon ended before the validation period began, judged on the
most recent fully labelled period.

**Members' chances** come from the lead model as chosen (fitted on the fitting
period, calibrated on the validation period): on validation rows they are honest,
on fitting rows in-sample, which the account models' own calibration on the
validation period corrects.

**Candidates** (``models.account``): the plain aggregation ``1 - prod(1 - p_i)``, the
same with a fitted dependence exponent, and the learned account model; each is
Platt-calibrated on the validation period with cross-fitted figures (an account's
rows calibrated by a map fitted on the other accounts). Kept: the lowest validation
log loss among the methods whose score cannot fall when a lead joins the account
(``AccountModel.never_lower_when_a_lead_joins``: an engaged finance contact must never
lower an account's score); the others are compared side by side and the choice says
when one of them had the lower loss. The account score scale, tiers and the MQA
threshold (best F1 of the MQA flag against an SQL within the horizon, accounts as
units) come from the validation period too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mqlscore.accounts.members import Members, members_at
from mqlscore.config import ScoringConfig, Settings
from mqlscore.contract import Dataset
from mqlscore.evaluation import ModelEvaluation, evaluate_model
from mqlscore.features.events import US_PER_DAY, instant_us, to_us
from mqlscore.features.snapshots import closing_times
from mqlscore.features.training_set import split_by_time
from mqlscore.models.account import METHODS, AccountModel
from mqlscore.models.calibration import cross_fitted_proba
from mqlscore.scoring import AccountScoring, ScoreScale, ScoringModel, ThresholdChoice, choose_threshold, logit, tiers_of

# Members (lead rows) of the fitting period at most: older account times are thinned beyond.
MAX_FIT_MEMBER_ROWS = 200_000
# Of the account times in the fitting period, every this-many-th is used (the newest kept).
FIT_TIME_STRIDE = 2
# An organisation type's own evidence for a missing role needs at least this many accounts
# that produced an SQL; with fewer, every account's is used.
MIN_EVIDENCE_ACCOUNTS = 20
ACCOUNT_THRESHOLD_POLICY = "f1"


@dataclass
class AccountCandidate:
    """One account method fitted on the fitting period and judged on the validation period."""

    name: str
    model: AccountModel
    raw_validation: np.ndarray
    p_validation: np.ndarray  # cross-fitted calibrated probabilities (honest figures)
    evaluation: ModelEvaluation | None = None
    threshold: ThresholdChoice | None = None


@dataclass
class AccountTraining:
    """What training learned about accounts: the chosen model with its scale and MQA
    threshold (``scoring``, stored with the ``ScoringModel``), every candidate's
    validation figures, counts and the per-role evidence."""

    scoring: AccountScoring
    chosen: str
    candidates: dict[str, AccountCandidate]
    counts: dict[str, int]
    evidence: dict[str, Any]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def evaluation(self) -> ModelEvaluation:
        """The chosen method's validation figures."""
        return self.candidates[self.chosen].evaluation

    def metrics(self) -> dict[str, dict[str, float]]:
        """Validation metrics per account method."""
        return {name: c.evaluation.metrics for name, c in self.candidates.items()}


def account_times(as_of: pd.Timestamp, horizon_days: float, every_days: float,
                  earliest: pd.Timestamp) -> list[pd.Timestamp]:
    """The moments account rows are taken at, oldest first: every ``every_days`` back from
    ``as_of - horizon`` (the last moment whose horizon has ended), while after ``earliest``."""
    last = pd.Timestamp(as_of) - pd.Timedelta(days=horizon_days)
    step = pd.Timedelta(days=every_days)
    times, t = [], last
    while t > pd.Timestamp(earliest):
        times.append(t)
        t -= step
    return times[::-1]


def open_member_rows(leads: pd.DataFrame, outcomes: pd.DataFrame | None, times: list[pd.Timestamp],
                     horizon_days: float) -> pd.DataFrame:
    """Per time, every lead open then (created before it, not closed at or before it), with
    ``label`` 1 when it became an SQL within the horizon after it: the members of that
    time's account rows."""
    created = to_us(leads["created_at"])
    sql, closed = closing_times(leads, outcomes)
    horizon = int(horizon_days * US_PER_DAY)
    ids = leads["lead_id"].astype(str).to_numpy(object)
    parts = []
    for t in times:
        us = instant_us(t)
        is_open = (created < us) & (closed > us)
        label = (sql[is_open] > us) & (sql[is_open] <= us + horizon)
        parts.append(pd.DataFrame({"lead_id": ids[is_open], "as_of": pd.Timestamp(t), "label": label.astype(np.int8)}))
    if not parts:
        return pd.DataFrame({"lead_id": pd.Series([], dtype=object), "as_of": pd.Series([], dtype="datetime64[us, UTC]"),
                             "label": pd.Series([], dtype=np.int8)})
    return pd.concat(parts, ignore_index=True)


def _subset(members: Members, rows: np.ndarray) -> tuple[pd.DataFrame, int]:
    """The members of the given account rows, renumbered 0..len(rows)-1."""
    new = np.full(members.n_rows, -1, np.int64)
    new[rows] = np.arange(len(rows))
    frame = members.frame[new[members.frame["row"].to_numpy(np.int64)] >= 0].copy()
    frame["row"] = new[frame["row"].to_numpy(np.int64)]
    return frame.reset_index(drop=True), len(rows)


def fit_accounts(dataset: Dataset, lead_model: ScoringModel, settings: Settings, horizon_days: int,
                 say: Any = lambda message: None) -> AccountTraining:
    """Fit and compare the account methods on ``dataset`` with the lead model as chosen
    (``lead_model``: fitted on the fitting period, calibrated on the validation period);
    see the module docstring. Raises ValueError when a period has no account row of
    either outcome."""
    t0 = time.perf_counter()
    cfg = settings.train
    as_of = dataset.as_of
    times = account_times(as_of, horizon_days, settings.snapshots.every_days, dataset.leads["created_at"].min())
    frame = pd.DataFrame({"as_of": pd.DatetimeIndex(times)})
    is_fit_time, is_val_time = split_by_time(frame, as_of, horizon_days, cfg.validation_days)
    # fitting rows every other time: an account's rows 14 days apart share most of their
    # 90-day horizon, so the second half adds little but cost
    fit_times = [t for t, f in zip(times, is_fit_time) if f][::-1][::FIT_TIME_STRIDE][::-1]
    val_times = [t for t, v in zip(times, is_val_time) if v]
    members_rows = open_member_rows(dataset.leads, dataset.outcomes, fit_times + val_times, horizon_days)
    per_time = members_rows.groupby("as_of").size()
    fit_rows = int(per_time.reindex(pd.DatetimeIndex(fit_times)).fillna(0).sum())
    if fit_rows > MAX_FIT_MEMBER_ROWS:  # thin the oldest account times, keeping the newest
        keep_every = int(np.ceil(fit_rows / MAX_FIT_MEMBER_ROWS))
        fit_times = fit_times[::-1][::keep_every][::-1]
        members_rows = members_rows[members_rows["as_of"].isin(pd.DatetimeIndex(fit_times + val_times))]
    say(f"scoring {len(members_rows):,} leads at {len(fit_times) + len(val_times)} account times")
    members = members_at(lead_model, dataset.leads, dataset.activities, members_rows.reset_index(drop=True))
    row = members.frame["row"].to_numpy(np.int64)
    y_rows = np.bincount(row, members.frame["label"].to_numpy(float), members.n_rows) > 0
    row_as_of = pd.DatetimeIndex(members.rows["as_of"])
    is_fit = np.asarray(row_as_of.isin(pd.DatetimeIndex(fit_times)))
    is_val = np.asarray(row_as_of.isin(pd.DatetimeIndex(val_times)))
    y = y_rows.astype(np.int8)
    for name, mask in (("fitting", is_fit), ("validation", is_val)):
        if not mask.any() or y[mask].min() == y[mask].max():
            raise ValueError(f"the {name} period has no account rows of both outcomes")
    fit_members, n_fit = _subset(members, np.flatnonzero(is_fit))
    val_members, n_val = _subset(members, np.flatnonzero(is_val))
    y_fit, y_val = y[is_fit], y[is_val]
    groups_val = members.rows["group"].to_numpy(object)[is_val]

    engaged_days = float(settings.features.committee_window_days)
    base_rate = float(np.clip(y_val.mean(), 1e-6, 1 - 1e-6))
    scale = ScoreScale(base_rate, settings.scoring.points_at_base_rate, settings.scoring.points_to_double_odds)
    threshold_config = ScoringConfig(**{**settings.scoring.model_dump(), "threshold_policy": ACCOUNT_THRESHOLD_POLICY})
    candidates: dict[str, AccountCandidate] = {}
    notes: list[str] = []
    for method in METHODS:
        say(f"fitting the account model '{method}'")
        model = AccountModel(method, engaged_days=engaged_days, recent_days=3 * engaged_days)
        try:
            model.fit(fit_members, n_fit, y_fit)
            raw = model.raw_log_odds(val_members, n_val)
            model.calibrate(raw, y_val)
        except ValueError as exc:
            notes.append(f"Account method {method} left out: {exc}")
            continue
        p = (model.proba(val_members, n_val) if method == "noisy_or"
             else cross_fitted_proba(raw, y_val.astype(float), groups_val))
        candidates[method] = AccountCandidate(method, model, raw, p)
    if not candidates:
        raise ValueError("no account method could be fitted: " + "; ".join(notes))
    for c in candidates.values():
        p = np.clip(c.p_validation, 1e-9, 1 - 1e-9)
        score = scale.score(logit(p))
        c.threshold = choose_threshold(p, y_val, groups_val, cfg.validation_days, threshold_config, scale)
        c.threshold.detail = "best F1 of the MQA flag against an SQL within the horizon, accounts as units"
        c.evaluation = evaluate_model(f"accounts: {c.name}", y_val, p, score,
                                      tiers_of(score, settings.scoring.tier_cutoffs), p >= c.threshold.probability,
                                      rank=c.model.log_odds(val_members, n_val))
    chosen, why = _choose(candidates)
    best = candidates[chosen]
    evidence = role_evidence(members, y, best.model)
    counts = {"account_times": len(fit_times) + len(val_times), "fit_rows": int(n_fit),
              "fit_positives": int(y_fit.sum()), "validation_rows": int(n_val),
              "validation_positives": int(y_val.sum()),
              "validation_accounts": int(pd.unique(groups_val).size), "member_rows": len(members.frame)}
    metadata = {
        "method": chosen,
        "chosen_because": why,
        "threshold": best.threshold.to_dict(), "validation_metrics": best.evaluation.metrics,
        "candidates": {n: {k: c.evaluation.metrics.get(k) for k in ("roc_auc", "pr_auc", "log_loss", "brier")}
                       for n, c in candidates.items()},
        "counts": counts, "every_days": float(settings.snapshots.every_days), "evidence": evidence,
        # the kept method's reliability on the validation period (cross-fitted), ten bins
        "validation_calibration": best.evaluation.calibration.to_dict("records"),
    }
    scoring = AccountScoring(best.model, scale, best.threshold.probability, metadata)
    return AccountTraining(scoring, chosen, candidates, counts, evidence, time.perf_counter() - t0, notes)


def _choose(candidates: dict[str, AccountCandidate]) -> tuple[str, str]:
    """The method kept and why: the lowest validation log loss among the methods whose
    score cannot fall when a lead joins the account (an engaged finance contact must never
    lower it); the others are compared, and kept only when no such method could be fitted."""
    def loss(name: str) -> float:
        return candidates[name].evaluation.metrics["log_loss"]

    safe = [n for n, c in candidates.items() if c.model.never_lower_when_a_lead_joins]
    chosen = min(safe or candidates, key=loss)
    why = ("lowest validation log loss among the account methods whose score cannot fall when a lead joins"
           if safe else "lowest validation log loss (no method that cannot fall when a lead joins could be fitted)")
    best = min(candidates, key=loss)
    if best != chosen:
        why += (f"; {best} had a lower one ({loss(best):.4f} against {loss(chosen):.4f}) but reads the leads' "
                "chances as scored, which a new colleague can lower")
    return chosen, why


def role_evidence(members: Members, y: np.ndarray, model: AccountModel) -> dict[str, Any]:
    """Per committee role, how often the accounts that produced an SQL had a lead in that
    role (at a row before their SQL) against the accounts that did not (at their last
    row), per organisation type (with at least :data:`MIN_EVIDENCE_ACCOUNTS` SQL accounts)
    and over all accounts. Counts and shares only."""
    states = model.states(members.frame, members.n_rows) > 0  # a lead in the role, whatever its state
    rows = members.rows.assign(y=np.asarray(y, int))
    group = rows["group"].to_numpy(object)
    positive = rows["y"].to_numpy(int) == 1
    sql_account = pd.Series(positive).groupby(group).transform("max").to_numpy(bool)
    # an SQL account: any of its positive rows; another: its last row
    pick = np.where(sql_account, positive, False)
    last = ~pd.Series(group).duplicated(keep="last").to_numpy()
    pick |= ~sql_account & last
    frame = pd.DataFrame(states[pick], columns=list(model.roles))
    frame["group"], frame["sql"] = group[pick], sql_account[pick]
    frame["org_type"] = rows["org_type"].to_numpy(object)[pick]
    per_account = frame.groupby("group").agg({**{r: "max" for r in model.roles}, "sql": "max", "org_type": "first"})

    def shares(part: pd.DataFrame, org: str | None) -> dict[str, Any]:
        sql, other = part[part["sql"]], part[~part["sql"]]
        return {"org_type": org, "sql_accounts": len(sql), "other_accounts": len(other),
                "roles": {r: {"sql_share": float(sql[r].mean()) if len(sql) else None,
                              "other_share": float(other[r].mean()) if len(other) else None} for r in model.roles}}

    by_org = {str(org): shares(part, str(org)) for org, part in per_account.groupby("org_type")
              if int(part["sql"].sum()) >= MIN_EVIDENCE_ACCOUNTS}
    return {"min_sql_accounts": MIN_EVIDENCE_ACCOUNTS, "all": shares(per_account, None), "by_org_type": by_org}
