"""The leak guard: extra lead columns that look like they know the outcome.

CRM exports hold fields that sales fills in after qualification (status, stage,
tags, lead quality, disposition, last activity, close reasons) and sometimes the
outcome itself. A model trained on them is near perfect on paper and useless on
new leads, whose fields are still empty. Before any model is fitted,
:class:`LeakGuard` measures every candidate column (the extra lead columns the
feature builder would use, and the excluded ones, to show why they were), on
the fitting period only (validation stays untouched):

(a) **separation**: its single-column ROC-AUC against the snapshot labels.
    Categories are encoded by their SQL rate computed out of fold (five folds
    by lead, so that a lead's own label never scores it) with missing as a level
    of its own; numbers are ranked, missing placed at whichever end separates
    better. Reported as max(AUC, 1 - AUC).
(b) **near-pure values**: a value (or being missing) held by at least
    ``min_leads`` leads of the fitting period of which at least ``pure_rate``
    became SQL, or fewer than ``1 - pure_rate`` of the SQLs its share of leads
    would give at the base rate; and **equal to the outcome**: some of its
    values (or its being filled) pick out the leads that became SQL with
    precision and recall of at least ``equal_share``. The column's values are
    the ones exported, so they are compared with the outcome known at export.
(c) **filled after the outcome**: among the leads of the fitting period, the
    share that has a value among leads closed (SQL or disqualified) by the
    export time against those still open, and the total variation distance
    between their value distributions.
(d) **its name** reads like an outcome or a sales disposition
    (:data:`LEAKY_TERMS`; case, spaces, ``_`` and ``-`` ignored).

Strong evidence stops training (:class:`LeakingColumns`, naming each column and
its evidence); weaker evidence is a warning. A column kept deliberately
(``--allow-column``, ``features.allow_columns``) is trained on and its evidence
still reported. Thresholds and why they were chosen: :class:`LeakThresholds`
and ``docs/training.md``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from mqlscore.config import FeatureConfig
from mqlscore.features import fit as fitf
from mqlscore.features.events import instant_us
from mqlscore.features.snapshots import NEVER, closing_times

Level = Literal["stop", "warn", "none"]
Decision = Literal["stopped", "warned", "allowed", "excluded", "kept"]

# Words and phrases of outcomes and sales dispositions, matched against a column
# name's words (case, spaces, "_", "-" and camelCase ignored).
LEAKY_TERMS: tuple[str, ...] = (
    "status", "stage", "disposition", "tag", "tags", "lead quality", "last activity", "last notable activity",
    "won", "win", "lost", "closed", "close", "closing", "converted", "conversion", "convert", "sql", "mql",
    "qualified", "disqualified", "unqualified", "qualification", "reason", "reasons", "outcome", "outcomes",
    "deal", "deals", "opportunity", "opportunities", "pipeline", "lifecycle", "rating", "sdr", "sales rep",
    "sales owner", "assigned to", "churn", "churned", "booked", "signed",
)
# Compound words that end in these are read as the term too ("LeadStatus", "dealstage").
_SUFFIX_TERMS = ("status", "stage", "reason", "outcome", "disposition")
MISSING = "(missing)"
RARE = "(rare values)"
ANY_VALUE = "(any value)"


@dataclass(frozen=True)
class LeakThresholds:
    """When evidence counts, and how strong it is.

    Chosen so that the demo data (``mqlscore generate``, whose one extra column,
    ``product_interest``, is a genuine pre-outcome field) raises nothing, while
    an outcome column, a post-qualification disposition and Olist's closed-deal
    columns stop training; the figures are in ``docs/training.md``.
    """

    stop_auc: float = 0.95  # one column alone ranking the labels this well is not a lead fact
    warn_auc: float = 0.80  # good lead scores reach about 0.85 with every column together
    min_leads: int = 20  # a value must be held by this many leads (of the fitting period) to count
    pure_rate: float = 0.95  # near-pure: >= 95 % SQL, or < 5 % of the SQLs the base rate would give
    min_expected_sqls: float = 10.0  # a near-zero value must be expected to hold this many SQLs
    equal_share: float = 0.98  # precision and recall of "equals the outcome"
    min_sqls: int = 30  # SQL leads needed before anything is compared with the outcome
    warn_gap: float = 0.5  # filled (or valued) differently for closed and open leads by this much
    stop_gap: float = 0.8  # ... by this much, and the name reads like a disposition: stop
    only_closed_ratio: float = 20.0  # filled this many times more often for closed leads than open ones: stop
    min_open_leads: int = 100  # ... when at least this many open leads had the chance to be filled
    folds: int = 5
    smoothing: float = 10.0  # pseudo-rows of the base rate added to each value's out-of-fold SQL rate
    max_rows: int = 300_000  # the separation is measured on a sample of at most this many snapshots


def shown(value: str) -> str:
    """A column's value as the guard prints it: quoted, at most 40 characters, and
    never an e-mail address (a value held by many leads is no one's personal data,
    but a rep's address in an owner field would be)."""
    if "@" in value:
        return "(an e-mail address)"
    return f"'{value[:37]}...'" if len(value) > 40 else f"'{value}'"


@dataclass(frozen=True)
class PureValue:
    """A value (or being missing) whose leads nearly all, or almost never, became SQL."""

    value: str
    leads: int
    sql_rate: float
    expected_rate: float

    def describe(self) -> str:
        """One phrase, e.g. ``"'closed won': 212 leads, 100% SQL"``."""
        what = {MISSING: "missing", ANY_VALUE: "any value"}.get(self.value, shown(self.value))
        return f"{what}: {self.leads:,} leads, {self.sql_rate:.0%} SQL"


@dataclass(frozen=True)
class ColumnEvidence:
    """What the guard measured on one column, how strong it is and what was decided."""

    column: str
    kind: str  # numeric or categorical
    auc: float | None = None
    pure_values: tuple[PureValue, ...] = ()
    equals_outcome: str | None = None  # which values pick out the SQL leads, when they do
    equals_precision: float | None = None
    equals_recall: float | None = None
    filled_closed: float | None = None
    filled_open: float | None = None
    value_shift: float | None = None
    name_terms: tuple[str, ...] = ()
    level: Level = "none"
    decision: Decision = "kept"
    evidence: tuple[str, ...] = ()

    @property
    def flagged(self) -> bool:
        """Whether any evidence was found."""
        return self.level != "none"

    def describe(self) -> str:
        """The column and its evidence in words."""
        return f"'{self.column}': " + "; ".join(self.evidence) if self.evidence else f"'{self.column}': no evidence"


@dataclass(frozen=True)
class LeakReport:
    """The guard's findings on every candidate column, and notes on the settings."""

    columns: tuple[ColumnEvidence, ...] = ()
    notes: tuple[str, ...] = ()
    fit_rows: int = 0
    fit_leads: int = 0

    @property
    def checked(self) -> int:
        """How many columns were measured."""
        return len(self.columns)

    def with_decision(self, decision: str) -> list[ColumnEvidence]:
        """The columns with one decision (``stopped``, ``warned``, ``allowed``, ``excluded``, ``kept``)."""
        return [c for c in self.columns if c.decision == decision]

    @property
    def reported(self) -> list[ColumnEvidence]:
        """The columns worth a line in the report: flagged, allowed or excluded."""
        return [c for c in self.columns if c.flagged or c.decision in ("allowed", "excluded")]

    def warnings(self) -> list[str]:
        """One line per warned or deliberately allowed flagged column, and each note."""
        lines = [f"Column {c.describe()} (warning: check it is known before qualification)"
                 for c in self.with_decision("warned")]
        lines += [f"Column {c.describe()} (kept: allowed deliberately)"
                  for c in self.with_decision("allowed") if c.flagged]
        return lines + list(self.notes)


class LeakingColumns(ValueError):
    """Training stopped: columns look like they know the outcome; the message names them."""

    def __init__(self, report: LeakReport) -> None:
        self.report = report
        stopped = report.with_decision("stopped")
        lines = [f"Training stopped: {len(stopped)} column(s) look like they know the outcome "
                 "(filled or decided after qualification):"]
        lines += [f"- {c.describe()}" for c in stopped]
        names = " ".join(f"--allow-column '{c.column}'" for c in stopped)
        lines.append("Remove them from the export, list them in features.exclude_columns, or, if they are really "
                     f"known before qualification, keep them deliberately with {names} (features.allow_columns).")
        lines += list(report.notes)  # a misspelt exclude or allow name is often why a column is here
        super().__init__("\n".join(lines))


# --------------------------------------------------------------------------- names


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(name))
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def leaky_name_terms(name: str) -> tuple[str, ...]:
    """The outcome or disposition terms (:data:`LEAKY_TERMS`) a column name reads like."""
    words = _words(name)
    found = []
    for term in LEAKY_TERMS:
        parts = term.split()
        n = len(parts)
        hit = any(words[i:i + n] == parts for i in range(len(words) - n + 1))
        if not hit and n > 1:
            hit = "".join(parts) in words  # "leadquality", "lastactivity"
        if not hit and term in _SUFFIX_TERMS:
            hit = any(w.endswith(term) and len(w) > len(term) for w in words)  # "leadstatus"
        if hit:
            found.append(term)
    # a phrase found whole is named once: "lead quality", not also a word of it
    return tuple(t for t in found if not any(t != o and f" {t} " in f" {o} " for o in found))


