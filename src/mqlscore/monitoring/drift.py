"""Drift without labels: population stability of the model's inputs and its score.

The **population stability index** of a distribution ``actual`` against
``expected``, binned alike, is

    PSI = sum over bins of (a_i - e_i) * ln(a_i / e_i)

with ``a_i`` and ``e_i`` the shares of each bin, smoothed by adding half a count
to every bin (``(count + 0.5) / (n + 0.5 k)``) so that an empty bin gives a large
but finite term. Each term is non-negative, so the PSI is, and it is 0 for
identical samples. Common reading: below 0.1 stable, 0.1-0.25 a shift worth
watching, above 0.25 a major shift (``monitor.psi_watch`` / ``psi_retrain``).

Bins: a numeric feature (and the score) is cut at the quantiles of the training
window (``monitor.psi_bins``, ties merged, so a count that is mostly 0 gets a bin
of its own for 0), plus one bin for missing values; a categorical feature is
binned by level (the feature definition's levels, with ``other`` and
``unknown``). A signal's PSI is the largest PSI of its features
(``FeatureSpec.signal`` groups them), and names that feature.

A shift in a feature matters as much as it moves the score. Beside each PSI
stand the signal's **importance** (its share of the model's mean absolute points
in the training window) and its **points shift** (its mean points in the recent
weeks minus in the training window, on the score's scale, where 10 points double
the odds). A signal is ``retrain`` when its PSI reaches ``psi_retrain`` and its
points moved by ``min_points_shift`` or more; ``watch`` when its PSI reaches
``psi_watch`` and it carries ``min_importance`` of the points; else ``info`` (a
shift the model hardly uses). Open leads age as a CRM's history grows, for
instance: the share of old snapshots rises (a large PSI of the lead's age and of
every "days since"), while the points the model gives them barely move.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mqlscore.explain import signal_label
from mqlscore.features.registry import FeatureSpec

SMOOTHING = 0.5  # counts added to every bin


def psi(expected: np.ndarray, actual: np.ndarray, smoothing: float = SMOOTHING) -> float:
    """The population stability index of ``actual`` against ``expected`` bin counts."""
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.shape != a.shape or e.ndim != 1 or not len(e):
        raise ValueError("psi needs two 1-d arrays of counts with the same bins")
    if (e < 0).any() or (a < 0).any() or not (np.isfinite(e).all() and np.isfinite(a).all()):
        raise ValueError("psi needs finite non-negative counts")
    k = len(e)
    e_share = (e + smoothing) / (e.sum() + smoothing * k)
    a_share = (a + smoothing) / (a.sum() + smoothing * k)
    return float(max(np.sum((a_share - e_share) * np.log(a_share / e_share)), 0.0))


def numeric_bins(reference: np.ndarray, n_bins: int) -> np.ndarray:
    """Inner cut points: the reference's quantiles, ties merged (missing values ignored)."""
    values = np.asarray(reference, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return np.empty(0)
    return np.unique(np.quantile(values, np.linspace(0, 1, n_bins + 1)[1:-1]))


def bin_numeric(values: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Bin index of each value (0 .. len(cuts)); missing values in the last bin, len(cuts) + 1."""
    values = np.asarray(values, dtype=float)
    out = np.searchsorted(cuts, values, side="right")
    out[~np.isfinite(values)] = len(cuts) + 1
    return out


def bin_labels(cuts: np.ndarray) -> list[str]:
    """Names of the bins of :func:`bin_numeric`."""
    if not len(cuts):
        return ["all", "missing"]
    edges = [f"{c:.4g}" for c in cuts]
    return [f"< {edges[0]}"] + [f"{lo} to < {hi}" for lo, hi in zip(edges, edges[1:])] + [f">= {edges[-1]}",
                                                                                         "missing"]


@dataclass
class Distribution:
    """One feature (or the score) binned alike in two windows."""

    name: str
    bins: list[str]
    training: np.ndarray  # counts per bin in the training window
    recent: np.ndarray  # counts per bin in the recent window
    psi: float

    def shares(self) -> tuple[np.ndarray, np.ndarray]:
        """Shares per bin (training, recent)."""
        return (self.training / max(self.training.sum(), 1), self.recent / max(self.recent.sum(), 1))

    def largest_move(self) -> tuple[str, float, float]:
        """The bin whose share moved most: (bin, share then, share now)."""
        then, now = self.shares()
        i = int(np.argmax(np.abs(now - then)))
        return self.bins[i], float(then[i]), float(now[i])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (shares per bin)."""
        then, now = self.shares()
        return {"feature": self.name, "psi": round(self.psi, 6),
                "bins": [{"bin": b, "training_share": round(float(t), 6), "recent_share": round(float(r), 6)}
                         for b, t, r in zip(self.bins, then, now)]}


def distribution(name: str, training: pd.Series | np.ndarray, recent: pd.Series | np.ndarray,
                 n_bins: int) -> Distribution:
    """Bin a feature's training-window and recent values alike and measure its PSI."""
    if isinstance(training, pd.Series) and isinstance(training.dtype, pd.CategoricalDtype):
        levels = [str(c) for c in training.cat.categories]
        t_codes = np.asarray(training.cat.codes)
        r_codes = np.asarray(pd.Categorical(recent, categories=training.cat.categories).codes)
        k = len(levels) + 1  # code -1: missing
        labels = levels + ["missing"]
        t_counts = np.bincount(np.where(t_codes < 0, k - 1, t_codes), minlength=k)
        r_counts = np.bincount(np.where(r_codes < 0, k - 1, r_codes), minlength=k)
    else:
        cuts = numeric_bins(np.asarray(training, dtype=float), n_bins)
        labels = bin_labels(cuts)
        k = len(labels)
        t_counts = np.bincount(bin_numeric(np.asarray(training, dtype=float), cuts), minlength=k)
        r_counts = np.bincount(bin_numeric(np.asarray(recent, dtype=float), cuts), minlength=k)
    keep = (t_counts + r_counts) > 0  # a bin empty in both windows says nothing
    if not keep.any():
        keep[:] = True
    t_counts, r_counts = t_counts[keep], r_counts[keep]
    labels = [lab for lab, k_ in zip(labels, keep) if k_]
    return Distribution(name, labels, t_counts, r_counts, psi(t_counts, r_counts))


@dataclass
class SignalDrift:
    """The population stability of one business signal (its features, grouped)."""

    signal: str
    label: str  # the signal in words
    group: str  # fit, intent or account
    importance: float  # share of the model's mean absolute points (training window)
    psi: float  # the largest PSI of its features
    feature: str  # the feature with that PSI
    points_shift: float = 0.0  # mean points recent minus training window
    level: str = "stable"  # stable, info, watch, retrain
    detail: Distribution | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        out = {"signal": self.signal, "label": self.label, "group": self.group,
               "importance": round(self.importance, 6), "psi": round(self.psi, 6), "feature": self.feature,
               "points_shift": round(self.points_shift, 4), "level": self.level}
        if self.detail is not None:
            bin_, then, now = self.detail.largest_move()
            out["largest_move"] = {"bin": bin_, "training_share": round(then, 6), "recent_share": round(now, 6)}
        return out

    def sentence(self) -> str:
        """The shift in words."""
        what = "fit field" if self.group == "fit" else "signal"
        text = f"{self.label} ({what} {self.signal}) shifted: PSI {self.psi:.2f} on {self.feature}"
        if self.detail is not None:
            bin_, then, now = self.detail.largest_move()
            text += f"; '{bin_}' went from {then:.0%} to {now:.0%} of snapshots"
        effect = "little effect on scores" if abs(self.points_shift) < 1 else "scores moved with it"
        return text + (f"; the signal carries {self.importance:.0%} of the model's points, and its points moved by "
                       f"{self.points_shift:+.1f} on average ({effect})")


def signal_drift(X_training: pd.DataFrame, X_recent: pd.DataFrame, specs: list[FeatureSpec],
                 importance: dict[str, float], points_shift: dict[str, float], *, n_bins: int, watch: float,
                 retrain: float, min_importance: float, min_points_shift: float) -> list[SignalDrift]:
    """Per business signal, the largest PSI of its features between the windows, and its
    level (see the module docstring)."""
    by_signal: dict[str, list[FeatureSpec]] = {}
    for spec in specs:
        by_signal.setdefault(spec.signal, []).append(spec)
    out = []
    for signal, members in by_signal.items():
        best: Distribution | None = None
        for spec in members:
            d = distribution(spec.name, X_training[spec.name], X_recent[spec.name], n_bins)
            if best is None or d.psi > best.psi:
                best = d
        assert best is not None
        weight = float(importance.get(signal, 0.0))
        moved = float(points_shift.get(signal, 0.0))
        level = "stable"
        if best.psi >= retrain and abs(moved) >= min_points_shift:
            level = "retrain"
        elif best.psi >= watch:
            level = "watch" if weight >= min_importance or abs(moved) >= min_points_shift else "info"
        out.append(SignalDrift(signal, signal_label(signal), members[0].group, weight, best.psi, best.name, moved,
                               level, best))
    return sorted(out, key=lambda d: -d.psi)


def score_drift(training: np.ndarray, recent: np.ndarray, n_bins: int) -> Distribution:
    """The score's PSI between the windows (bins cut on the training window's scores)."""
    return distribution("score", np.asarray(training, float), np.asarray(recent, float), n_bins)


def points_shift(training: np.ndarray, recent: np.ndarray, signals: list[str]) -> dict[str, float]:
    """Each signal's mean points in the recent rows minus in the training rows."""
    if not len(training) or not len(recent):
        return {}
    moved = np.asarray(recent, float).mean(axis=0) - np.asarray(training, float).mean(axis=0)
    return {s: float(v) for s, v in zip(signals, moved)}


def signal_importance(points: np.ndarray, signals: list[str]) -> dict[str, float]:
    """Each signal's share of the mean absolute points (``ScoringModel.attribution``)."""
    mean_abs = np.abs(np.asarray(points, float)).mean(axis=0) if len(points) else np.zeros(len(signals))
    total = float(mean_abs.sum())
    return {s: (float(v) / total if total > 0 else 0.0) for s, v in zip(signals, mean_abs)}

