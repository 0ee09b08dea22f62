"""A points scorecard marketing ops can read, check and argue with.

Each feature is cut into a few bins; each bin gets a weight of evidence (WoE,
the log of how much more common converting leads are in the bin than overall)
and a logistic regression on the WoE-encoded features weighs the features. A
bin's points are its feature's coefficient times its WoE, so a lead's score is
the base points plus one number per feature, read off a table.

Binning
    Numeric features are cut at quantiles of their non-missing values into at
    most ``n_bins`` bins: equal-frequency cuts that never split a repeated value
    (a decayed count that is 0 for 80 % of rows gets a "0" bin and quantile
    bins of the rest). Cut points are the roundest numbers between neighbouring
    values, so labels read "< 2", "2 – 5", "≥ 5" (a bin "a – b" holds
    a <= x < b). Bins with less than ``min_bin_share`` of the rows are merged
    with their smaller neighbour. Missing (and infinite) values get a bin of
    their own when there were any in fitting; otherwise they score as neutral.
    Categorical features get one bin per level of ``X[col].cat.categories``;
    levels below ``min_bin_share`` share one "other levels" bin, and a level
    never seen in fitting scores as neutral.

Monotonicity
    With ``monotone=True`` adjacent numeric bins are merged (pool-adjacent
    violators) until WoE moves in one direction: that of the Spearman
    correlation between the feature and the outcome, computed with ties
    grouped by the initial quantile bins (exact ranks of a million rows per
    feature would cost more than the whole fit and only the sign is used).
    Missing bins and categorical levels are not ordered, so not forced: a
    U-shaped categorical keeps its shape.

Weight of evidence
    ``woe = ln(p_event / p_non_event)`` where each bin's share of the events and
    non-events is smoothed by adding 0.5 to its counts, so an empty or pure bin
    has a finite WoE. A sample weight counts as that many repeated rows
    (scikit-learn's convention, ``C`` included): weights far below 1 make the
    smoothing weigh more.
    Neutral (unseen level, missing never seen in fitting) is WoE 0: the odds of
    the average lead.

Selection
    Features whose information value (IV) is below ``min_iv`` are dropped; the
    rest are taken by decreasing IV, at most two per business signal (``specs``
    from the FeatureBuilder; a family's four decayed counts would otherwise
    crowd the table) and at most ``max_features`` in all.

Signs
    More WoE means more converting leads, so every coefficient should be
    non-negative. A negative one (collinear features splitting an effect)
    would silently turn a bin's meaning around: a bin with more converters
    than average would *cost* points. So the feature with the most negative
    coefficient is dropped and the model refitted (from the previous
    solution), until no coefficient is negative; ``selection_`` says which
    features went and why. Dropped features are not replaced. On more than
    250,000 rows the rounds run on a 250,000-row sample and all rows are then
    fitted once (with further rounds only if a coefficient still comes out
    negative there), so 1.7 million rows cost one or two full fits.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from mqlscore.features.builder import NotFittedError

SMOOTHING = 0.5
MAX_ITER = 1000
# Which features keep a negative coefficient is found on this many rows before
# all rows are fitted: each refit on 1.7 million rows costs seconds.
SCREEN_ROWS = 250_000
# Quantile cut points come from a sample of the non-missing values: a million
# rows give the same cut points as 200,000 to within a bin's rounding.
EDGE_SAMPLE = 200_000
# A cut may move by this share of a bin from its exact quantile to land on a round number.
EDGE_SLACK = 0.1
MISSING_LABEL = "missing"
MAX_SIGNAL_FEATURES = 2
GROUP_ORDER = ("base", "fit", "intent", "account", "other")
PREFIX_GROUPS = (("fit__", "fit"), ("extra__", "fit"), ("intent__", "intent"), ("account__", "account"))


@dataclass
class _Binning:
    """The bins of one feature and their statistics (missing bin last)."""

    feature: str
    signal: str
    group: str
    kind: str  # "numeric" or "categorical"
    labels: list[str]
    counts: list[float]  # weighted rows per bin
    events: list[float]  # weighted converting rows per bin
    woe: list[float]
    iv: float
    has_missing: bool
    edges: list[float] = field(default_factory=list)  # numeric: bin k holds edges[k-1] <= x < edges[k]
    levels: dict[str, int] = field(default_factory=dict)  # categorical: level -> bin
    direction: int = 0  # numeric: +1 / -1 monotone direction, 0 when not forced

    @property
    def neutral(self) -> int:
        """Index of the WoE-0 slot, one past the last bin."""
        return len(self.labels)

    def bin_index(self, values: pd.Series) -> np.ndarray:
        """The bin of each value (``neutral`` for unseen levels or unseen missing)."""
        missing_bin = self.neutral - 1 if self.has_missing else self.neutral
        if self.kind == "numeric":
            x = _as_float(values)
            idx = np.searchsorted(np.asarray(self.edges, float), x, side="right")
            if len(self.labels) == self.has_missing:  # no value bin: only missing values in fitting
                idx = np.full(len(x), self.neutral)
            return np.where(np.isfinite(x), idx, missing_bin)
        cat = _as_categorical(values)
        lookup = np.array([self.levels.get(str(c), self.neutral) for c in cat.categories] + [missing_bin],
                          dtype=np.int64)
        codes = np.asarray(cat.codes, dtype=np.int64)
        return lookup[np.where(codes < 0, len(cat.categories), codes)]

    def encode(self, values: pd.Series) -> np.ndarray:
        """WoE of each value."""
        return np.append(np.asarray(self.woe, float), 0.0)[self.bin_index(values)]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return asdict(self)


class Scorecard:
    """Binned, WoE-encoded, sign-constrained logistic regression read as points.

    See the module docstring for binning, monotonicity, selection and signs.
    Fitted attributes: ``features_`` (selected, in model order), ``coef_``,
    ``intercept_``, ``bins_`` (feature -> bins), ``selection_`` (every
    candidate feature with its IV and why it was kept or dropped),
    ``feature_names_in_``.
    """

    def __init__(self, n_bins: int = 5, min_bin_share: float = 0.03, C: float = 1.0, min_iv: float = 0.02,
                 max_features: int = 30, monotone: bool = True, specs: list | None = None) -> None:
        self.n_bins = n_bins
        self.min_bin_share = min_bin_share
        self.C = C
        self.min_iv = min_iv
        self.max_features = max_features
        self.monotone = monotone
        self.specs = specs

    # ------------------------------------------------------------------ fit
    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None) -> Scorecard:
        """Bin every column, select features and fit the sign-constrained weights."""
        y, w = _check_fit_input(X, y, sample_weight)
        meta = _feature_meta(list(X.columns), self.specs)
        wy = w * y
        binnings = {col: self._fit_binning(col, X[col], w, wy, *meta[col]) for col in X.columns}
        chosen, reasons = _select(binnings, self.min_iv, self.max_features)
        self.feature_names_in_ = np.array(X.columns, dtype=object)
        self.features_, self.coef_, self.intercept_, dropped = self._fit_weights(X, y, w, chosen, binnings)
        reasons.update(dropped)
        self.bins_ = {f: binnings[f] for f in self.features_}
        self.selection_ = _selection_table(binnings, reasons, self.features_)
        return self

    def refit(self, X: pd.DataFrame, y: np.ndarray) -> Scorecard:
        """A new scorecard with this one's settings fitted on ``X`` (binning and
        selection learned again: for refitting the chosen champion on every
        labelled snapshot)."""
        return Scorecard(self.n_bins, self.min_bin_share, self.C, self.min_iv, self.max_features, self.monotone,
                         self.specs).fit(X, y)

    def _fit_binning(self, col: str, values: pd.Series, w: np.ndarray, wy: np.ndarray, signal: str,
                     group: str) -> _Binning:
        numeric = _is_numeric(values)
        stats = (_numeric_bins if numeric else _categorical_bins)(values, w, wy, self)
        labels, counts, events, extra = stats
        woe, iv = _woe_iv(np.asarray(counts), np.asarray(events))
        return _Binning(col, signal, group, "numeric" if numeric else "categorical", labels,
                        [float(c) for c in counts], [float(e) for e in events], woe.tolist(), iv, **extra)

    def _fit_weights(self, X: pd.DataFrame, y: np.ndarray, w: np.ndarray, chosen: list[str],
                     binnings: dict[str, _Binning]) -> tuple[list[str], np.ndarray, float, dict[str, str]]:
        """Logistic regression on WoE without negative coefficients (see "Signs"
        in the module docstring). On big data the features to drop are found on
        a sample of rows first, so that all rows are fitted once or twice."""
        dropped: dict[str, str] = {}
        if not chosen:
            return [], np.zeros(0), _base_log_odds(y, w), dropped
        Z = np.column_stack([binnings[f].encode(X[f]) for f in chosen])
        keep, start = list(range(len(chosen))), None
        if len(y) > SCREEN_ROWS:
            rows = np.sort(np.random.default_rng(0).choice(len(y), SCREEN_ROWS, replace=False))
            keep, start = self._drop_negative(Z[rows], y[rows], w[rows], chosen, keep, dropped, None)
        keep, (coef, intercept) = self._drop_negative(Z, y, w, chosen, keep, dropped, start)
        if not keep:
            return [], np.zeros(0), _base_log_odds(y, w), dropped
        return [chosen[i] for i in keep], coef, intercept, dropped

    def _drop_negative(self, Z: np.ndarray, y: np.ndarray, w: np.ndarray, names: list[str], keep: list[int],
                       dropped: dict[str, str], start: tuple[np.ndarray, float] | None
                       ) -> tuple[list[int], tuple[np.ndarray, float]]:
        """Fit, drop the most negative coefficient, refit from the previous
        solution, until none is negative. Returns the kept columns and their
        (coefficients, intercept); records what was dropped in ``dropped``."""
        keep = list(keep)
        while keep:
            lr = LogisticRegression(C=self.C, solver="lbfgs", max_iter=MAX_ITER, warm_start=start is not None)
            if start is not None:  # with warm_start, scikit-learn starts from these
                lr.coef_, lr.intercept_ = start[0][None, :], np.array([start[1]])
            lr.fit(Z[:, keep], y, sample_weight=w)
            coef, intercept = lr.coef_[0].astype(float), float(lr.intercept_[0])
            if (coef >= 0).all():
                return keep, (coef, intercept)
            worst = int(np.argmin(coef))
            dropped[names[keep[worst]]] = f"negative coefficient ({coef[worst]:.3g}) next to correlated features"
            del keep[worst]
            start = (np.delete(coef, worst), intercept)
        return [], (np.zeros(0), 0.0)

    # -------------------------------------------------------------- predict
    def _woe_matrix(self, X: pd.DataFrame) -> np.ndarray:
        _check_fitted(self)
        missing = [f for f in self.features_ if f not in X.columns]
        if missing:
            raise KeyError(f"X lacks the scorecard's features: {missing[:5]}")
        if not self.features_:
            return np.empty((len(X), 0))
        return np.column_stack([self.bins_[f].encode(X[f]) for f in self.features_])

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Log-odds contribution of each selected feature per row; with
        ``intercept_`` they add up to :meth:`decision_function`."""
        return pd.DataFrame(self._woe_matrix(X) * self.coef_, columns=list(self.features_), index=X.index)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of conversion."""
        woe = self._woe_matrix(X)
        return self.intercept_ + woe @ self.coef_

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities of (no conversion, conversion), shape (n, 2)."""
        p = 1 / (1 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

    # --------------------------------------------------------------- reading
    def points_table(self, points_per_logit: float = 1.0, offset: float = 0.0) -> pd.DataFrame:
        """One row per (feature, bin), plus a first "base" row carrying the
        intercept and ``offset``: a lead's points are the base plus one bin's
        points per feature. ``points`` are log-odds times ``points_per_logit``
        (the default 1 and offset 0 give raw log-odds); a score's scale is a
        linear map of the log-odds, so with its slope and offset the points add
        up to that score (``ScoringModel.points_table`` passes the calibration
        slope times the scale's points per logit, and the score of log-odds 0).
        Groups in the order fit, intent, account; within a group, features that
        can move the score most come first; numeric bins in ascending order,
        categorical levels by points; missing last. Values never seen in
        fitting score 0 points (not listed)."""
        _check_fitted(self)
        first = self.bins_[self.features_[0]] if self.features_ else None
        rate = sum(first.events) / sum(first.counts) if first is not None else None
        rows = [{"feature": "(base)", "signal": "base", "group": "base", "bin": "every lead", "share": 1.0,
                 "event_rate": rate, "woe": 0.0, "log_odds": self.intercept_,
                 "points": self.intercept_ * points_per_logit + offset}]
        blocks = [_bin_rows(self.bins_[f], c, points_per_logit) for f, c in zip(self.features_, self.coef_)]
        blocks.sort(key=lambda b: (_group_rank(b[0]["group"]), -_spread(b), b[0]["feature"]))
        rows += [row for block in blocks for row in block]
        return pd.DataFrame(rows)

    # ------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """Parameters and everything fitted, as JSON-ready plain data."""
        _check_fitted(self)
        params = {"n_bins": int(self.n_bins), "min_bin_share": float(self.min_bin_share), "C": float(self.C),
                  "min_iv": float(self.min_iv), "max_features": int(self.max_features),
                  "monotone": bool(self.monotone),
                  "specs": None if self.specs is None else [_spec_dict(s) for s in self.specs]}
        return {
            "kind": "mqlscore.Scorecard",
            "params": params,
            "feature_names_in": [str(c) for c in self.feature_names_in_],
            "features": list(self.features_),
            "coef": [float(c) for c in self.coef_],
            "intercept": float(self.intercept_),
            "bins": [self.bins_[f].to_dict() for f in self.features_],
            "selection": self.selection_.to_dict(orient="records"),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scorecard:
        """Rebuild a fitted scorecard from :meth:`to_dict`'s output."""
        from mqlscore.features.registry import FeatureSpec

        params = dict(d["params"])
        if params["specs"] is not None:
            params["specs"] = [FeatureSpec(**s) for s in params["specs"]]
        card = cls(**params)
        card.feature_names_in_ = np.array(d["feature_names_in"], dtype=object)
        card.features_ = list(d["features"])
        card.coef_ = np.array(d["coef"], dtype=float)
        card.intercept_ = float(d["intercept"])
        card.bins_ = {b["feature"]: _Binning(**{**b, "levels": dict(b["levels"])}) for b in d["bins"]}
        card.selection_ = pd.DataFrame.from_records(d["selection"], columns=_SELECTION_COLUMNS)
        return card

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters (scikit-learn convention, for ``clone``)."""
        return {k: getattr(self, k) for k in ("n_bins", "min_bin_share", "C", "min_iv", "max_features",
                                               "monotone", "specs")}

    def set_params(self, **params: Any) -> Scorecard:
        """Set constructor parameters (scikit-learn convention)."""
        for key, value in params.items():
            if key not in self.get_params():
                raise ValueError(f"Scorecard has no parameter {key!r}")
            setattr(self, key, value)
        return self


# ---------------------------------------------------------------- input checks
def _check_fit_input(X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Labels as 0/1 floats and the weights (ones when not given)."""
    if not isinstance(X, pd.DataFrame):
        raise TypeError("X must be a pandas DataFrame of features")
    if not X.columns.is_unique:
        raise ValueError("X has duplicate column names")
    y = np.asarray(y, dtype=float).ravel()
    if len(y) != len(X):
        raise ValueError(f"y has {len(y)} values for {len(X)} rows of X")
    if np.isnan(y).any() or not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y must hold only 0 and 1 (converted or not), without missing values")
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float).ravel()
    if len(w) != len(y) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError("sample_weight must be finite, non-negative, positive in total and one per row")
    positives = float(w[y == 1].sum())
    if positives <= 0 or positives >= w.sum():
        raise ValueError("y (with weight) holds only one class: a scorecard needs both converting and "
                         "non-converting rows")
    return y, w


def _base_log_odds(y: np.ndarray, w: np.ndarray) -> float:
    rate = float(np.average(y, weights=w))
    return math.log(rate / (1 - rate))


def _check_fitted(card: Scorecard) -> None:
    if not hasattr(card, "features_"):
        raise NotFittedError("Scorecard is not fitted: call fit first")


def _is_numeric(values: pd.Series) -> bool:
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return False
    return bool(pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))


