"""Did a signal change what it says? Realised SQLs against the model's expectation, per signal.

Drift of the inputs (``drift.py``) cannot see a signal that stops predicting:
leads still attend webinars as often as before, they just no longer convert
because of it. Where outcomes are known, each signal is checked on the rows that
show it:

* an intent or account signal family: snapshots where the lead did it within
  ``monitor.signal_active_days`` before (its ``days_since`` feature);
* a categorical fit field: each of its levels (e.g. ``org_type = payer``).

For those rows the **observed-to-expected ratio** is the SQLs that happened over
the sum of the model's probabilities, divided by the same ratio over the other
rows of the window (so a general shift of the base rate, which calibration in
the large shows, is not blamed on every signal; and a level holding a large
share of the rows, whose change moves the whole window, is still compared with
the rest). In the training window a fitted model has
a ratio near 1 everywhere; the check compares the realised window's ratio with
the training window's: ``change = ratio now / ratio then``. A signal that stopped
predicting has ``change`` well below 1 (its leads convert less than the model,
which still counts the signal, expects).

Many signals and levels are checked at once, so the intervals are adjusted for
their number (Bonferroni): with ``m`` segments judged and a family-wide level
``monitor.signal_confidence`` (95 %), each interval is
``exp(log change +- z * se)`` with ``z`` the normal quantile of
``1 - (1 - level) / (2 m)`` and ``se`` the spread of ``log change`` over the
bootstrap resamples of buying groups (the same draw in both windows, since a
lead can have snapshots in both; the spread is half the distance between the
16th and 84th percentiles, which a few extreme resamples do not inflate). A
segment is judged only when at least ``monitor.min_signal_sql_leads`` distinct
leads among its snapshots became SQLs in the training window, and in the realised
window became SQLs or were expected to by the model (the sum over its leads of their
highest probability: a lower bound of the expected number of SQL leads). Counting only the SQLs that happened would leave
unjudged exactly the signal that stopped predicting: its leads stop converting,
and a webinar attendance whose weight turned negative had 29 SQL leads where the
model expected 50 (6,000 leads). Without the adjustment, 2 to
4 levels of fit fields (a persona, an EHR vendor, a lead source) looked changed
in generated worlds where nothing changed (6,000 and 20,000 leads).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mqlscore.explain import signal_label
from mqlscore.features.registry import FeatureSpec
from mqlscore.monitoring.intervals import GroupBootstrap, Interval

LEVELS_SKIPPED = ("other", "unknown")  # catch-all levels: what they hold changes with the vocabulary


@dataclass
class Segment:
    """Rows that show one signal (or one level of a fit field)."""

    signal: str
    level: str | None  # the fit field's level; None for an active intent or account signal
    mask: np.ndarray  # over all scored rows

    def label(self) -> str:
        """The segment in words."""
        base = signal_label(self.signal)
        return f"{base}: {self.level}" if self.level is not None else base


def segments(X: pd.DataFrame, specs: list[FeatureSpec], active_days: int) -> list[Segment]:
    """The rows showing each intent or account signal (its ``days_since`` feature at most
    ``active_days``; for the buying committee and colleagues' engagement, a count above
    0) and each level of each categorical fit field."""
    out = []
    for spec in specs:
        column = X[spec.name]
        if spec.group in ("intent", "account") and spec.name.endswith("__days_since") and spec.signal != "recency":
            out.append(Segment(spec.signal, None, np.asarray(column.to_numpy(float) <= active_days)))
        elif spec.group == "account" and spec.name in ("account__committee_roles_active", "account__engaged_leads"):
            out.append(Segment(spec.signal, None, np.asarray(column.to_numpy(float) > 0)))
        elif spec.group == "fit" and spec.kind == "categorical" and isinstance(column.dtype, pd.CategoricalDtype):
            codes = np.asarray(column.cat.codes)
            for code, level in enumerate(column.cat.categories):
                if str(level) not in LEVELS_SKIPPED:
                    out.append(Segment(spec.signal, str(level), codes == code))
    return out


def _lower_first(text: str) -> str:
    """'Requested a demo' -> 'requested a demo'; an acronym ('EHR vendor') is kept."""
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


def adjusted_z(confidence: float, m: int) -> float:
    """The two-sided normal quantile of a family-wide ``confidence`` over ``m`` intervals (Bonferroni)."""
    from scipy.stats import norm

    return float(norm.ppf(1 - (1 - confidence) / (2 * max(m, 1))))


def log_normal_interval(value: float, draws: np.ndarray, z: float) -> Interval:
    """``value`` with ``exp(log value +- z * se)``, ``se`` the robust spread of the log of the
    bootstrap ``draws`` (half the 16th-84th percentile distance); NaN when undefined."""
    draws = np.asarray(draws, dtype=float)
    ok = draws[np.isfinite(draws) & (draws > 0)]
    if not (math.isfinite(value) and value > 0) or len(ok) < max(2, len(draws) // 2):
        return Interval(float(value), float("nan"), float("nan"))
    low, high = np.quantile(np.log(ok), [0.15865, 0.84135])
    se = (high - low) / 2
    centre = math.log(value)
    return Interval(float(value), math.exp(centre - z * se), math.exp(centre + z * se))


def _expected_sql_leads(p: np.ndarray, leads: np.ndarray, rows: np.ndarray) -> float:
    """The SQL leads the model expects among ``rows`` (a mask): the sum over their leads of
    each lead's highest probability, a lower bound (a lead converts if any of its snapshots
    does)."""
    if not rows.any():
        return 0.0
    return float(pd.Series(p[rows]).groupby(leads[rows]).max().sum())


@dataclass
class SignalCheck:
    """One segment's observed-to-expected ratio in both windows and its change."""

    signal: str
    label: str
    level: str | None
    rows_then: int
    sqls_then: int  # SQL snapshots
    sql_leads_then: int  # distinct leads behind them (a lead that became an SQL has several)
    rows_now: int
    sqls_now: int
    sql_leads_now: int
    ratio_then: float
    ratio_now: float
    change: Interval
    status: str = "stable"  # stable, retrain, or "too few SQLs"
    # SQL leads the model expected (sum over leads of their highest probability), per window
    expected_sql_leads_then: float = float("nan")
    expected_sql_leads_now: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        def num(v: float) -> float | None:
            return round(float(v), 6) if math.isfinite(v) else None

        return {"signal": self.signal, "label": self.label, "level": self.level, "status": self.status,
                "training": {"snapshots": self.rows_then, "sql_snapshots": self.sqls_then,
                             "sql_leads": self.sql_leads_then,
                             "expected_sql_leads": num(self.expected_sql_leads_then),
                             "observed_to_expected": num(self.ratio_then)},
                "realised": {"snapshots": self.rows_now, "sql_snapshots": self.sqls_now,
                             "sql_leads": self.sql_leads_now,
                             "expected_sql_leads": num(self.expected_sql_leads_now),
                             "observed_to_expected": num(self.ratio_now)},
                "change": self.change.to_dict()}

    def sentence(self, active_days: int, confidence: float) -> str:
        """The change in words."""
        c = self.change
        direction = "less" if c.value < 1 else "more"
        ci = f"{confidence:.0%} family-wide CI {c.low:.2f}-{c.high:.2f}"
        if self.level is None:
            who = f"leads who {_lower_first(self.label)} within {active_days} days before a snapshot"
            head = f"{self.label} (signal {self.signal}) predicts {direction} than it did"
        else:
            who = f"leads with {_lower_first(self.label)}"
            head = f"{self.label} (fit field {self.signal}) converts {direction} than the model expects"
        return (f"{head}: {who} became SQLs {self.ratio_now:.2f} times as often as the model expected, against "
                f"{self.ratio_then:.2f} in the training window (change x{c.value:.2f}, {ci}; "
                f"{self.sql_leads_now:,} leads became SQLs)")