# --------------------------------------------------------------------------- measures


def single_column_auc(values: pd.Series, y: np.ndarray, kind: str, groups: np.ndarray | None = None, *,
                      folds: int = 5, smoothing: float = 10.0, seed: int = 0) -> float | None:
    """How well one column alone separates ``y``: max(AUC, 1 - AUC), or None when
    ``y`` has a single class. Categories (``kind`` "categorical") are scored by
    their SQL rate computed out of fold, folds drawn by ``groups`` (a lead's rows
    stay together), missing as a level of its own; numbers by rank, missing at
    whichever end separates better."""
    y = np.asarray(y, dtype=float)
    if len(y) == 0 or y.min() == y.max():
        return None
    if kind == "numeric":
        x = np.asarray(values, dtype=float)
        missing = np.isnan(x)
        if missing.all():
            return 0.5
        low, high = np.nanmin(x) - 1.0, np.nanmax(x) + 1.0
        best = 0.5
        for fill in (low, high):
            auc = _auc(np.where(missing, fill, x), y)
            best = max(best, auc, 1.0 - auc)
        return float(best)
    codes = _level_codes(values)
    score = out_of_fold_rate(codes, y, groups, folds=folds, smoothing=smoothing, seed=seed)
    auc = _auc(score, y)
    return float(max(auc, 1.0 - auc))


