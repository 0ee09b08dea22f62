"""Base-rate shift: has the share of leads that become SQL moved between two periods?

A model's probabilities follow the base rate of the period it was calibrated on
(training calibrates on the validation period). When the fitting period
converted at 9.7 % and validation at 53.9 % (a bank's campaign, issue 12), the
learned weights, the calibration and the tiers all answer a different question
from the one the fitting period asked, and nothing said so.

:func:`base_rate_shift` compares two rates by a two-proportion z-test and a
relative change: a shift is reported when the difference is significant
(``p < max_p_value``) *and* the rates differ by a factor of at least
``min_ratio`` (1.5 by default) either way. Both are needed: on tens of thousands
of rows a 10 % relative change is significant but harmless; on a few dozen a
doubling may be noise.

:func:`scoring_shift` is the same check between training and scoring: the share
of scored open leads flagged MQL against the validation period's MQL share, and
their mean probability against the validation base rate (both stored in the
model's metadata as ``validation_metrics``). Open leads are younger than the
validation snapshots on average, so modest differences are expected; only a
factor of ``min_ratio`` is reported.

Only aggregates go in and out (counts and rates, never lead ids).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

MIN_RATIO = 1.5
MAX_P_VALUE = 0.001


@dataclass(frozen=True)
class BaseRateShift:
    """Two periods' conversion rates and whether they differ enough to say so."""

    before: str  # e.g. "fitting period"
    after: str  # e.g. "validation period"
    rate_before: float
    rate_after: float
    n_before: int  # units the rates are over (leads, not snapshots: a lead's snapshots are not independent)
    n_after: int
    ratio: float  # rate_after / rate_before (inf when rate_before is 0)
    p_value: float  # two-sided two-proportion z-test
    shifted: bool

    def message(self) -> str:
        """One line for the console, the report and the model card."""
        way = "more" if self.ratio > 1 else "less"
        times = self.ratio if self.ratio >= 1 else (1 / self.ratio if self.ratio > 0 else math.inf)
        return (f"Base-rate shift: the {self.after} converts at {self.rate_after:.1%} ({self.n_after:,} leads), the "
                f"{self.before} at {self.rate_before:.1%} ({self.n_before:,} leads): {times:.1f} times {way} "
                f"(p {_p_text(self.p_value)}). Probabilities follow the {self.after}'s rate; weights learned on the "
                f"{self.before} may not carry over.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def two_proportion_p_value(k1: float, n1: int, k2: float, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test (1.0 when undefined)."""
    from scipy.stats import norm

    if n1 <= 0 or n2 <= 0:
        return 1.0
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (k2 / n2 - k1 / n1) / se
    return float(2 * norm.sf(abs(z)))


def base_rate_shift(rate_before: float, n_before: int, rate_after: float, n_after: int, *,
                    before: str = "fitting period", after: str = "validation period",
                    min_ratio: float = MIN_RATIO, max_p_value: float = MAX_P_VALUE) -> BaseRateShift:
    """Compare two conversion rates over ``n_before`` and ``n_after`` units; see the
    module docstring for the rule (significant *and* a factor of ``min_ratio``)."""
    if min_ratio <= 1:
        raise ValueError("min_ratio must be above 1")
    for rate in (rate_before, rate_after):
        if not 0 <= rate <= 1:
            raise ValueError("rates must lie in [0, 1]")
    ratio = rate_after / rate_before if rate_before > 0 else (math.inf if rate_after > 0 else 1.0)
    p_value = two_proportion_p_value(rate_before * n_before, n_before, rate_after * n_after, n_after)
    big = ratio >= min_ratio or ratio <= 1 / min_ratio
    return BaseRateShift(before, after, float(rate_before), float(rate_after), int(n_before), int(n_after),
                         float(ratio), p_value, bool(big and p_value < max_p_value))


def scoring_shift(validation_metrics: dict[str, float], probabilities: Any, is_mql: Any, *,
                  min_ratio: float = MIN_RATIO) -> list[str]:
    """Warnings (possibly none) when the scored leads look unlike the validation period:
    their MQL share or mean probability differ from the validation figures
    (``validation_metrics``, as in a model's metadata) by a factor of ``min_ratio``.
    ``mqlscore score`` prints them."""
    p = np.asarray(probabilities, dtype=float).ravel()
    flags = np.asarray(is_mql, dtype=bool).ravel()
    if not len(p):
        return []
    out = []
    pairs = (("MQL share", float(flags.mean()), validation_metrics.get("mql_share")),
             ("mean probability", float(np.nanmean(p)), validation_metrics.get("base_rate")))
    for what, now, then in pairs:
        if then is None or not np.isfinite(then) or then <= 0:
            continue
        ratio = now / then
        if ratio >= min_ratio or ratio <= 1 / min_ratio:
            out.append(f"The {len(p):,} scored leads' {what} is {now:.1%} against {then:.1%} in the model's "
                       f"validation period ({ratio:.1f} times): the leads or their conversion rate have shifted "
                       "since training; read tiers and MQL flags with care and consider retraining.")
    return out


def _p_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"
