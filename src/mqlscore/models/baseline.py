"""The common practice, for comparison only: hand-set points with intent
decaying 25 % per quarter of inactivity.

Points are the typical defaults of marketing-automation tools (Marketo,
HubSpot, Pardot playbooks); nothing here is learned except the Platt mapping
of total points to a probability, which only serves the log loss and Brier
score (ranking metrics use the points themselves).

Activity points, per event, decayed with the lead's inactivity (family names
as in ``FeatureBuilder.families_``):

==================================  ======
signal family                       points
==================================  ======
``act:demo_request``                25
``act:contact_sales``               25
``act:baa_request``                 20
``act:security_review``             15
``act:sandbox_signup``              15
``page:pricing``                    10
``act:webinar_attended``            10
``act:event_booth_scan``            10
``page:roi``                        8
``page:integrations``               6
``page:security``                   6
``act:content_download``            5
``act:form_submit``                 5
``act:chat_started``                5
``page:case_studies``               4
``page:evidence``                   4
``act:webinar_registered``          3
``act:email_click``                 3
``act:email_open``                  1
any other page view (``page:*``)    1
any other activity (``act:*``)      1
``page:careers``                    -10
``act:unsubscribe``                 -20
==================================  ======

Fit points, once per lead (read from the FeatureBuilder's ``fit__*`` columns):

=============  ==========================================  ======
field          values                                      points
=============  ==========================================  ======
seniority      c_level, vp                                 +15
seniority      director                                    +10
seniority      manager                                     +5
persona        student, job_seeker, vendor                 -30
persona        clinician                                   -5
org_type       health_system, hospital, payer              +10
org_type       physician_group, employer, digital_health   +5
geography      non_us                                      -10
free_mail      1 (free-mail address)                       -10
ehr_vendor     epic, oracle_health                         +5
=============  ==========================================  ======

Decay: an event ``a`` days old is worth ``points * 0.75 ** (a / 91.3125)``,
i.e. a half-life of ``91.3125 * ln 2 / -ln 0.75`` = 220.0 days (219.9 with a
91.3-day quarter). The decayed
counts come from the feature engine itself (``features.intent.family_intent``),
so the baseline sees exactly the events the models see: those strictly before
the snapshot's time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mqlscore.features import intent
from mqlscore.features.builder import FeatureBuilder, NotFittedError
from mqlscore.features.decay import half_life_for_quarterly_loss
from mqlscore.features.events import SortedEvents, time_frame, to_us

DEFAULT_ACTIVITY_POINTS: dict[str, float] = {
    "act:demo_request": 25, "act:contact_sales": 25, "act:baa_request": 20, "act:security_review": 15,
    "act:sandbox_signup": 15, "page:pricing": 10, "page:roi": 8, "page:integrations": 6, "page:security": 6,
    "page:case_studies": 4, "page:evidence": 4, "act:webinar_attended": 10, "act:event_booth_scan": 10,
    "act:content_download": 5, "act:form_submit": 5, "act:chat_started": 5, "act:webinar_registered": 3,
    "act:email_click": 3, "act:email_open": 1, "page:careers": -10, "act:unsubscribe": -20,
    "page:*": 1, "act:*": 1,
}

DEFAULT_FIT_POINTS: dict[str, dict[str, float]] = {
    "seniority": {"c_level": 15, "vp": 15, "director": 10, "manager": 5},
    "persona": {"student": -30, "job_seeker": -30, "vendor": -30, "clinician": -5},
    "org_type": {"health_system": 10, "hospital": 10, "payer": 10, "physician_group": 5, "employer": 5,
                 "digital_health": 5},
    "geography": {"non_us": -10},
    "free_mail": {"1": -10},
    "ehr_vendor": {"epic": 5, "oracle_health": 5},
}


class HandSetBaseline:
    """Hand-set points per activity and fit attribute, intent decaying by
    ``quarterly_loss`` per quarter (see the module docstring for the tables).

    ``activity_points`` maps a signal family (``act:demo_request``,
    ``page:pricing``) to points per event; ``page:*`` and ``act:*`` give the
    points of families not listed. ``fit_points`` maps a field (``seniority``
    reads column ``fit__seniority``; a full column name is used as is) to
    {value: points}; numeric columns match values numerically ("1" == 1.0).
    """

    def __init__(self, activity_points: dict | None = None, fit_points: dict | None = None,
                 quarterly_loss: float = 0.25) -> None:
        self.activity_points = activity_points
        self.fit_points = fit_points
        self.quarterly_loss = quarterly_loss

    @property
    def half_life_days(self) -> float:
        """The half-life at which intent loses ``quarterly_loss`` per quarter."""
        return float(half_life_for_quarterly_loss(self.quarterly_loss))

    def points(self, builder: FeatureBuilder, leads: pd.DataFrame, activities: pd.DataFrame, snapshots: pd.DataFrame,
               X: pd.DataFrame) -> pd.DataFrame:
        """Points of each snapshot row: ``fit_points`` (from ``X``, the
        builder's features of ``snapshots``), ``intent_points`` (activities
        strictly before ``as_of``, decayed) and their ``total``."""
        if len(X) != len(snapshots):
            raise ValueError(f"X has {len(X)} rows for {len(snapshots)} snapshots")
        decayed = family_decay(builder, leads, activities, snapshots, self.half_life_days)
        per_event = family_points(builder.families_, self.activity_points or DEFAULT_ACTIVITY_POINTS)
        fit = self._fit_points(X)
        intent_points = decayed.astype(np.float64) @ per_event
        return pd.DataFrame({"fit_points": fit, "intent_points": intent_points, "total": fit + intent_points},
                            index=snapshots.index)

    def _fit_points(self, X: pd.DataFrame) -> np.ndarray:
        total = np.zeros(len(X))
        for field, table in (self.fit_points or DEFAULT_FIT_POINTS).items():
            column = field if field in X.columns else f"fit__{field}"
            if column not in X.columns:
                raise KeyError(f"X has no column {column!r} for fit points on {field!r}")
            total += _value_points(X[column], table)
        return total

    def fit(self, points_total: np.ndarray, y: np.ndarray) -> HandSetBaseline:
        """Platt scaling: a logistic regression of ``y`` on the total points,
        with a non-negative slope so that more points never mean a lower
        probability."""
        from scipy.optimize import minimize

        x = np.asarray(points_total, dtype=float).ravel()
        y = np.asarray(y, dtype=float).ravel()
        if len(x) != len(y) or not len(x) or not np.isfinite(x).all():
            raise ValueError("points_total must be finite and one per label")
        if not np.isin(y, (0.0, 1.0)).all() or y.min() == y.max():
            raise ValueError("y must hold 0 and 1, and both")
        centre, scale = x.mean(), x.std() or 1.0  # standardised, so that one tolerance fits any point scale
        z = (x - centre) / scale
        result = minimize(_log_loss_and_grad, np.array([0.0, 0.0]), args=(z, y), jac=True, method="L-BFGS-B",
                          bounds=[(0.0, None), (None, None)])
        a, b = result.x
        self.slope_ = float(a / scale)
        self.intercept_ = float(b - a * centre / scale)
        return self

    def predict_proba_from_points(self, total: np.ndarray) -> np.ndarray:
        """Probability of conversion for each total (after :meth:`fit`)."""
        if not hasattr(self, "slope_"):
            raise NotFittedError("HandSetBaseline is not fitted: call fit first")
        return 1 / (1 + np.exp(-(self.slope_ * np.asarray(total, dtype=float) + self.intercept_)))


def family_points(families: list[str], table: dict[str, float]) -> np.ndarray:
    """Points per event of each family: listed, else the ``page:*`` / ``act:*`` default, else 0."""
    def lookup(family: str) -> float:
        if family in table:
            return float(table[family])
        return float(table.get(family.split(":", 1)[0] + ":*", 0.0))

    return np.array([lookup(f) for f in families], dtype=np.float64)


def family_decay(builder: FeatureBuilder, leads: pd.DataFrame, activities: pd.DataFrame, snapshots: pd.DataFrame,
                 half_life_days: float) -> np.ndarray:
    """Each snapshot's decayed count per family of ``builder.families_`` at one
    half-life, by the feature engine, with the events set up as
    ``FeatureBuilder.transform`` sets them up. Shape (n_snapshots, n_families)."""
    leads = leads.reset_index(drop=True)
    lead_code = pd.Index(leads["lead_id"].astype(str))
    snap_lead = lead_code.get_indexer(snapshots["lead_id"].astype(str))
    if (snap_lead < 0).any():
        raise ValueError("snapshots: a lead_id is not among the leads")
    snap_us = to_us(snapshots["as_of"])
    acts = activities[activities["lead_id"].astype(str).isin(lead_code)] if len(activities) else activities
    ev_lead = lead_code.get_indexer(acts["lead_id"].astype(str)) if len(acts) else np.empty(0, np.int64)
    ev_us = to_us(acts["occurred_at"]) if len(acts) else np.empty(0, np.int64)
    base_us, span = time_frame(ev_us, snap_us, to_us(leads["created_at"]), n_entities=len(leads) + 2)
    families = builder.family_codes(acts)
    # activities of families the builder never saw (code -1; all of them when it was
    # fitted without activities) carry no intent here, as in the features
    keep = families >= 0
    events = SortedEvents.build(ev_lead[keep], ev_us[keep], families[keep], base_us, span)
    cube = intent.family_intent(events, len(builder.families_), snap_lead, snap_us, (half_life_days,), ())
    return cube[:, :, 0]


def _value_points(values: pd.Series, table: dict) -> np.ndarray:
    """Points of each value of one column under {value: points}."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        names = [str(c) for c in values.cat.categories]
        lookup = np.array([float(table.get(n, 0.0)) for n in names] + [0.0])
        codes = np.asarray(values.cat.codes, dtype=np.int64)
        return lookup[np.where(codes < 0, len(names), codes)]
    if pd.api.types.is_numeric_dtype(values.dtype):
        x = values.to_numpy(dtype=np.float64, na_value=np.nan)
        out = np.zeros(len(x))
        for key, pts in table.items():
            out += np.where(x == float(key), float(pts), 0.0)
        return out
    text = values.astype("string")
    return text.map({str(k): float(v) for k, v in table.items()}).astype("Float64").fillna(0.0).to_numpy(float)


def _log_loss_and_grad(params: np.ndarray, z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    a, b = params
    eta = a * z + b
    loss = np.mean(np.logaddexp(0.0, eta) - y * eta)
    residual = 1 / (1 + np.exp(-eta)) - y
    return float(loss), np.array([np.mean(residual * z), np.mean(residual)])