def out_of_fold_rate(codes: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None, *, folds: int = 5,
                     smoothing: float = 10.0, seed: int = 0) -> np.ndarray:
    """Each row's level's mean of ``y`` computed on the other folds, shrunk
    towards their mean by ``smoothing`` pseudo-rows (folds drawn by ``groups``)."""
    y = np.asarray(y, dtype=float)
    codes = np.asarray(codes, dtype=np.int64)
    group_codes = pd.factorize(groups)[0] if groups is not None else np.arange(len(y))
    n_groups = int(group_codes.max(initial=-1)) + 1
    fold_of_group = np.random.default_rng(seed).permutation(n_groups) % folds
    fold = fold_of_group[group_codes]
    n_levels = int(codes.max(initial=-1)) + 1
    out = np.empty(len(y))
    for k in range(folds):
        test = fold == k
        train = ~test
        if not test.any():
            continue
        prior = y[train].mean() if train.any() else y.mean()
        sums = np.bincount(codes[train], weights=y[train], minlength=n_levels)
        counts = np.bincount(codes[train], minlength=n_levels)
        rate = (sums + smoothing * prior) / (counts + smoothing)
        out[test] = rate[codes[test]]
    return out


def _auc(score: np.ndarray, y: np.ndarray) -> float:
    """ROC-AUC by ranks (ties share their rank: a constant score gives 0.5)."""
    ranks = pd.Series(score).rank(method="average").to_numpy()
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return 0.5
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _level_codes(values: pd.Series) -> np.ndarray:
    text = pd.Series(values, dtype=object).where(pd.Series(values).notna(), MISSING)
    return pd.factorize(text.to_numpy(dtype=object))[0]