def signal_checks(y: np.ndarray, p: np.ndarray, leads: np.ndarray, then_rows: np.ndarray, now_rows: np.ndarray,
                  segs: list[Segment], boot: GroupBootstrap, *, factor: float, confidence: float,
                  min_sql_leads: int) -> list[SignalCheck]:
    """Check every segment between the training window (``then_rows``) and the realised
    window (``now_rows``): ``retrain`` when the change of its observed-to-expected ratio
    is at least ``factor`` either way and its interval excludes no change. ``leads`` is a
    lead code per row. A segment with fewer than ``min_sql_leads`` distinct SQL leads in
    the training window, or in the realised window both realised and expected by the model
    (the sum over its leads of their highest probability), is reported, not judged (its snapshots are a handful of leads
    seen many times). The expected count keeps a signal whose leads stopped converting
    judged: its realised SQL leads fall because of the very change to be found."""
    y = np.asarray(y, float)
    p = np.asarray(p, float)
    leads = np.asarray(leads)
    n = len(y)
    in_then = np.zeros(n, bool)
    in_then[then_rows] = True
    in_now = np.zeros(n, bool)
    in_now[now_rows] = True
    if not len(segs):
        return []

    def sums(window: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        # per buying group: observed and expected of every segment, and of the whole window
        obs = np.column_stack([boot.group_sums(y, window & s.mask) for s in segs])
        exp = np.column_stack([boot.group_sums(p, window & s.mask) for s in segs])
        return obs, exp, boot.group_sums(y, window), boot.group_sums(p, window)

    o_then, e_then, ot_then, et_then = sums(in_then)
    o_now, e_now, ot_now, et_now = sums(in_now)

    def ratio(o: np.ndarray, e: np.ndarray, ot: np.ndarray, et: np.ndarray) -> np.ndarray:
        # the segment's observed-to-expected over that of the window's other rows
        with np.errstate(invalid="ignore", divide="ignore"):
            return (o / e) / ((ot[..., None] - o) / (et[..., None] - e))

    point_then = ratio(o_then.sum(0), e_then.sum(0), ot_then.sum(), et_then.sum())
    point_now = ratio(o_now.sum(0), e_now.sum(0), ot_now.sum(), et_now.sum())
    boot_then = ratio(boot.resampled(o_then), boot.resampled(e_then), boot.resampled(ot_then),
                      boot.resampled(et_then))
    boot_now = ratio(boot.resampled(o_now), boot.resampled(e_now), boot.resampled(ot_now), boot.resampled(et_now))
    with np.errstate(invalid="ignore", divide="ignore"):
        change_boot = boot_now / boot_then
    leads_then = [int(pd.unique(leads[in_then & seg.mask & (y == 1)]).size) for seg in segs]
    leads_now = [int(pd.unique(leads[in_now & seg.mask & (y == 1)]).size) for seg in segs]
    expected_then = [_expected_sql_leads(p, leads, in_then & seg.mask) for seg in segs]
    expected_now = [_expected_sql_leads(p, leads, in_now & seg.mask) for seg in segs]
    # the training window counts SQLs that happened: judged on what the model expected there, a
    # segment with few SQLs by chance gets a low training ratio and a change that is only noise
    # (an org type x2.98 in a world where another one changed, 6,000 leads)
    judged = [min(a, max(b, eb)) >= min_sql_leads for a, b, eb in zip(leads_then, leads_now, expected_now)]
    z = adjusted_z(confidence, max(sum(judged), 1))
    out = []
    for j, seg in enumerate(segs):
        rows_then, rows_now = int((in_then & seg.mask).sum()), int((in_now & seg.mask).sum())
        sqls_then, sqls_now = int(o_then[:, j].sum()), int(o_now[:, j].sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            change_value = float(point_now[j] / point_then[j])
        change = log_normal_interval(change_value, change_boot[:, j], z)
        status = "stable"
        if not judged[j]:
            status = "too few SQLs"
        elif change.defined and (change.high < 1 or change.low > 1) and \
                (change.value <= 1 / factor or change.value >= factor):
            status = "retrain"
        out.append(SignalCheck(seg.signal, seg.label(), seg.level, rows_then, sqls_then, leads_then[j], rows_now,
                               sqls_now, leads_now[j], float(point_then[j]), float(point_now[j]), change, status,
                               expected_then[j], expected_now[j]))
    return sorted(out, key=lambda c: (c.status != "retrain", -abs(math.log(c.change.value))
                                      if c.change.value and math.isfinite(c.change.value) and c.change.value > 0
                                      else 0.0))