def _as_float(values: pd.Series) -> np.ndarray:
    if isinstance(values.dtype, pd.CategoricalDtype) or not _is_numeric(values):
        values = pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce")
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def _as_categorical(values: pd.Series) -> pd.Categorical:
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.array
    return pd.Categorical(values.astype("string"))


def _feature_meta(columns: list[str], specs: list | None) -> dict[str, tuple[str, str]]:
    """(signal, group) per column: from the specs, else the column is its own
    signal and its prefix gives the group."""
    by_name = {s.name: (s.signal, s.group) for s in specs} if specs is not None else {}
    out = {}
    for col in columns:
        group = next((g for prefix, g in PREFIX_GROUPS if str(col).startswith(prefix)), "other")
        out[col] = by_name.get(col, (str(col), group))
    return out


# ------------------------------------------------------------------- binning
def _numeric_bins(values: pd.Series, w: np.ndarray, wy: np.ndarray, card: Scorecard
                  ) -> tuple[list[str], list[float], list[float], dict[str, Any]]:
    x = _as_float(values)
    finite = np.isfinite(x)
    has_missing = not finite.all()
    if has_missing:  # most columns have none: skip the copies
        x, w_x, wy_x = x[finite], w[finite], wy[finite]
    else:
        w_x, wy_x = w, wy
    sample = x if len(x) <= EDGE_SAMPLE else x[np.random.default_rng(0).integers(0, len(x), EDGE_SAMPLE)]
    edges = _quantile_edges(np.sort(sample), card.n_bins)
    idx = np.searchsorted(np.asarray(edges, float), x, side="right")
    counts = list(np.bincount(idx, w_x, minlength=len(edges) + 1))
    events = list(np.bincount(idx, wy_x, minlength=len(edges) + 1))
    direction = _rank_direction(np.asarray(counts), np.asarray(events))
    _merge_small(edges, counts, events, card.min_bin_share * w.sum())
    if card.monotone:
        _merge_to_monotone(edges, counts, events, direction)
    labels = _edge_labels(edges)
    if not len(x):  # all missing: no value bin at all
        labels, counts, events = [], [], []
    if has_missing:
        labels.append(MISSING_LABEL)
        counts.append(float(w.sum() - w_x.sum()))
        events.append(float(wy.sum() - wy_x.sum()))
    extra = {"edges": [float(e) for e in edges], "has_missing": has_missing,
             "direction": direction if card.monotone and len(edges) else 0}
    return labels, counts, events, extra