def lead_levels(values: pd.Series, kind: str, min_leads: int) -> pd.Series:
    """One value per lead as a level: the text of a category or a number (numbers
    with more than 20 distinct values in ten quantile bins), ``(missing)``, and
    values held by fewer than ``min_leads`` leads pooled as ``(rare values)``."""
    if kind == "numeric":
        x = pd.Series(np.asarray(values, dtype=float), index=values.index)
        if x.nunique() > 20:
            bins = pd.qcut(x, 10, duplicates="drop")
            text = bins.astype(str).where(x.notna(), MISSING)
        else:
            text = x.map(lambda v: f"{v:g}").where(x.notna(), MISSING)
    else:
        text = pd.Series(values, index=values.index, dtype=object).where(pd.Series(values).notna(), MISSING)
    text = text.astype(object)
    counts = text.value_counts()
    rare = text.map(counts) < min_leads
    return text.where(~rare, RARE)


def _filled_level(levels: pd.Series) -> pd.Series | None:
    """``(any value)`` for every lead with a value, when being filled is not already one level."""
    given = levels != MISSING
    if given.all() or not given.any():
        return None
    values = levels[given].unique()
    if len(values) == 1 and values[0] != RARE:
        return None  # being filled is already that one value
    return pd.Series(np.where(given, ANY_VALUE, MISSING), index=levels.index, dtype=object)


def pure_values(levels: pd.Series, converted: np.ndarray, thresholds: LeakThresholds) -> tuple[PureValue, ...]:
    """Values (``(any value)`` for being filled at all) held by at least
    ``min_leads`` leads that nearly all became SQL, or almost never did where the
    base rate says they should have (see :class:`LeakThresholds`)."""
    t = thresholds
    converted = np.asarray(converted, dtype=float)
    if converted.sum() < t.min_sqls:
        return ()
    base = float(converted.mean())
    frames = [pd.DataFrame({"level": levels.to_numpy(), "sql": converted})]
    filled = _filled_level(levels)
    if filled is not None:
        given = (filled == ANY_VALUE).to_numpy()
        frames.append(pd.DataFrame({"level": ANY_VALUE, "sql": converted[given]}))
    stats = pd.concat(frames).groupby("level", sort=True)["sql"].agg(["size", "mean"])
    out = []
    for level, row in stats.iterrows():
        n, rate = int(row["size"]), float(row["mean"])
        if level == RARE or n < t.min_leads:
            continue
        high = rate >= t.pure_rate and rate > base
        low = n * base >= t.min_expected_sqls and rate < (1 - t.pure_rate) * base
        if high or low:
            out.append(PureValue(str(level), n, rate, base))
    return tuple(sorted(out, key=lambda p: -p.leads))


def equals_outcome(levels: pd.Series, converted: np.ndarray,
                   thresholds: LeakThresholds) -> tuple[str | None, float, float]:
    """Whether being filled, or some of a column's values (each held by
    ``min_leads`` leads or more), pick out the leads that became SQL with
    precision and recall of at least ``equal_share``: (which, precision, recall),
    or (None, NaN, NaN)."""
    converted = np.asarray(converted, dtype=bool)
    nothing: tuple[str | None, float, float] = (None, float("nan"), float("nan"))
    if converted.sum() < thresholds.min_sqls:
        return nothing
    candidates: list[tuple[str, np.ndarray]] = []
    filled = (levels != MISSING).to_numpy()
    if 0 < filled.sum() < len(filled):
        candidates.append(("being filled", filled))
    rates = pd.Series(converted).groupby(levels.to_numpy()).mean()
    chosen = [lv for lv, r in rates.items() if r >= 0.5 and lv != RARE]
    if chosen and len(chosen) < len(rates):
        named = ", ".join("being missing" if lv == MISSING else shown(str(lv)) for lv in chosen[:4])
        candidates.append((named + (" ..." if len(chosen) > 4 else ""), levels.isin(chosen).to_numpy()))
    for which, picked in candidates:
        precision, recall = float(converted[picked].mean()), float(picked[converted].mean())
        if precision >= thresholds.equal_share and recall >= thresholds.equal_share:
            return which, precision, recall
    return nothing


