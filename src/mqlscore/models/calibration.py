"""Platt scaling on the log-odds: ``calibrated = a * raw + b``.

A linear map of the log-odds keeps contributions additive: each feature's
contribution is scaled by ``a`` and ``b`` joins the base value, so reasons still
add up to the score.
"""

from __future__ import annotations

import numpy as np


class PlattCalibrator:
    """Logistic regression of the outcome on the raw log-odds."""

    def __init__(self, max_iter: int = 100) -> None:
        self.max_iter = max_iter

    def fit(self, raw: np.ndarray, y: np.ndarray) -> PlattCalibrator:
        """Maximum likelihood for (a, b) by Newton's method (two parameters, no penalty)."""
        raw = np.asarray(raw, float)
        y = np.asarray(y, float)
        if len(raw) == 0 or y.min() == y.max():
            raise ValueError("calibration needs both outcomes in the validation period")
        a, b = 1.0, 0.0
        design = np.column_stack([raw, np.ones_like(raw)])
        for _ in range(self.max_iter):
            p = 1 / (1 + np.exp(-(a * raw + b)))
            grad = design.T @ (p - y)
            hess = (design * (p * (1 - p))[:, None]).T @ design + 1e-9 * np.eye(2)
            step = np.linalg.solve(hess, grad)
            a, b = a - step[0], b - step[1]
            if np.abs(step).max() < 1e-10:
                break
        self.a_, self.b_ = float(a), float(b)
        return self

    def logit(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated log-odds."""
        return self.a_ * np.asarray(raw, float) + self.b_

    def proba(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probability."""
        return 1 / (1 + np.exp(-self.logit(raw)))

    def to_dict(self) -> dict[str, float]:
        """JSON-ready."""
        return {"a": self.a_, "b": self.b_}

    @classmethod
    def from_dict(cls, data: dict[str, float]) -> PlattCalibrator:
        """Rebuild from :meth:`to_dict`."""
        cal = cls()
        cal.a_, cal.b_ = float(data["a"]), float(data["b"])
        return cal


def cross_fitted_proba(raw: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int = 2) -> np.ndarray:
    """Calibrated probabilities where each row's calibrator never saw its own
    group (lead): honest validation figures from the same period."""
    import pandas as pd

    out = np.empty(len(raw))
    fold = pd.util.hash_array(np.asarray(groups, dtype=object)) % folds  # stable across processes
    for k in range(folds):
        held = fold == k
        out[held] = PlattCalibrator().fit(raw[~held], y[~held]).proba(raw[held])
    return out