def _quantile_edges(s: np.ndarray, n_bins: int) -> list[float]:
    """Equal-frequency cut points over sorted values ``s`` that never split a
    repeated value. Each cut aims at the next quantile of what is left, and
    takes the roundest number within a tenth of a bin of it, so labels read
    "14" rather than "14.04127"."""
    edges: list[float] = []
    pos, n = 0, len(s)
    for left in range(n_bins, 1, -1):
        if pos >= n:
            break
        size = (n - pos) / left
        at = min(n - 1, math.ceil(pos + size) - 1)  # the last value of the bin
        slack = int(size * EDGE_SLACK)
        lo, hi = max(pos, at - slack), min(n - 1, at + slack + 1)
        if s[lo] < s[hi]:
            edge = _round_between(float(s[lo]), float(s[hi]))
        else:  # a repeated value fills the window: cut right after it
            after = int(np.searchsorted(s, s[at], side="right"))
            if after >= n:
                break
            edge = _round_between(float(s[at]), float(s[after]))
        edges.append(edge)
        pos = int(np.searchsorted(s, edge, side="left"))
    return edges


def _round_between(lo: float, hi: float) -> float:
    """The number with fewest significant digits in (lo, hi]."""
    top = math.floor(math.log10(max(abs(lo), abs(hi)))) if max(abs(lo), abs(hi)) > 0 else 0
    for digits in range(-top, 18):
        r = math.floor(hi * 10**digits) / 10**digits if digits >= 0 else \
            math.floor(hi / 10**-digits) * 10**-digits
        r = round(r, max(digits, 0))
        if lo < r <= hi:
            return float(r)
    return hi


