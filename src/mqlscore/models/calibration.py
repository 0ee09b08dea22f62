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
        """Maximum likelihood for (a, b) by damped Newton steps on the standardised
        input (so raw scales in the hundreds, like hand-set points, converge too)."""
        raw = np.asarray(raw, float)
        y = np.asarray(y, float)
        if len(raw) == 0 or y.min() == y.max():
            raise ValueError("calibration needs both outcomes in the validation period")
        centre, spread = raw.mean(), raw.std() or 1.0
        z = (raw - centre) / spread
        design = np.column_stack([z, np.ones_like(z)])
        rate = np.clip(y.mean(), 1e-6, 1 - 1e-6)
        theta = np.array([0.0, np.log(rate / (1 - rate))])
        loss = _log_loss(design @ theta, y)
        for _ in range(self.max_iter):
            eta = design @ theta
            p = _sigmoid(eta)
            grad = design.T @ (p - y)
            hess = (design * (p * (1 - p))[:, None]).T @ design + 1e-9 * np.eye(2)
            step = np.linalg.solve(hess, grad)
            shrink = 1.0
            while shrink > 1e-6:  # halve the step until the likelihood improves
                candidate = theta - shrink * step
                new_loss = _log_loss(design @ candidate, y)
                if new_loss <= loss + 1e-12:
                    break
                shrink /= 2
            theta, improvement, loss = candidate, loss - new_loss, new_loss
            if np.abs(shrink * step).max() < 1e-10 or improvement < 1e-14:
                break
        self.a_ = float(theta[0] / spread)
        self.b_ = float(theta[1] - theta[0] * centre / spread)
        return self

    def logit(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated log-odds."""
        return self.a_ * np.asarray(raw, float) + self.b_

    def proba(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probability."""
        return _sigmoid(self.logit(raw))

    def to_dict(self) -> dict[str, float]:
        """JSON-ready."""
        return {"a": self.a_, "b": self.b_}

    @classmethod
    def from_dict(cls, data: dict[str, float]) -> PlattCalibrator:
        """Rebuild from :meth:`to_dict`."""
        cal = cls()
        cal.a_, cal.b_ = float(data["a"]), float(data["b"])
        return cal


def _sigmoid(eta: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * np.asarray(eta, float)))  # no overflow for large |eta|


def _log_loss(eta: np.ndarray, y: np.ndarray) -> float:
    # log(1 + e^eta) - y * eta, written to stay finite for large |eta|
    return float(np.mean(np.logaddexp(0.0, eta) - y * eta))


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
