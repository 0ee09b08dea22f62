"""The account model: how likely a buying group (an account's open leads) is to
produce at least one SQL within the horizon.

It reads one row per (account row, member lead), a *members* frame
(:data:`MEMBER_COLUMNS`): which account row the lead belongs to, the lead's
calibrated log-odds as scored (``log_odds``, its colleagues' activity included),
its calibrated log-odds scored alone, as the only lead of its account
(``solo_log_odds``), its committee role and the days since its last activity.

Three methods (``method``):

* ``noisy_or``: ``1 - prod(1 - p_i)`` of the leads' probabilities as scored, the
  aggregation that treats the leads as independent; nothing is fitted.
* ``noisy_or_fitted``: ``1 - prod(1 - p_i) ** alpha``, ``alpha`` fitted by maximum
  likelihood: leads of one account are positively dependent (one committee, one
  budget), so the plain product overstates the account's chance; ``alpha < 1``
  shrinks the log of the product.
* ``learned``: a regression on account features (:data:`LEARNED_FEATURES`), every
  coefficient kept non-negative, on features that can only grow when a lead joins the
  group: the best lead alone, the leads' combined chance alone (``log H``, ``H = sum
  -log(1 - p_i)``), how many leads there are and how many are active, and per committee
  role whether someone holds it, was active recently, is engaged. Its link is the
  complementary log-log, ``P = 1 - exp(-exp(eta))``: with ``eta = log H`` it is exactly
  the noisy-or of the leads, and the other features scale the account's hazard (an
  engaged committee raises every lead's chance). The leads' chances are their *solo*
  ones, which do not move when a colleague joins. So adding a lead, an engaged finance
  contact say, never lowers the account's score: the property holds by construction,
  not by luck of the fit.

After fitting (on the fitting period), :meth:`AccountModel.calibrate` fits Platt
scaling on the validation period, as for leads (``noisy_or`` stays as it is). Like
every estimator here, ``__init__`` only stores parameters; what is learned ends in ``_``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from mqlscore.contract.schema import COMMITTEE_STATES
from mqlscore.features.account import COMMITTEE_ROLES
from mqlscore.models.calibration import PlattCalibrator

METHODS = ("noisy_or", "noisy_or_fitted", "learned")
MEMBER_COLUMNS = ("row", "log_odds", "solo_log_odds", "role", "days_since")
# Role states as codes, best highest: missing 0, silent 1, recent 2, engaged 3 (COMMITTEE_STATES reversed).
STATE_CODES = {state: len(COMMITTEE_STATES) - 1 - i for i, state in enumerate(COMMITTEE_STATES)}
LEAD_FEATURES = ("best_lead", "all_leads", "known_leads", "engaged_leads")
LEARNED_FEATURES = LEAD_FEATURES + tuple(f"{role}_{level}" for role in COMMITTEE_ROLES
                                         for level in ("known", "recent", "engaged"))
# The business signal each learned feature's points belong to (an account's reasons).
FEATURE_SIGNALS = {"best_lead": "best_lead", "all_leads": "all_leads", "known_leads": "all_leads",
                   "engaged_leads": "engagement",
                   **{f"{role}_{level}": f"role:{role}" for role in COMMITTEE_ROLES
                      for level in ("known", "recent", "engaged")}}
# Members as a frame, or as plain arrays by column name: a service request's handful of
# members costs far less as arrays than as a frame (pandas' per-call overhead).
MemberTable = pd.DataFrame | Mapping[str, np.ndarray]
_EPS = 1e-12
_MAX_ETA = 4.0  # exp(4) = 55: a hazard past which the chance is 1 to the last digit


def softplus(x: np.ndarray) -> np.ndarray:
    """``log(1 + e^x)``: ``-log(1 - p)`` for a lead of log-odds ``x``, finite for any ``x``."""
    return np.logaddexp(0.0, np.asarray(x, float))


def _logit_of_any(hazard: np.ndarray) -> np.ndarray:
    """Log-odds of ``1 - exp(-hazard)`` (the chance that at least one of independent
    events of total hazard ``hazard`` happens), stable for tiny and huge hazards."""
    h = np.maximum(np.asarray(hazard, float), _EPS)
    return np.where(h < 30.0, np.log(np.expm1(np.minimum(h, 30.0))), h + np.log1p(-np.exp(-h)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * np.asarray(x, float)))


def _column(members: MemberTable, name: str, dtype: Any) -> np.ndarray:
    """One member column as an array of ``dtype``, from a frame or from arrays."""
    return np.asarray(members[name], dtype=dtype)


def role_states(members: MemberTable, n_rows: int, engaged_days: float, recent_days: float,
                roles: tuple[str, ...] = COMMITTEE_ROLES) -> np.ndarray:
    """Per account row and committee role, the role's state code (:data:`STATE_CODES`):
    the best state among the row's leads in that role (engaged: active within
    ``engaged_days``; recent: within ``recent_days``; silent: in the group but not
    active that recently; missing: no lead in the role)."""
    out = np.zeros((n_rows, len(roles)), np.int8)
    names = _column(members, "role", object)
    if not len(names):
        return out
    index = {r: i for i, r in enumerate(roles)}
    role = np.array([index.get(str(r), -1) for r in names], np.int64)
    days = _column(members, "days_since", float)
    code = np.where(days <= engaged_days, STATE_CODES["engaged"],
                    np.where(days <= recent_days, STATE_CODES["recent"], STATE_CODES["silent"])).astype(np.int8)
    has = role >= 0
    np.maximum.at(out, (_column(members, "row", np.int64)[has], role[has]), code[has])
    return out


class AccountModel:
    """An account's log-odds of producing an SQL within the horizon from its members
    (see the module docstring for the methods)."""

    def __init__(self, method: str = "learned", C: float = 1.0, engaged_days: float = 30.0,
                 recent_days: float = 90.0, roles: tuple[str, ...] = COMMITTEE_ROLES) -> None:
        self.method = method
        self.C = C
        self.engaged_days = engaged_days
        self.recent_days = recent_days
        self.roles = tuple(roles)

    # ------------------------------------------------------------ features
    @property
    def uses_solo(self) -> bool:
        """Whether the model reads ``solo_log_odds`` (the learned one does)."""
        return self.method == "learned"

    @property
    def never_lower_when_a_lead_joins(self) -> bool:
        """Whether a lead joining an account can never lower its score, whatever the lead
        model: true of the learned model (its inputs ignore colleagues and only grow, its
        weights are non-negative); the aggregations read the leads' chances as scored,
        which a new colleague changes in whichever direction the lead model learned."""
        return self.method == "learned"

    def states(self, members: MemberTable, n_rows: int) -> np.ndarray:
        """Per row and role, the coverage state code (:func:`role_states`)."""
        return role_states(members, n_rows, self.engaged_days, self.recent_days, self.roles)

    def design(self, members: MemberTable, n_rows: int) -> pd.DataFrame:
        """The learned model's account features (:data:`LEARNED_FEATURES`), one row per
        account row; each can only grow when a lead joins the row."""
        return pd.DataFrame(self._design_columns(members, n_rows))

    def design_matrix(self, members: MemberTable, n_rows: int, states: np.ndarray | None = None) -> np.ndarray:
        """:meth:`design` as an array (``n_rows`` x features), without a frame; ``states``:
        :meth:`states` of the same members when already computed."""
        # column-major, as the frame's values are: the same layout gives the same sums to the last bit
        return np.stack(list(self._design_columns(members, n_rows, states).values())).T

    def _design_columns(self, members: MemberTable, n_rows: int,
                        states: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """:meth:`design`'s columns by name."""
        row = _column(members, "row", np.int64)
        if n_rows and np.bincount(row, minlength=n_rows).min() == 0:
            raise ValueError("every account row needs at least one lead")
        solo = _column(members, "solo_log_odds", float)
        best = np.full(n_rows, -np.inf)
        np.maximum.at(best, row, solo)
        hazard = np.bincount(row, softplus(solo), n_rows)
        days = _column(members, "days_since", float)
        columns: dict[str, np.ndarray] = {
            "best_lead": best,
            "all_leads": np.log(np.maximum(hazard, _EPS)),
            "known_leads": np.log1p(np.bincount(row, minlength=n_rows).astype(float)),
            "engaged_leads": np.log1p(np.bincount(row, days <= self.engaged_days, n_rows)),
        }
        states = self.states(members, n_rows) if states is None else states
        for i, role in enumerate(self.roles):
            columns[f"{role}_known"] = (states[:, i] >= STATE_CODES["silent"]).astype(float)
            columns[f"{role}_recent"] = (states[:, i] >= STATE_CODES["recent"]).astype(float)
            columns[f"{role}_engaged"] = (states[:, i] >= STATE_CODES["engaged"]).astype(float)
        return columns

    def hazard(self, members: MemberTable, n_rows: int) -> np.ndarray:
        """Per row, ``-log prod(1 - p_i)`` over its leads as scored."""
        return np.bincount(_column(members, "row", np.int64), softplus(_column(members, "log_odds", float)), n_rows)

    # ----------------------------------------------------------------- fit
    def fit(self, members: pd.DataFrame, n_rows: int, y: np.ndarray) -> AccountModel:
        """Fit on account rows with outcomes ``y`` (1: the account produced an SQL within
        the horizon); also learns the typical log-odds of an engaged lead per role, for
        :meth:`with_contact`."""
        if self.method not in METHODS:
            raise ValueError(f"unknown account method {self.method!r} (one of {', '.join(METHODS)})")
        y = np.asarray(y, float)
        if len(y) != n_rows or not len(y) or y.min() == y.max():
            raise ValueError("an account model needs account rows of both outcomes")
        self.alpha_ = 1.0
        if self.method == "noisy_or_fitted":
            self.alpha_ = _fit_alpha(self.hazard(members, n_rows), y)
        elif self.method == "learned":
            X = self.design(members, n_rows).to_numpy(float)
            self.means_ = X.mean(axis=0)
            scales = X.std(axis=0)
            self.scales_ = np.where(scales > 1e-9, scales, 1.0)
            self.coef_, self.intercept_ = _nonnegative_cloglog((X - self.means_) / self.scales_, y,
                                                               1.0 / (self.C * len(y)))
        self.calibrator_ = _identity()
        self.reference_ = float(np.log(y.mean() / (1 - y.mean())))
        self.typical_ = self._typical(members)
        return self

    def calibrate(self, raw: np.ndarray, y: np.ndarray) -> AccountModel:
        """Platt scaling of the raw log-odds on (validation) rows; ``noisy_or`` keeps its
        probabilities as they are. Raises ValueError when the slope comes out non-positive
        (the model would rank accounts backwards)."""
        y = np.asarray(y, float)
        if self.method != "noisy_or":
            calibrator = PlattCalibrator().fit(raw, y)
            if not calibrator.a_ > 0:
                raise ValueError(f"account model {self.method!r}: calibration slope {calibrator.a_:.3g} is not positive")
            self.calibrator_ = calibrator
        self.reference_ = float(np.log(max(y.mean(), 1e-6) / max(1 - y.mean(), 1e-6)))
        return self

    def _typical(self, members: pd.DataFrame) -> dict[str, list[float]]:
        """Per role, the median (as scored, alone) log-odds of the engaged leads in it;
        roles never seen engaged fall back on every engaged lead, then on every lead."""
        engaged = members[members["days_since"].to_numpy(float) <= self.engaged_days]
        base = engaged if len(engaged) else members

        def medians(frame: pd.DataFrame) -> list[float]:
            return [float(frame["log_odds"].median()), float(frame["solo_log_odds"].median())]

        fallback = medians(base) if len(base) else [0.0, 0.0]
        out = {}
        for role in self.roles:
            part = engaged[engaged["role"].astype(str).to_numpy() == role]
            out[role] = medians(part) if len(part) >= 5 else fallback
        return out

    # ------------------------------------------------------------- predict
    def _eta(self, members: MemberTable, n_rows: int,
             design: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The learned model's standardised features and its linear predictor (log hazard)."""
        X = self.design_matrix(members, n_rows) if design is None else design
        Z = (X - self.means_) / self.scales_
        return Z, self.intercept_ + Z @ self.coef_

    def raw_log_odds(self, members: MemberTable, n_rows: int, design: np.ndarray | None = None) -> np.ndarray:
        """Uncalibrated log-odds per account row (``design``: :meth:`design_matrix` of the
        same members when already computed)."""
        if self.method == "learned":
            return _logit_of_any(np.exp(np.minimum(self._eta(members, n_rows, design)[1], _MAX_ETA)))
        return _logit_of_any(self.alpha_ * self.hazard(members, n_rows))

    def log_odds(self, members: MemberTable, n_rows: int, design: np.ndarray | None = None) -> np.ndarray:
        """Calibrated log-odds per account row (``design`` as for :meth:`raw_log_odds`)."""
        return self.calibrator_.logit(self.raw_log_odds(members, n_rows, design))

    def proba(self, members: MemberTable, n_rows: int) -> np.ndarray:
        """Calibrated probability per account row."""
        return _sigmoid(self.log_odds(members, n_rows))

    def with_contact(self, members: MemberTable, n_rows: int, roles: tuple[str, ...] | None = None) -> np.ndarray:
        """Calibrated log-odds per row (and per role of ``roles``, default every committee
        role: an ``n_rows x len(roles)`` array) had one more lead joined it: an engaged
        contact in that role (active today) whose log-odds are those typical of an engaged
        lead in the role in training. What the account would gain from that contact."""
        roles = self.roles if roles is None else tuple(roles)
        k, row = len(roles), _column(members, "row", np.int64)
        typical = [self.typical_.get(r, [0.0, 0.0]) for r in roles]
        # every role's hypothetical account as rows of its own (the members again, then the
        # contact), scored in one pass; the order of the rows fixes the order of the sums
        together = {
            "row": np.concatenate([row + j * n_rows for j in range(k)] + [np.arange(k * n_rows)]),
            "log_odds": _stacked(_column(members, "log_odds", float), k, np.repeat([t[0] for t in typical], n_rows)),
            "solo_log_odds": _stacked(_column(members, "solo_log_odds", float), k,
                                      np.repeat([t[1] for t in typical], n_rows)),
            "role": _stacked(_column(members, "role", object), k, np.repeat(np.array(roles, dtype=object), n_rows)),
            "days_since": _stacked(_column(members, "days_since", float), k, np.zeros(k * n_rows)),
        }
        return self.log_odds(together, k * n_rows).reshape(k, n_rows).T

    def explain(self, members: MemberTable, n_rows: int) -> tuple[np.ndarray, pd.DataFrame]:
        """Where each row's calibrated log-odds come from: ``(base, parts)`` with
        ``base + parts.groupby("row").logit.sum()`` equal to :meth:`log_odds`.

        ``learned``: ``base`` is the log-odds of an account whose features all equal
        their averages in training; ``parts`` one row per (row, signal) with the
        features' contributions in calibrated log-odds (``member`` is the best lead's
        position in ``members`` for ``best_lead``, else -1): each feature's part of the
        log hazard times the average slope of the calibrated log-odds over the way from
        the average account to this one (a monotone map: signs are kept, the parts add up
        exactly). The aggregations: ``base`` is the log-odds of the base rate, and the
        rest is shared among the row's leads in proportion to ``-log(1 - p_i)`` (signal
        ``lead``, ``member`` its position)."""
        base, parts = self.explain_arrays(members, n_rows)
        return base, pd.DataFrame(parts)

    def explain_arrays(self, members: MemberTable, n_rows: int, design: np.ndarray | None = None,
                       total: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """:meth:`explain` with ``parts`` as arrays by column name (``row``, ``signal``,
        ``member``, ``logit``); ``design`` and ``total``: :meth:`design_matrix` and
        :meth:`log_odds` of the same members when already computed."""
        total = self.log_odds(members, n_rows, design) if total is None else total
        row = _column(members, "row", np.int64)
        if self.method == "learned":
            Z, eta = self._eta(members, n_rows, design)
            eta0 = self.intercept_
            base_value = float(self.calibrator_.logit(_logit_of_any(np.exp(min(eta0, _MAX_ETA)))))
            base = np.full(n_rows, base_value)
            step = eta - eta0
            near = np.abs(step) < 1e-9
            slope = np.where(near, self._slope(eta0), (total - base_value) / np.where(near, 1.0, step))
            contrib = (Z * self.coef_) * slope[:, None]
            best_member = _best_member(row, _column(members, "solo_log_odds", float), n_rows)
            signals = [FEATURE_SIGNALS[c] for c in LEARNED_FEATURES]
            names = list(dict.fromkeys(signals))
            parts = {s: np.zeros(n_rows) for s in names}
            for j, s in enumerate(signals):
                parts[s] = parts[s] + contrib[:, j]
            return base, {
                "row": np.tile(np.arange(n_rows), len(names)), "signal": np.repeat(names, n_rows),
                "member": np.concatenate([best_member if s == "best_lead" else np.full(n_rows, -1) for s in names]),
                "logit": np.concatenate([parts[s] for s in names])}
        base = np.full(n_rows, self.reference_)
        share = softplus(_column(members, "log_odds", float))
        whole = np.bincount(row, share, n_rows)
        return base, {"row": row, "signal": np.full(len(row), "lead"), "member": np.arange(len(row)),
                      "logit": (total - base)[row] * share / np.maximum(whole[row], _EPS)}

    def _slope(self, eta: float) -> float:
        """d(calibrated log-odds)/d(eta) of the learned model at ``eta``."""
        e = float(np.exp(min(eta, _MAX_ETA)))
        return float(self.calibrator_.a_ * e / -np.expm1(-e))

    # --------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: parameters and what was learned (no lead's data)."""
        out: dict[str, Any] = {"method": self.method, "C": self.C, "engaged_days": self.engaged_days,
                               "recent_days": self.recent_days, "roles": list(self.roles),
                               "alpha": self.alpha_, "calibrator": self.calibrator_.to_dict(),
                               "reference": self.reference_, "typical": self.typical_}
        if self.method == "learned":
            out.update(link="cloglog", features=list(LEARNED_FEATURES), means=self.means_.tolist(),
                       scales=self.scales_.tolist(), coef=self.coef_.tolist(), intercept=self.intercept_)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccountModel:
        """Rebuild from :meth:`to_dict`."""
        model = cls(data["method"], float(data["C"]), float(data["engaged_days"]), float(data["recent_days"]),
                    tuple(data["roles"]))
        model.alpha_ = float(data["alpha"])
        model.calibrator_ = PlattCalibrator.from_dict(data["calibrator"])
        model.reference_ = float(data["reference"])
        model.typical_ = {k: [float(v[0]), float(v[1])] for k, v in data["typical"].items()}
        if model.method == "learned":
            if data.get("link") != "cloglog" or list(data["features"]) != list(LEARNED_FEATURES):
                raise ValueError("the account model was saved with other features than this version reads")
            model.means_ = np.asarray(data["means"], float)
            model.scales_ = np.asarray(data["scales"], float)
            model.coef_ = np.asarray(data["coef"], float)
            model.intercept_ = float(data["intercept"])
        return model


def _stacked(values: np.ndarray, times: int, then: np.ndarray) -> np.ndarray:
    """``values`` repeated ``times`` times end to end, then ``then``."""
    return np.concatenate([values] * times + [then])


def _best_member(row: np.ndarray, solo: np.ndarray, n_rows: int) -> np.ndarray:
    """Per row, the position of its lead with the highest ``solo`` (the first of equally
    strong leads; a lead without a number never wins over one with); -1 for a row without."""
    out = np.full(n_rows, -1, np.int64)
    order = np.lexsort((np.arange(len(row)), -solo, row))  # NaN sorts last
    first = order[np.r_[True, row[order][1:] != row[order][:-1]]] if len(order) else order
    out[row[first]] = first
    return out


def _identity() -> PlattCalibrator:
    return PlattCalibrator.from_dict({"a": 1.0, "b": 0.0})


def _fit_alpha(hazard: np.ndarray, y: np.ndarray) -> float:
    """Maximum-likelihood ``alpha`` of ``P = 1 - exp(-alpha * hazard)`` (0.02 to 20)."""
    from scipy.optimize import minimize_scalar

    def loss(log_alpha: float) -> float:
        eta = _logit_of_any(np.exp(log_alpha) * hazard)
        return float(np.mean(np.logaddexp(0.0, eta) - y * eta))

    found = minimize_scalar(loss, bounds=(np.log(0.02), np.log(20.0)), method="bounded",
                            options={"xatol": 1e-4})
    return float(np.exp(found.x))


def _nonnegative_cloglog(Z: np.ndarray, y: np.ndarray, penalty: float) -> tuple[np.ndarray, float]:
    """L2-penalised binary regression with the complementary log-log link,
    ``P = 1 - exp(-exp(Z w + b))``, every coefficient >= 0 (the intercept free), by L-BFGS-B
    with exact gradients on standardised features."""
    from scipy.optimize import minimize

    n, k = Z.shape
    rate = np.clip(y.mean(), 1e-6, 1 - 1e-6)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:k], theta[k]
        eta = np.clip(Z @ w + b, -50.0, _MAX_ETA)
        e = np.exp(eta)
        log_p = np.log(-np.expm1(-np.maximum(e, _EPS)))  # log(1 - exp(-e)), finite for tiny e
        value = -np.mean(y * log_p - (1 - y) * e) + 0.5 * penalty * w @ w
        d_eta = (1 - y) * e - y * e / np.expm1(np.maximum(e, _EPS))
        grad = np.concatenate([Z.T @ d_eta / n + penalty * w, [np.mean(d_eta)]])
        return float(value), grad

    start = np.concatenate([np.zeros(k), [np.log(-np.log1p(-rate))]])
    found = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * k + [(None, None)],
                     options={"maxiter": 500})
    return np.asarray(found.x[:k], float), float(found.x[k])
