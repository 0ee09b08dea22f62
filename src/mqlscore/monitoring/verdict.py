"""The verdict: ``healthy``, ``watch`` or ``retrain``, with the reasons in words.

Each finding becomes a :class:`Reason` with a level; the verdict is the highest
level among them (``info`` never counts). The rules (thresholds in
``MonitorConfig``, documented in docs/monitoring.md):

retrain
  * realised ROC-AUC: the whole interval below the ROC-AUC the model card promised;
  * the MQL promise: the SQL rate of MQL snapshots, whole interval below the promised one;
  * a signal (or a fit field's level) predicts differently: its observed-to-expected
    ratio moved by ``signal_factor`` or more since the training window, interval excluding
    no change (``relationships.py``);
  * the score's PSI at or above ``psi_retrain``, or a signal's PSI at or above
    ``psi_retrain`` with its mean points moved by ``min_points_shift`` or more (``drift.py``);
  * the mix of new leads by channel (``lead_source``) or org type: PSI at or above
    ``psi_retrain`` (the population the promise was measured on is gone).
watch
  * share of SQLs captured by the MQL threshold: whole interval below the promise;
  * log loss: whole interval above the promised one;
  * realised SQL rate against the mean predicted probability off by ``signal_factor`` or
    more, interval excluding the prediction (calibration in the large);
  * the score's PSI at or above ``psi_watch``; a signal's PSI at or above ``psi_watch`` when
    it carries ``min_importance`` of the model's points (shifts the model hardly uses are
    listed in the report, not weighed);
  * weekly new leads (all, a channel, an org type) changed by ``volume_factor`` or more, or
    their mix by channel or org type has a PSI at or above ``psi_watch``;
  * distinct MQL leads per week off the validation period's by ``signal_factor`` or more
    (interval excluding it): sales capacity;
    the realised SQL rate of new leads moved by ``signal_factor`` or more;
  * an activity family vanished or a new activity type appeared.
info
  * other changes of activity volume; MQLs converting better than promised; what could
    not be judged (no completed horizon yet, too few SQLs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mqlscore.monitoring.drift import Distribution, SignalDrift
from mqlscore.monitoring.inflow import Inflow, volume_sentence
from mqlscore.monitoring.intervals import Interval
from mqlscore.monitoring.performance import Figures
from mqlscore.monitoring.relationships import SignalCheck

LEVELS = ("info", "watch", "retrain")
VERDICTS = ("healthy", "watch", "retrain")


@dataclass(frozen=True)
class Reason:
    """One finding, its level and what it is about."""

    level: str  # info, watch, retrain
    kind: str  # performance, promise, relationship, drift, score, inflow, activity, data
    text: str
    signal: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"level": self.level, "kind": self.kind, "text": self.text, "signal": self.signal}


def verdict_of(reasons: list[Reason]) -> str:
    """``retrain`` if any reason says so, else ``watch`` if any says so, else ``healthy``."""
    levels = {r.level for r in reasons}
    return "retrain" if "retrain" in levels else "watch" if "watch" in levels else "healthy"


def _ci(i: Interval, pct: bool = False, confidence: float = 0.95) -> str:
    if pct:
        return f"{i.value:.1%} ({confidence:.0%} CI {i.low:.1%}-{i.high:.1%})"
    return f"{i.value:.3f} ({confidence:.0%} CI {i.low:.3f}-{i.high:.3f})"


def promise_sentence(figures: Figures | None, promise: dict[str, Any], horizon_days: int, confidence: float,
                     *, why_not: str = "", bare: bool = False) -> str:
    """The MQL promise against what happened, in one sentence (the report's first line);
    ``bare``: without the closing judgement (for a reason that states it)."""
    promised = promise.get("sql_rate")
    score = promise.get("score")
    at = f"score {score:.0f}" if isinstance(score, (int, float)) else "the MQL threshold"
    head = f"MQLs (at or above {at})"
    if figures is None or not figures.mql_sql_rate.defined:
        then = f" (promised: {promised:.1%})" if isinstance(promised, (int, float)) else ""
        return f"{head}: realised SQL rate not measured yet{then}. {why_not}".strip()
    realised = figures.mql_sql_rate
    text = (f"{head} became SQLs within {horizon_days} days at {_ci(realised, True, confidence)}"
            f" of {figures.mqls:,} MQL snapshots")
    if not isinstance(promised, (int, float)):
        return text + "; the model card states no promise."
    if realised.below(promised):
        verdict = "below the promise: it no longer holds"
    elif realised.above(promised):
        verdict = "above the promise"
    else:
        verdict = "in line with the promise"
    return f"{text}, against the promised {promised:.1%}" + ("" if bare else f": {verdict}.")


def judge(*, figures: Figures | None, promise: dict[str, Any], promised_metrics: dict[str, Any],
          checks: list[SignalCheck], drifts: list[SignalDrift], score: Distribution | None, inflow: Inflow | None,
          notes: list[str], cfg: Any, horizon_days: int, recent_weeks: int, judged: bool) -> list[Reason]:
    """All reasons, highest level first (see the module docstring). ``judged``: whether the
    realised figures rest on enough SQLs to judge (else they are shown, not weighed)."""
    conf = cfg.confidence
    out: list[Reason] = [Reason("info", "data", note) for note in notes]
    if figures is not None and judged:
        auc = promised_metrics.get("roc_auc")
        if isinstance(auc, (int, float)) and figures.roc_auc.below(auc):
            out.append(Reason("retrain", "performance", f"Ranking is worse than promised: realised ROC-AUC "
                              f"{_ci(figures.roc_auc, confidence=conf)} against {auc:.3f} on validation"))
        rate = promise.get("sql_rate")
        if isinstance(rate, (int, float)):
            if figures.mql_sql_rate.below(rate):
                out.append(Reason("retrain", "promise", "The MQL promise no longer holds: " +
                                  promise_sentence(figures, promise, horizon_days, conf, bare=True)))
            elif figures.mql_sql_rate.above(rate):
                out.append(Reason("info", "promise", "MQLs convert better than promised: " +
                                  promise_sentence(figures, promise, horizon_days, conf, bare=True)))
        share = promise.get("share_of_sqls")
        if isinstance(share, (int, float)) and figures.share_of_sqls.below(share):
            out.append(Reason("watch", "promise", f"The MQL threshold catches fewer SQLs than promised: "
                              f"{_ci(figures.share_of_sqls, True, conf)} of SQL snapshots were MQLs, "
                              f"against {share:.1%} on validation"))
        loss = promised_metrics.get("log_loss")
        if isinstance(loss, (int, float)) and figures.log_loss.above(loss):
            out.append(Reason("watch", "performance", f"Probabilities are less accurate than promised: realised "
                              f"log loss {_ci(figures.log_loss, confidence=conf)} against {loss:.3f} on validation"))
        volume = promise.get("mqls_per_week")
        flagged = figures.mql_leads_per_week
        if isinstance(volume, (int, float)) and volume > 0 and flagged.defined and (
                (flagged.low > volume and flagged.value >= volume * cfg.signal_factor)
                or (flagged.high < volume and flagged.value <= volume / cfg.signal_factor)):
            out.append(Reason("watch", "promise", f"The MQL volume moved: {flagged.value:.1f} leads a week became MQLs "
                              f"({conf:.0%} CI {flagged.low:.1f}-{flagged.high:.1f}) against the {volume:.1f} a week "
                              "of the validation period (sales capacity)"))
        rate_i, predicted = figures.sql_rate, figures.mean_predicted
        if rate_i.defined and predicted > 0 and (rate_i.high < predicted / cfg.signal_factor
                                                 or rate_i.low > predicted * cfg.signal_factor):
            word = "overstate" if rate_i.high < predicted else "understate"
            out.append(Reason("watch", "performance", f"Probabilities {word} the SQL rate: snapshots became SQLs "
                              f"at {_ci(rate_i, True, conf)} where the model predicted {predicted:.1%} on average"))
    for check in checks:
        if check.status == "retrain":
            out.append(Reason("retrain", "relationship", check.sentence(cfg.signal_active_days,
                                                                        cfg.signal_confidence), check.signal))
    if score is not None and score.psi >= cfg.psi_watch:
        level = "retrain" if score.psi >= cfg.psi_retrain else "watch"
        bin_, then, now = score.largest_move()
        out.append(Reason(level, "score", f"The score's distribution shifted: PSI {score.psi:.2f} between the "
                          f"training window and the last {recent_weeks} weeks; scores {bin_} went from {then:.0%} "
                          f"to {now:.0%} of snapshots"))
    for d in drifts:
        if d.level in ("watch", "retrain"):
            out.append(Reason(d.level, "drift", d.sentence(), d.signal))
    if inflow is not None:
        def mix_level(field: str) -> str:
            value = inflow.mix_psi.get(field, 0.0)
            return "retrain" if value >= cfg.psi_retrain else "watch" if value >= cfg.psi_watch else "stable"

        named = set()
        for v in inflow.new_leads:
            level = max(v.level, mix_level(v.field) if v.level != "stable" else "stable", key=_rank)
            if level == "stable":
                continue
            text = volume_sentence(v, recent_weeks)
            if v.field in inflow.mix_psi:
                text += f" (PSI {inflow.mix_psi[v.field]:.2f} of the mix of new leads by {v.field})"
                named.add(v.field)
            out.append(Reason(level, "inflow", text, v.field if v.field != "all" else None))
        for field, value in inflow.mix_psi.items():
            if field in named or mix_level(field) == "stable":
                continue
            mover = _largest_mover(inflow, field)
            out.append(Reason(mix_level(field), "inflow", f"The mix of new leads by {field} shifted: PSI {value:.2f} "
                              f"between the training window and the last {recent_weeks} weeks" + mover, field))
        for v in inflow.activities:
            if v.level != "stable":
                out.append(Reason(v.level, "activity", volume_sentence(v, recent_weeks),
                                  v.name if v.field == "family" else None))
        then, now = inflow.sql_rate_then, inflow.sql_rate_now
        if then.defined and now.defined and then.value > 0 and (now.high < then.low or now.low > then.high):
            ratio = now.value / then.value
            if ratio <= 1 / cfg.signal_factor or ratio >= cfg.signal_factor:
                out.append(Reason("watch", "inflow", f"New leads convert {'less' if ratio < 1 else 'more'} than "
                                  f"they did: {_ci(now, True, conf)} of leads created after the model's data became "
                                  f"SQLs within {horizon_days} days, against {_ci(then, True, conf)} of those "
                                  "created in the training window"))
    order = {level: i for i, level in enumerate(reversed(LEVELS))}
    return sorted(out, key=lambda r: order[r.level])


def _rank(level: str) -> int:
    return ("stable", *LEVELS).index(level)


def _largest_mover(inflow: Inflow, field: str) -> str:
    """'; paid_search went from 14 % to 38 % of new leads' for the level whose share moved most."""
    levels = [v for v in inflow.new_leads if v.field == field]
    then = sum(v.per_week_then for v in levels)
    now = sum(v.per_week_now for v in levels)
    if not levels or then <= 0 or now <= 0:
        return ""
    v = max(levels, key=lambda v: abs(v.per_week_now / now - v.per_week_then / then))
    return f"; {v.name} went from {v.per_week_then / then:.0%} to {v.per_week_now / now:.0%} of new leads"