def _rank_direction(counts: np.ndarray, events: np.ndarray) -> int:
    """Sign of the Spearman correlation of the feature (ties grouped by bin) with y."""
    if counts.sum() <= 0:
        return 1
    midrank = np.cumsum(counts) - counts / 2
    centre = np.average(midrank, weights=counts) if counts.sum() else 0.0
    # sum over rows of (rank - mean rank) * y: its sign is that of the correlation
    return 1 if float(((midrank - centre) * events).sum()) >= 0 else -1


def _merge_bins(edges: list[float], counts: list[float], events: list[float], left: int) -> None:
    """Merge bin ``left`` with bin ``left + 1`` (in place)."""
    counts[left] += counts.pop(left + 1)
    events[left] += events.pop(left + 1)
    del edges[left]


def _merge_small(edges: list[float], counts: list[float], events: list[float], min_count: float) -> None:
    """Merge bins below ``min_count`` rows into their smaller neighbour."""
    while len(counts) > 1:
        i = int(np.argmin(counts))
        if counts[i] >= min_count:
            return
        if i == 0:
            _merge_bins(edges, counts, events, 0)
        elif i == len(counts) - 1 or counts[i - 1] <= counts[i + 1]:
            _merge_bins(edges, counts, events, i - 1)
        else:
            _merge_bins(edges, counts, events, i)


