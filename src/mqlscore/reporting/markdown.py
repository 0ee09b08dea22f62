"""Markdown building blocks shared by the evaluation report and the model card:
number formats, tables, and the sections both print (models side by side, the
champion, the threshold, the counts)."""

from __future__ import annotations

import math
import re

from mqlscore.evaluation import ModelEvaluation
from mqlscore.reporting.context import NO_ACTIVITY, ReportContext

NOT_AVAILABLE = "n/a"


def _absent(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def num(value: float | None, digits: int = 3) -> str:
    """``0.312``; "n/a" for a missing or undefined number."""
    return NOT_AVAILABLE if _absent(value) else f"{float(value):.{digits}f}"


def pct(value: float | None, digits: int = 1) -> str:
    """``31.2 %``; "n/a" for a missing or undefined share."""
    return NOT_AVAILABLE if _absent(value) else f"{100 * float(value):.{digits}f} %"


def count(value: float | None) -> str:
    """``12,345``; "n/a" when missing."""
    return NOT_AVAILABLE if _absent(value) else f"{float(value):,.0f}"


def text(value: object) -> str:
    """A value as one line of markdown-safe text."""
    if value is None:
        return NOT_AVAILABLE
    return " ".join(str(value).split()).replace("|", "\\|")


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A markdown table; pipes inside cells are escaped."""
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(re.sub(r"(?<!\\)\|", r"\\|", cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def champion_of(evaluations: list[ModelEvaluation], context: ReportContext) -> tuple[ModelEvaluation, str | None]:
    """The champion's evaluation, and why it had to be guessed (then the first model stands in)."""
    by_name = {ev.name: ev for ev in evaluations}
    if context.champion in by_name:
        return by_name[context.champion], None
    if context.champion is None:
        return evaluations[0], "No champion was named"
    return evaluations[0], f"The champion `{text(context.champion)}` is not among the evaluated models"


def baseline_of(evaluations: list[ModelEvaluation], champion: ModelEvaluation) -> ModelEvaluation | None:
    """The hand-set baseline's evaluation, if it was evaluated."""
    for ev in evaluations:
        if ev is not champion and "baseline" in ev.name.lower():
            return ev
    return None


def oracle_rows(context: ReportContext) -> list[tuple[str, dict]]:
    """Rows of the metrics table for scores from the true probabilities (synthetic data)."""
    return [(f"{name} (true probabilities)", dict(metrics)) for name, metrics in context.oracle.items()]


def metrics_table(rows: list[tuple[str, dict]]) -> str:
    """Threshold-free metrics, one row per model."""
    headers = ["model", "ROC-AUC", "PR-AUC", "log loss", "Brier", "base rate", "rows", "SQLs"]
    body = [[text(name), num(m.get("roc_auc")), num(m.get("pr_auc")), num(m.get("log_loss"), 4),
             num(m.get("brier"), 4), pct(m.get("base_rate")), count(m.get("n")), count(m.get("positives"))]
            for name, m in rows]
    return table(headers, body)


def threshold_lines(context: ReportContext) -> list[str]:
    """The MQL threshold and what it means on the validation period."""
    t = context.threshold
    if t is None:
        return []
    policy = f"{t.policy} ({t.detail})" if t.detail else t.policy
    digits = 1 if abs(t.mqls_per_week) < 10 else 0
    return [f"- Policy: {text(policy)}",
            f"- Threshold: probability of SQL >= {num(t.probability, 3)} (score >= {num(t.score, 0)})",
            f"- Expected MQL volume: about {num(t.mqls_per_week, digits)} per week",
            f"- SQL rate among MQLs: {pct(t.sql_rate)}",
            f"- Share of all SQLs captured by the MQLs: {pct(t.share_of_sqls)}"]


def window_lines(context: ReportContext) -> list[str]:
    """The data window as bullet lines."""
    w = context.data_window
    if w is None:
        return []
    return [f"- First timestamp: {text(w.first)}", f"- Last timestamp: {text(w.last)}",
            f"- As-of time: {text(w.as_of)}"]


def version_text(context: ReportContext) -> str:
    """The registered version, or "unregistered"."""
    return text(context.model_version) if context.model_version is not None else "unregistered"


def counts_sentence(evaluations: list[ModelEvaluation]) -> str:
    """How many validation rows and SQLs the figures rest on."""
    counts = {(ev.metrics.get("n"), ev.metrics.get("positives")) for ev in evaluations}
    if len(counts) == 1:
        n, pos = counts.pop()
        return (f"{count(n)} validation rows (snapshots of open leads), of which {count(pos)} became SQLs within "
                f"the horizon (base rate {pct(evaluations[0].metrics.get('base_rate'))}).")
    return "Validation rows per model: " + "; ".join(
        f"`{text(ev.name)}` {count(ev.metrics.get('n'))} rows, {count(ev.metrics.get('positives'))} SQLs"
        for ev in evaluations) + "."


def no_activity_sentence(context: ReportContext) -> str | None:
    """"No activity data: intent not learned" and what it means, when the model was
    fitted without activities (None otherwise); shared by the report and the card."""
    if context.intent_learned is not False:
        return None
    columns = context.features_by_group.get("intent", 0) > 0  # lead columns marked as intent
    what = ("no activity features (decayed engagement signals, recency, the evidence path): its only intent "
            "features are lead columns marked as intent, which hold their values at export time" if columns else
            "no features of what leads did (engagement signals, recency, the evidence path)")
    return (f"**{NO_ACTIVITY}.** The training data holds no activities before the as-of time, so the model has "
            f"{what}; activities sent to it later are not counted. Export the CRM's activity table (web visits, "
            "form fills, emails, meetings) to learn intent.")


def intent_sources(context: ReportContext) -> list[str]:
    """Without activity data, where intent points can still come from: the buying
    group's features and lead columns marked as intent, as far as they vary."""
    groups, varying = context.features_by_group, context.varying_by_group
    carries = (lambda g: groups.get(g, 0) > 0 and (varying is None or varying.get(g, 0) > 0))  # noqa: E731
    sources = []
    if carries("account"):
        sources.append("the buying group (colleagues in the same account)")
    if carries("intent"):
        sources.append("lead columns marked as intent (features.intent_columns)")
    return sources