def open_closed_pattern(levels: pd.Series, closed: np.ndarray,
                        min_leads: int) -> tuple[float | None, float | None, float | None]:
    """(share filled among closed leads, among open leads, total variation distance
    between their value distributions), or Nones with fewer than ``min_leads`` of either."""
    closed = np.asarray(closed, dtype=bool)
    if closed.sum() < min_leads or (~closed).sum() < min_leads:
        return None, None, None
    filled = (levels != MISSING).to_numpy()
    a = levels[closed].value_counts(normalize=True)
    b = levels[~closed].value_counts(normalize=True)
    shift = 0.5 * float(a.subtract(b, fill_value=0.0).abs().sum())
    return float(filled[closed].mean()), float(filled[~closed].mean()), shift


# --------------------------------------------------------------------------- the guard


class LeakGuard:
    """Measures candidate columns for signs that they know the outcome.

    ``allow`` names columns kept deliberately (their evidence is still reported),
    ``exclude`` columns never used as features (measured and reported as
    excluded); names match ignoring case, spaces, ``_`` and ``-``, and a name
    matching no column gives a note. :meth:`fit` measures; ``report_`` holds the
    findings; :meth:`check` raises :class:`LeakingColumns` when a column not
    allowed shows strong evidence.
    """

    def __init__(self, allow: Iterable[str] = (), exclude: Iterable[str] = (),
                 thresholds: LeakThresholds | None = None, seed: int = 0) -> None:
        self.allow = tuple(allow)
        self.exclude = tuple(exclude)
        self.thresholds = thresholds if thresholds is not None else LeakThresholds()
        self.seed = seed

    @classmethod
    def from_config(cls, features: FeatureConfig, seed: int = 0) -> LeakGuard:
        """The guard of ``features.allow_columns`` and ``features.exclude_columns``."""
        return cls(features.allow_columns, features.exclude_columns, seed=seed)

    def fit(self, leads: pd.DataFrame, snapshots: pd.DataFrame, outcomes: pd.DataFrame | None,
            as_of: pd.Timestamp, columns: Mapping[str, str] | None = None) -> LeakGuard:
        """Measure the candidate ``columns`` (name -> ``numeric`` or ``categorical``,
        as the feature builder reads them; by default every extra lead column not
        excluded) and the excluded ones on the fitting period: ``snapshots``
        (``lead_id`` and ``label``) are its rows; ``outcomes`` and ``as_of`` say
        which of its leads became SQL or closed by the export time."""
        t = self.thresholds
        leads = leads.reset_index(drop=True)
        code = pd.Index(leads["lead_id"].astype(str))
        snap_lead = code.get_indexer(snapshots["lead_id"].astype(str))
        if (snap_lead < 0).any():
            raise ValueError("snapshots: a lead_id is not among the leads")
        y = snapshots["label"].to_numpy(float)
        rows = np.arange(len(snap_lead))
        if len(rows) > t.max_rows:
            rows = np.sort(np.random.default_rng(self.seed).choice(rows, t.max_rows, replace=False))
        fit_leads = np.unique(snap_lead)
        sql_us, closed_us = closing_times(leads, outcomes)
        export = instant_us(as_of)
        converted = (sql_us[fit_leads] != NEVER) & (sql_us[fit_leads] <= export)
        closed = (closed_us[fit_leads] != NEVER) & (closed_us[fit_leads] <= export)

        allow_keys = {fitf.column_key(a) for a in self.allow}
        exclude_keys = {fitf.column_key(e) for e in self.exclude}
        candidates = fitf.extra_columns(leads, ())
        if columns is None:
            columns = {c: fitf.numeric_or_text(leads[c]) for c in candidates
                       if fitf.column_key(c) not in exclude_keys}
        kinds = dict(columns)
        for col in candidates:
            if fitf.column_key(col) in exclude_keys and col not in kinds:
                kinds[col] = fitf.numeric_or_text(leads[col])

        found = []
        for col, kind in kinds.items():
            raw = leads[col] if col in leads else pd.Series(None, index=leads.index, dtype=object)
            values = pd.Series(fitf.as_number(raw), index=leads.index) if kind == "numeric" else fitf.as_text(raw)
            evidence = self._measure(col, kind, values, snap_lead, rows, y, fit_leads, converted, closed)
            key = fitf.column_key(col)
            if key in exclude_keys:
                decision = "excluded"
            elif key in allow_keys:
                decision = "allowed"
            else:
                decision = {"stop": "stopped", "warn": "warned", "none": "kept"}[evidence.level]
            found.append(replace(evidence, decision=decision))
        self.report_ = LeakReport(tuple(found), self._notes(leads), len(snap_lead), len(fit_leads))
        return self

    def _notes(self, leads: pd.DataFrame) -> tuple[str, ...]:
        extra, columns = fitf.extra_columns(leads, ()), list(leads.columns)
        notes = []
        for setting, names in (("features.exclude_columns", self.exclude),
                               ("features.allow_columns / --allow-column", self.allow)):
            notes += fitf.unmatched_setting_notes(setting, names, extra, columns, "a column of the contract or "
                                                  "personal data, which is never an extra feature")
        return tuple(notes)

    def _measure(self, col: str, kind: str, values: pd.Series, snap_lead: np.ndarray, rows: np.ndarray,
                 y: np.ndarray, fit_leads: np.ndarray, converted: np.ndarray, closed: np.ndarray) -> ColumnEvidence:
        t = self.thresholds
        lead_values = values.iloc[fit_leads].reset_index(drop=True)
        auc = single_column_auc(values.iloc[snap_lead[rows]].reset_index(drop=True), y[rows], kind,
                                snap_lead[rows], folds=t.folds, smoothing=t.smoothing, seed=self.seed)
        levels = lead_levels(lead_values, kind, t.min_leads)
        pure = pure_values(levels, converted, t)
        which, precision, recall = equals_outcome(levels, converted, t)
        filled_closed, filled_open, shift = open_closed_pattern(levels, closed, t.min_leads)
        terms = leaky_name_terms(col)

        gap = abs(filled_closed - filled_open) if filled_closed is not None else 0.0
        pattern = max(gap, shift or 0.0)
        # (sentence, strong?) in the order of the measures; a name alone is weak, beside strong evidence it is told
        items: list[tuple[str, bool]] = []
        if auc is not None and auc >= t.warn_auc:
            items.append((f"alone it separates SQLs from the rest with ROC-AUC {auc:.3f} on the fitting period",
                          auc >= t.stop_auc))
        if which is not None:
            items.append((f"it equals the outcome: {which} picks out the leads that became SQL "
                          f"(precision {precision:.1%}, recall {recall:.1%})", True))
        if pure:
            listed = "; ".join(p.describe() for p in pure[:3])
            items.append((f"near-pure values among leads of the fitting period (SQL rate {pure[0].expected_rate:.0%} "
                          f"overall): {listed}", bool(terms) or pattern >= t.warn_gap))
        n_closed, n_open = int(closed.sum()), int((~closed).sum())
        only_closed = (filled_closed is not None and filled_closed * n_closed >= t.min_leads
                       and n_open >= t.min_open_leads and filled_open * t.only_closed_ratio <= filled_closed)
        if filled_closed is not None and (pattern >= t.warn_gap or only_closed):
            differ = (f"; its values differ between them by {shift:.0%} (total variation)"
                      if shift is not None and shift >= t.warn_gap else "")
            only = ": it is filled once a lead is closed" if only_closed else ""
            items.append((f"filled for {filled_closed:.0%} of {n_closed:,} leads closed by the export and "
                          f"{filled_open:.0%} of {n_open:,} still open{differ}{only}",
                          only_closed or (bool(terms) and pattern >= t.stop_gap)))
        if terms:
            items.append(("its name reads like an outcome or a sales disposition (" + ", ".join(terms) + ")", False))
        strong = any(s for _, s in items)
        level: Level = "stop" if strong else "warn" if items else "none"
        return ColumnEvidence(col, kind, auc, pure, which, precision if which else None, recall if which else None,
                              filled_closed, filled_open, shift, terms, level, "kept", tuple(s for s, _ in items))

    def check(self) -> LeakReport:
        """The report; raises :class:`LeakingColumns` when a column was stopped."""
        if self.report_.with_decision("stopped"):
            raise LeakingColumns(self.report_)
        return self.report_