def _merge_to_monotone(edges: list[float], counts: list[float], events: list[float], direction: int) -> None:
    """Pool adjacent bins until their (smoothed) log-odds move in ``direction``.
    The WoE differs from these log-odds by a constant, so it is then monotone too."""
    while len(counts) > 1:
        c, e = np.asarray(counts), np.asarray(events)
        log_odds = np.log((e + SMOOTHING) / (c - e + SMOOTHING))
        bad = np.flatnonzero(direction * np.diff(log_odds) < 0)
        if not len(bad):
            return
        _merge_bins(edges, counts, events, int(bad[0]))


def _edge_labels(edges: list[float]) -> list[str]:
    if not edges:
        return ["any value"]
    f = [_fmt(e) for e in edges]
    return [f"< {f[0]}"] + [f"{a} – {b}" for a, b in pairwise(f)] + [f"≥ {f[-1]}"]


def _fmt(value: float) -> str:
    return np.format_float_positional(value, trim="-")


def _categorical_bins(values: pd.Series, w: np.ndarray, wy: np.ndarray, card: Scorecard
                      ) -> tuple[list[str], list[float], list[float], dict[str, Any]]:
    cat = _as_categorical(values)
    names = [str(c) for c in cat.categories]
    slot = np.asarray(cat.codes, dtype=np.int64) + 1  # 0 is missing
    counts_all = np.bincount(slot, w, minlength=len(names) + 1)
    events_all = np.bincount(slot, wy, minlength=len(names) + 1)
    min_count = card.min_bin_share * w.sum()
    big = [i for i in range(len(names)) if counts_all[i + 1] >= min_count]
    rare = [i for i in range(len(names)) if 0 < counts_all[i + 1] < min_count]
    groups = [[i] for i in big] + ([rare] if rare else [])
    # levels with no rows in fitting stay out of every bin: they score as neutral
    levels = {names[i]: b for b, group in enumerate(groups) for i in group}
    labels = [names[g[0]] if g is not rare else _rare_label([names[i] for i in g]) for g in groups]
    counts = [float(counts_all[[i + 1 for i in g]].sum()) for g in groups]
    events = [float(events_all[[i + 1 for i in g]].sum()) for g in groups]
    has_missing = bool(counts_all[0] > 0)
    if has_missing:
        labels.append(MISSING_LABEL)
        counts.append(float(counts_all[0]))
        events.append(float(events_all[0]))
    return labels, counts, events, {"levels": levels, "has_missing": has_missing}


