"""Confidence intervals for monitoring figures.

Snapshots of one lead are correlated (the same lead, a few days apart), and so
are the leads of one account (a buying project wakes the whole account up; an
account's size, type and EHR are every one of its leads'), so intervals of
figures computed on snapshots resample **buying groups** (an account's leads
together, a lead without an account alone), never rows: a :class:`GroupBootstrap`
draws each group's multiplicity once per resample and every figure of a resample
(in every window) uses the same draw. Resampling single leads instead made a
level of an account-level field (an EHR vendor held by a few accounts) look
significantly changed in a world where nothing changed. Where an exact interval
exists for independent counts it is used instead: Wilson for a proportion of leads,
Garwood for a Poisson count, Clopper-Pearson on the conditional binomial for the
ratio of two Poisson rates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Interval:
    """A figure with its confidence interval (NaN when undefined)."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float | None]:
        """JSON-ready (NaN as None)."""
        return {k: _finite_or_none(v) for k, v in (("value", self.value), ("low", self.low), ("high", self.high))}

    @property
    def defined(self) -> bool:
        """Whether the figure and its interval are numbers."""
        return all(math.isfinite(v) for v in (self.value, self.low, self.high))

    def below(self, target: float) -> bool:
        """The whole interval lies below ``target``."""
        return self.defined and self.high < target

    def above(self, target: float) -> bool:
        """The whole interval lies above ``target``."""
        return self.defined and self.low > target


NAN_INTERVAL = Interval(float("nan"), float("nan"), float("nan"))


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


class GroupBootstrap:
    """Resamples of buying groups: ``counts[b, g]`` is how often group ``g`` is drawn in
    resample ``b`` (a multinomial draw of as many groups as there are); ``codes`` maps each
    row to its group (``mqlscore.features.account.buying_groups``; give lead ids alone to resample leads)."""

    def __init__(self, groups: np.ndarray | pd.Series, n_boot: int, seed: int = 0) -> None:
        codes, uniques = pd.factorize(np.asarray(groups, dtype=object))
        self.codes = codes.astype(np.int64)
        self.n_groups = len(uniques)
        rng = np.random.default_rng(seed)
        if self.n_groups:
            draws = rng.multinomial(self.n_groups, np.full(self.n_groups, 1.0 / self.n_groups), size=n_boot)
        else:
            draws = np.zeros((n_boot, 0))
        self.counts = draws.astype(np.float32)

    @property
    def n_boot(self) -> int:
        """Number of resamples."""
        return self.counts.shape[0]

    def group_sums(self, values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Per group, the sum of ``values`` over its rows (where ``mask``)."""
        codes, values = self.codes, np.asarray(values, dtype=float)
        if mask is not None:
            codes, values = codes[mask], values[mask]
        return np.bincount(codes, weights=values, minlength=self.n_groups)

    def resampled(self, per_group: np.ndarray) -> np.ndarray:
        """Sums over each resample (``per_group``: groups, or groups x columns)."""
        return self.counts @ np.asarray(per_group, dtype=np.float32)

    def row_weights(self, rows: np.ndarray, columns: slice = slice(None)) -> np.ndarray:
        """(rows x resamples) weight of each row in each resample of ``columns``."""
        return self.counts[columns][:, self.codes[rows]].T


def percentile_interval(value: float, draws: np.ndarray, confidence: float) -> Interval:
    """``value`` with the percentile interval of its bootstrap ``draws`` (NaN draws left out;
    NaN when fewer than half of them are defined)."""
    draws = np.asarray(draws, dtype=float)
    ok = draws[np.isfinite(draws)]
    if not math.isfinite(value) or len(ok) < max(1, len(draws) // 2):
        return Interval(float(value), float("nan"), float("nan"))
    tail = (1 - confidence) / 2
    low, high = np.quantile(ok, [tail, 1 - tail])
    return Interval(float(value), float(min(low, value)), float(max(high, value)))


def ratio_interval(boot: GroupBootstrap, numerator: np.ndarray, denominator: np.ndarray, mask: np.ndarray,
                   confidence: float) -> Interval:
    """sum(numerator) / sum(denominator) over the rows in ``mask``, resampling buying groups."""
    num, den = boot.group_sums(numerator, mask), boot.group_sums(denominator, mask)
    total = den.sum()
    value = float(num.sum() / total) if total > 0 else float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        draws = boot.resampled(num) / boot.resampled(den)
    return percentile_interval(value, draws, confidence)


def _z(confidence: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2))


def wilson_interval(successes: int, n: int, confidence: float) -> Interval:
    """Wilson score interval of a proportion of independent trials."""
    if n <= 0:
        return NAN_INTERVAL
    z = _z(confidence)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def poisson_rate_interval(count: int, exposure: float, confidence: float) -> Interval:
    """A Poisson rate (``count`` events over ``exposure`` units) with Garwood's exact interval."""
    from scipy.stats import chi2

    if exposure <= 0:
        return NAN_INTERVAL
    tail = (1 - confidence) / 2
    low = 0.0 if count == 0 else chi2.ppf(tail, 2 * count) / 2
    high = chi2.ppf(1 - tail, 2 * count + 2) / 2
    return Interval(count / exposure, float(low / exposure), float(high / exposure))


def rate_ratio_interval(count_now: int, exposure_now: float, count_then: int, exposure_then: float,
                        confidence: float) -> Interval:
    """The ratio of two Poisson rates (now over then) with the exact interval from the binomial
    split of the total count (Clopper-Pearson); NaN when either exposure or the total is zero."""
    from scipy.stats import beta

    total = count_now + count_then
    if exposure_now <= 0 or exposure_then <= 0 or total == 0:
        return NAN_INTERVAL
    tail = (1 - confidence) / 2
    low_p = 0.0 if count_now == 0 else float(beta.ppf(tail, count_now, count_then + 1))
    high_p = 1.0 if count_then == 0 else float(beta.ppf(1 - tail, count_now + 1, count_then))
    scale = exposure_then / exposure_now

    def odds(p: float) -> float:
        return float("inf") if p >= 1 else p / (1 - p) * scale

    value = odds(count_now / total)
    return Interval(value, odds(low_p), odds(high_p))
