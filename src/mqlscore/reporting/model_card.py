"""The model card (``model_card.md``): what the model is for and not for, the
data it learned from, its validation figures next to the hand-set baseline,
its threshold, its limits and how to retrain it. Aggregates only."""

from __future__ import annotations

from pathlib import Path

from mqlscore.evaluation import ModelEvaluation
from mqlscore.reporting.context import ReportContext
from mqlscore.reporting.evaluation_report import leak_lines, shift_lines
from mqlscore.reporting.markdown import (baseline_of, champion_of, count, counts_sentence, metrics_table,
                                         no_activity_sentence, oracle_rows, table, text, threshold_lines,
                                         version_text, window_lines)

GROUP_DESCRIPTIONS = {"fit": "facts about the lead and its organisation",
                      "intent": "engagement signals: decayed activity, recency, lead columns marked as intent",
                      "account": "the buying committee: colleagues in the same account"}


def write_model_card(folder: Path, evaluations: list[ModelEvaluation], context: ReportContext | None = None) -> Path:
    """Write ``model_card.md`` for the champion among ``evaluations``; returns its path."""
    if not evaluations:
        raise ValueError("no model evaluations to describe")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model_card.md"
    path.write_text(_model_card_md(evaluations, context if context is not None else ReportContext()),
                    encoding="utf-8")
    return path


def _feature_lines(context: ReportContext) -> list[str]:
    """The features per group. Groups without features, or whose features all held
    one value on the validation rows, carry nothing and are left out (named below
    the table); without activity data the card says intent was not learned."""
    groups, varying = context.features_by_group, context.varying_by_group
    no_activity = no_activity_sentence(context)
    if not groups and no_activity is None:
        return []
    lines = ["## Features", ""]
    shown = {g: n for g, n in groups.items() if n > 0 and (varying is None or varying.get(g, 0) > 0)}
    if shown and varying is None:
        body = [[text(g), count(n), GROUP_DESCRIPTIONS.get(g, "")] for g, n in shown.items()]
        body.append(["total", count(sum(shown.values())), ""])
        lines += [table(["group", "features", "what"], body), ""]
    elif shown:
        body = [[text(g), count(n), count(varying.get(g, 0)), GROUP_DESCRIPTIONS.get(g, "")]
                for g, n in shown.items()]
        body.append(["total", count(sum(shown.values())), count(sum(varying.get(g, 0) for g in shown)), ""])
        lines += [table(["group", "features", "varying on the validation rows", "what"], body), ""]
    constant = [f"{text(g)} ({count(n)} feature{'' if n == 1 else 's'})" for g, n in groups.items()
                if n > 0 and g not in shown]
    if constant:
        lines += [f"Left out, every value the same on the validation rows: {', '.join(constant)}.", ""]
    if no_activity is not None:
        lines += [no_activity, ""]
    return lines


def _model_card_md(evaluations: list[ModelEvaluation], context: ReportContext) -> str:
    champion, champion_note = champion_of(evaluations, context)
    baseline = baseline_of(evaluations, champion)
    name = text(context.model_name if context.model_name is not None else champion.name)
    why = f" (champion: {text(context.champion_reason)})" if context.champion_reason and not champion_note else ""
    lines = [f"# Model card: {name}", "", "## Model details", "",
             f"- Name: {name}", f"- Version: {version_text(context)}", f"- Model: {text(champion.name)}{why}"]
    if champion_note:
        lines.append(f"- {champion_note}; this card describes `{text(champion.name)}`, the first evaluated model.")
    if context.promotion is not None:
        lines.append(f"- Promotion: {text(context.promotion)}")
    if context.trained_at is not None:
        lines.append(f"- Trained at: {text(context.trained_at)}")
    if context.refit is not None:
        lines.append(f"- Fitted on: {text(context.refit)}")
    lines += ["- Output: a probability that the lead becomes a sales qualified lead (SQL) within the horizon, a "
              "0-100 score, a tier A-D, the MQL flag and the reasons.", ""]

    horizon = f" ({context.horizon_days} days)" if context.horizon_days is not None else ""
    lines += ["## Intended use", "",
              "Prioritising marketing qualified leads (MQLs) for sales follow-up at digital-health and telehealth "
              "vendors: routing, ordering and flagging B2B leads so that sales reps call the most promising first. "
              f"The output is a probability of SQL within the horizon{horizon}, estimated from this organisation's "
              "own historical MQL to SQL conversions.", "",
              "## Not intended for", "",
              "- Any decision about patients: care, eligibility, coverage or clinical priority.",
              "- Decisions about credit, insurance, employment or housing of any person.",
              "- Anything outside B2B lead routing and prioritisation, and use on another organisation's leads "
              "without retraining on its data.", ""]

    data_lines = window_lines(context)
    if context.horizon_days is not None:
        data_lines.append(f"- Horizon: an SQL within {context.horizon_days} days of the snapshot")
    lines += ["## Data", ""] + (data_lines or ["- Data window not recorded."]) + [""]

    fp = context.fingerprint
    if fp is not None:
        rows = "; ".join(f"{text(k)} {count(v)}" for k, v in fp.rows.items())
        lines += ["## Training data fingerprint", "", f"- Rows: {rows}",
                  f"- Time range: {text(fp.time_range[0])} to {text(fp.time_range[1])}",
                  f"- Content hash (SHA-256): `{text(fp.sha256)}`", ""]

    lines += _feature_lines(context)
    lines += leak_lines(context)
    lines += shift_lines(context)

    lines += ["## Validation metrics", "",
              "On the most recent fully labelled period, by time: " + counts_sentence(evaluations)
              + (" These are the figures of the model as chosen, fitted on the older period; the registered model "
                 "was refitted on every labelled snapshot afterwards (see Model details)."
                 if context.refit is not None else ""), "",
              metrics_table([(ev.name, ev.metrics) for ev in (champion, baseline) if ev is not None]
                            + oracle_rows(context)), ""]

    threshold = threshold_lines(context)
    lines += ["## Threshold and policy", ""] + (threshold or ["- No MQL threshold recorded."]) + [""]

    lines += ["## Limits", ""]
    lines += [f"- {text(n)}" for n in context.notes]
    lines += ["- Censoring: snapshots whose horizon had not ended by the as-of time have unknown labels and were "
              "left out; leads that convert slowly are under-represented in the most recent data.",
              "- Drift: campaigns, products, pricing, markets and CRM practice change; so does what predicts an SQL. "
              "Watch the SQL rate of new MQLs and retrain when it moves.",
              "- The label is what sales accepted as an SQL: the model learns this organisation's past qualification "
              "practice, including its habits and biases.",
              "- Figures come from one validation period and carry sampling error (see the evaluation report); "
              "rows are snapshots, and a lead may contribute several.",
              "- Personal data: no emails, names or job titles are used or stored; only derived features are "
              "(free-mail or corporate address, persona and seniority parsed from the title). "
              "This card and the evaluation hold aggregates only, never lead ids.", ""]

    retrain = f" (`{text(context.retrain_command)}`)" if context.retrain_command is not None else ""
    lines += ["## How to retrain", "",
              "1. Export a fresh folder of leads, activities and outcomes from the CRM (map it with "
              "`mqlscore import` if needed) and check it with `mqlscore validate DIR`.",
              f"2. Run training on it{retrain}: it builds point-in-time snapshots, fits the models, validates them by "
              "time on the most recent fully labelled period, logs everything to MLflow and writes a new evaluation "
              "report and model card.",
              "3. Promote the new model only if it beats the current champion on the validation period, and "
              "compare the SQL rate among MQLs at the new threshold.", ""]
    return "\n".join(lines)