def _rare_label(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    shown = ", ".join(names[:6]) + (f", … (+{len(names) - 6})" if len(names) > 6 else "")
    return f"other levels: {shown}"


def _woe_iv(counts: np.ndarray, events: np.ndarray) -> tuple[np.ndarray, float]:
    """Smoothed WoE per bin and the feature's information value."""
    non = counts - events
    k = len(counts)
    p_event = (events + SMOOTHING) / (events.sum() + SMOOTHING * k)
    p_non = (non + SMOOTHING) / (non.sum() + SMOOTHING * k)
    woe = np.log(p_event / p_non)
    return woe, float(((p_event - p_non) * woe).sum())


# ----------------------------------------------------------------- selection
_SELECTION_COLUMNS = ["feature", "signal", "group", "kind", "iv", "selected", "reason"]


def _select(binnings: dict[str, _Binning], min_iv: float, max_features: int
            ) -> tuple[list[str], dict[str, str]]:
    """Features by decreasing IV above ``min_iv``, at most two per signal and
    ``max_features`` in all; the reason for every feature left out."""
    chosen: list[str] = []
    per_signal: dict[str, int] = {}
    reasons: dict[str, str] = {}
    for b in sorted(binnings.values(), key=lambda b: (-b.iv, b.feature)):
        if b.iv < min_iv:
            reasons[b.feature] = f"information value {b.iv:.3g} below {min_iv:g}"
        elif per_signal.get(b.signal, 0) >= MAX_SIGNAL_FEATURES:
            reasons[b.feature] = f"signal {b.signal!r} already has {MAX_SIGNAL_FEATURES} stronger features"
        elif len(chosen) >= max_features:
            reasons[b.feature] = f"max_features={max_features} reached"
        else:
            chosen.append(b.feature)
            per_signal[b.signal] = per_signal.get(b.signal, 0) + 1
    return chosen, reasons


def _selection_table(binnings: dict[str, _Binning], reasons: dict[str, str], selected: list[str]
                     ) -> pd.DataFrame:
    rows = [{"feature": b.feature, "signal": b.signal, "group": b.group, "kind": b.kind, "iv": b.iv,
             "selected": b.feature in selected, "reason": reasons.get(b.feature, "selected")}
            for b in binnings.values()]
    table = pd.DataFrame(rows, columns=_SELECTION_COLUMNS)
    return table.sort_values(["selected", "iv"], ascending=[False, False], kind="stable").reset_index(drop=True)


# ------------------------------------------------------------- points table
def _bin_rows(b: _Binning, coef: float, points_per_logit: float) -> list[dict[str, Any]]:
    total = sum(b.counts)
    rows = [{"feature": b.feature, "signal": b.signal, "group": b.group, "bin": label,
             "share": count / total if total else 0.0,
             "event_rate": events / count if count else None,
             "woe": woe, "log_odds": coef * woe, "points": coef * woe * points_per_logit}
            for label, count, events, woe in zip(b.labels, b.counts, b.events, b.woe)]
    if b.kind == "categorical":
        # levels have no order: the strongest first, missing last
        rows.sort(key=lambda r: (r["bin"] == MISSING_LABEL, -r["points"]))
    return rows


def _spread(rows: list[dict[str, Any]]) -> float:
    points = [r["points"] for r in rows]
    return max(points) - min(points)


def _group_rank(group: str) -> int:
    return GROUP_ORDER.index(group) if group in GROUP_ORDER else len(GROUP_ORDER)


def _spec_dict(spec: Any) -> dict[str, Any]:
    return spec.to_dict() if hasattr(spec, "to_dict") else dict(spec)
