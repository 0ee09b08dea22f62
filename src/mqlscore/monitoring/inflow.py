"""What arrives: new leads per week (all, per channel and org type), their realised SQL
rate, and the activity types and page categories per week.

Counts per week are compared between the training window and the recent weeks
as Poisson rates, with the exact interval of their ratio
(:func:`~mqlscore.monitoring.intervals.rate_ratio_interval`). A channel or org
type whose weekly new leads moved by ``monitor.volume_factor`` or more (interval
excluding no change) is worth watching, and dated by its most likely change
point (the week that best splits its weekly counts into two Poisson rates). The
mix of new leads by channel and org type gets a PSI like the model's features.

Activity volumes are reported per signal family of the model (activity type, or
page category for page views) and per raw activity type the model does not know.
A family that was there every other week and vanished, or a type that appeared,
is worth watching (a tracking change, or behaviour the model has never seen);
other volume changes are listed without weighing on the verdict, since what
they do to the model's inputs is measured by the PSI of those signals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mqlscore.features import FeatureBuilder
from mqlscore.features.registry import family_words
from mqlscore.monitoring.drift import psi
from mqlscore.monitoring.intervals import Interval, rate_ratio_interval, wilson_interval
from mqlscore.monitoring.windows import MonitorWindows, Window

MISSING_LEVEL = "(missing)"
INFLOW_FIELDS = ("lead_source", "org_type")


def _weeks(window: Window) -> float:
    return window.days / 7.0


@dataclass
class VolumeChange:
    """Weekly counts of one thing (new leads of a channel, an activity type) then and now."""

    kind: str  # new_leads, activity
    field: str  # lead_source, org_type, all, family, activity_type
    name: str
    per_week_then: float
    per_week_now: float
    ratio: Interval
    level: str = "stable"  # stable, info, watch
    change: str = ""  # changed, appeared, vanished
    since: str | None = None  # the most likely change point (a week's Monday)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"kind": self.kind, "field": self.field, "name": self.name, "level": self.level,
                "change": self.change, "per_week_training": round(self.per_week_then, 4),
                "per_week_recent": round(self.per_week_now, 4), "ratio": self.ratio.to_dict(),
                "since": self.since}


def _factor_words(ratio: float) -> str:
    words = {2: "doubled", 3: "tripled", 4: "quadrupled"}
    if ratio >= 1:
        near = round(ratio)
        return words[near] if near in words and abs(ratio - near) < 0.25 else f"rose {ratio:.1f}-fold"
    if abs(ratio - 0.5) < 0.07:
        return "halved"
    return f"fell to {ratio:.0%} of what it was"


def volume_sentence(v: VolumeChange, weeks_recent: float) -> str:
    """A volume change in words."""
    since = f" since {v.since}" if v.since else ""
    numbers = (f"{v.per_week_now:.1f} a week in the last {weeks_recent:.0f} weeks against {v.per_week_then:.1f} "
               f"in the training window")
    if v.kind == "new_leads":
        who = "New leads" if v.field == "all" else (
            f"Leads from {v.name}" if v.field == "lead_source" else f"Leads of org type {v.name}")
        return f"{who} {_factor_words(v.ratio.value)}{since} ({numbers})"
    label = family_words(v.name)[1] if v.field == "family" else f"'{v.name}' activities"
    if v.change == "vanished":
        return f"{label[0].upper()}{label[1:]} vanished: none in the last {weeks_recent:.0f} weeks against " \
               f"{v.per_week_then:.1f} a week in the training window (a tracking change?)"
    if v.change == "appeared":
        return (f"A new activity type appeared: {label} ({v.per_week_now:.1f} a week in the last "
                f"{weeks_recent:.0f} weeks, none in the training window); the model counts it as other activity")
    return f"{label[0].upper()}{label[1:]} {_factor_words(v.ratio.value)} ({numbers})"


def change_point(times: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> str | None:
    """The Monday of the week that best splits the weekly counts of ``times`` between
    ``start`` and ``end`` into two Poisson rates (likelihood ratio), or None."""
    t = pd.DatetimeIndex(times)
    t = t[(t >= start) & (t < end)]
    first = (start.tz_convert("UTC").normalize() - pd.Timedelta(days=start.weekday()))
    n_weeks = int(math.ceil((end - first) / pd.Timedelta(days=7)))
    if n_weeks < 4 or not len(t):
        return None
    counts = np.bincount(((t - first) // pd.Timedelta(days=7)).astype(np.int64), minlength=n_weeks)[:n_weeks]
    cum = np.cumsum(counts)
    total = cum[-1]
    best, best_k = -np.inf, None
    for k in range(2, n_weeks - 1):  # at least two weeks each side
        a, b = cum[k - 1], total - cum[k - 1]
        ll = sum(x * math.log(x / w) for x, w in ((a, k), (b, n_weeks - k)) if x > 0)
        if ll > best:
            best, best_k = ll, k
    return None if best_k is None else f"{first + pd.Timedelta(days=7 * best_k):%Y-%m-%d}"


@dataclass
class Inflow:
    """New leads and activities per week, then and now."""

    new_leads: list[VolumeChange]
    mix_psi: dict[str, float]  # per field: PSI of the new leads' mix then and now
    activities: list[VolumeChange]
    sql_rate_then: Interval  # realised SQL rate (within the horizon) of leads created in the training window
    sql_rate_now: Interval  # ... of leads created after the model's data, whose horizon has completed
    sql_rate_leads: tuple[int, int]  # leads behind each
    weekly: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)  # week_from, new_leads, sql_rate

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"new_leads": [v.to_dict() for v in self.new_leads],
                "mix_psi": {k: round(v, 6) for k, v in self.mix_psi.items()},
                "activities": [v.to_dict() for v in self.activities],
                "new_lead_sql_rate": {"training": self.sql_rate_then.to_dict(), "realised":
                                      self.sql_rate_now.to_dict(), "leads": list(self.sql_rate_leads)},
                "weekly": [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                            for k, v in row.items()} for row in self.weekly.to_dict("records")]}


def _compare(kind: str, field_: str, name: str, then: int, now: int, windows: MonitorWindows, *, factor: float,
             min_weekly: float, confidence: float) -> VolumeChange:
    w_then, w_now = _weeks(windows.reference), _weeks(windows.recent)
    ratio = rate_ratio_interval(now, w_now, then, w_then, confidence)
    v = VolumeChange(kind, field_, name, then / w_then if w_then else float("nan"),
                     now / w_now if w_now else float("nan"), ratio)
    if max(v.per_week_then, v.per_week_now) < min_weekly or not ratio.defined:
        return v
    if (ratio.value >= factor and ratio.low > 1) or (ratio.value <= 1 / factor and ratio.high < 1):
        v.level, v.change = "watch", "changed"
    return v


def _levels(leads: pd.DataFrame, column: str) -> pd.Series:
    return leads[column].astype("string").fillna(MISSING_LEVEL) if column in leads else \
        pd.Series(MISSING_LEVEL, index=leads.index)


def inflow(leads: pd.DataFrame, activities: pd.DataFrame, outcomes: pd.DataFrame, builder: FeatureBuilder,
           windows: MonitorWindows, *, factor: float, min_weekly: float, confidence: float) -> Inflow:
    """Compare new leads and activities per week between the training window and the
    recent weeks (see the module docstring)."""
    ref, recent = windows.reference, windows.recent
    created = pd.DatetimeIndex(leads["created_at"])
    in_then = ref.mask(created) & (created < ref.end)
    in_now = recent.mask(created)
    new_leads = [_compare("new_leads", "all", "all", int(in_then.sum()), int(in_now.sum()), windows,
                          factor=factor, min_weekly=min_weekly, confidence=confidence)]
    mix_psi = {}
    history_start = created.min() if len(created) else ref.start
    for column in INFLOW_FIELDS:
        levels = _levels(leads, column)
        then_counts = levels[in_then].value_counts()
        now_counts = levels[in_now].value_counts()
        names = sorted(set(then_counts.index) | set(now_counts.index))
        if names:
            mix_psi[column] = psi(then_counts.reindex(names, fill_value=0).to_numpy(),
                                  now_counts.reindex(names, fill_value=0).to_numpy())
        for name in names:
            v = _compare("new_leads", column, str(name), int(then_counts.get(name, 0)), int(now_counts.get(name, 0)),
                         windows, factor=factor, min_weekly=min_weekly, confidence=confidence)
            if v.level != "stable":
                v.since = change_point(leads.loc[(levels == name).to_numpy(), "created_at"], history_start,
                                       windows.export_as_of)
            new_leads.append(v)
    if new_leads[0].level != "stable":
        new_leads[0].since = change_point(leads["created_at"], history_start, windows.export_as_of)

    acts = _activity_volumes(activities, builder, windows, factor=factor, min_weekly=min_weekly,
                             confidence=confidence)
    rate_then, rate_now, n_then, n_now, weekly = _new_lead_sql_rate(leads, outcomes, windows, confidence)
    return Inflow(new_leads, mix_psi, acts, rate_then, rate_now, (n_then, n_now), weekly)


def _activity_volumes(activities: pd.DataFrame, builder: FeatureBuilder, windows: MonitorWindows, *, factor: float,
                      min_weekly: float, confidence: float) -> list[VolumeChange]:
    if not len(activities) or not builder.families_:
        return []
    ref, recent = windows.reference, windows.recent
    when = pd.DatetimeIndex(activities["occurred_at"])
    in_then = ref.mask(when) & (when < ref.end)
    in_now = recent.mask(when)
    chosen = in_then | in_now
    acts = activities[chosen]
    then_flag = in_then[chosen]
    family = np.asarray(builder.families_, dtype=object)[builder.family_codes(acts)]
    out = []
    w_then = _weeks(ref)
    ref_weeks = np.floor(((when[in_then] - ref.start) / pd.Timedelta(days=7))).astype(np.int64)
    family_then_weeks = pd.Series(ref_weeks).groupby(family[then_flag]).nunique() if then_flag.any() else pd.Series()
    for name in builder.families_:
        hit = family == name
        then, now = int((hit & then_flag).sum()), int((hit & ~then_flag).sum())
        v = _compare("activity", "family", name, then, now, windows, factor=factor, min_weekly=min_weekly,
                     confidence=confidence)
        if v.level == "watch":
            v.level = "info"  # what it does to the model's inputs is the signal's PSI
        steady = family_then_weeks.get(name, 0) >= max(2, math.ceil(w_then / 2))
        if now == 0 and v.per_week_then >= min_weekly and steady:
            v.level, v.change = "watch", "vanished"
        out.append(v)
    # raw activity types the model has no family for (they count as act:other)
    known = {f.removeprefix("act:") for f in builder.families_ if f.startswith("act:")} | {"page_view"}
    types = acts["activity_type"].astype(str)
    for name in sorted(set(types[~then_flag]) - known):
        then, now = int(((types == name) & then_flag).sum()), int(((types == name) & ~then_flag).sum())
        v = _compare("activity", "activity_type", name, then, now, windows, factor=factor, min_weekly=min_weekly,
                     confidence=confidence)
        if then == 0 and v.per_week_now >= min_weekly:
            v.level, v.change = "watch", "appeared"
        elif v.level == "watch":
            v.level = "info"
        out.append(v)
    return out


def _new_lead_sql_rate(leads: pd.DataFrame, outcomes: pd.DataFrame, windows: MonitorWindows, confidence: float
                       ) -> tuple[Interval, Interval, int, int, pd.DataFrame]:
    """Share of new leads that became an SQL within the horizon of their creation: for leads
    created in the training window, for those created after the model's data whose horizon
    has completed, and per week of creation (missing where the horizon has not completed)."""
    created = pd.DatetimeIndex(leads["created_at"])
    sql_at = pd.Series(pd.NaT, index=leads.index, dtype=created.dtype)
    if len(outcomes) and "sql_at" in outcomes:
        first = outcomes.dropna(subset=["sql_at"]).groupby("lead_id")["sql_at"].min()
        sql_at = leads["lead_id"].map(first)
    horizon = pd.Timedelta(days=windows.horizon_days)
    became = np.asarray((pd.DatetimeIndex(sql_at) > created) & (pd.DatetimeIndex(sql_at) <= created + horizon))
    complete = np.asarray(created + horizon <= windows.export_as_of)
    ref = windows.reference
    then = np.asarray((created >= ref.start) & (created < ref.end))
    now = np.asarray(created > windows.model_as_of) & complete
    rate_then = wilson_interval(int(became[then].sum()), int(then.sum()), confidence)
    rate_now = wilson_interval(int(became[now].sum()), int(now.sum()), confidence)
    start = ref.start
    weeks = np.floor(((created - start) / pd.Timedelta(days=7))).astype(np.int64)
    recent_or_ref = np.asarray(created >= start)
    frame = pd.DataFrame({"week": np.asarray(weeks)[recent_or_ref], "became": became[recent_or_ref],
                          "complete": complete[recent_or_ref]})
    rows = []
    for week, group in frame.groupby("week", sort=True):
        monday = start + pd.Timedelta(days=7 * int(week))
        full = bool(group["complete"].all())
        rows.append({"week_from": f"{monday:%Y-%m-%d}", "new_leads": int(len(group)),
                     "sql_rate": float(group["became"].mean()) if full else float("nan")})
    weekly = pd.DataFrame(rows, columns=["week_from", "new_leads", "sql_rate"])
    return rate_then, rate_now, int(then.sum()), int(now.sum()), weekly
