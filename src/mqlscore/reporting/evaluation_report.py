"""The evaluation report: every model's validation figures side by side.

Writes, into one folder: ``metrics.csv`` (one row per model), per model its
calibration, gains, tiers and score-band tables as CSV, four PNG charts
(calibration, cumulative gains, lift, SQL rate per tier) and ``report.md``,
which names the champion, the MQL threshold, the registered version and the
promotion decision. Only aggregates: every table has a small, fixed number of
rows, whatever the number of leads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mqlscore.contract.schema import TIERS
from mqlscore.evaluation import OTHER_TIER, ModelEvaluation
from mqlscore.features.decay import QUARTER_DAYS
from mqlscore.reporting.context import ReportContext
from mqlscore.reporting.markdown import (champion_of, count, counts_sentence, intent_sources, metrics_table,
                                         no_activity_sentence, num, oracle_rows, pct, table, text, threshold_lines,
                                         version_text, window_lines)

DPI = 110
CHART_TITLES = {"calibration.png": "Calibration", "gains.png": "Cumulative gains", "lift.png": "Lift",
                "tiers.png": "SQL rate per tier"}


@dataclass
class EvaluationFiles:
    """What :func:`write_evaluation_report` wrote."""

    folder: Path
    report_md: Path
    pngs: list[Path]
    csvs: list[Path]


def write_evaluation_report(folder: Path, evaluations: list[ModelEvaluation],
                            context: ReportContext | None = None) -> EvaluationFiles:
    """Write the CSV tables, the PNG charts and ``report.md`` for the evaluated models."""
    import matplotlib

    matplotlib.use("Agg")

    if not evaluations:
        raise ValueError("no model evaluations to report")
    names = [ev.name for ev in evaluations]
    stems = [file_stem(n) for n in names]
    if len(set(stems)) != len(stems):
        raise ValueError(f"model names must be distinct (as file names): {names}")
    context = context if context is not None else ReportContext()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    csvs: list[Path] = []
    metrics = pd.DataFrame([{"model": ev.name, **ev.metrics} for ev in evaluations])
    csvs.append(folder / "metrics.csv")
    metrics.to_csv(csvs[-1], index=False)
    for ev, stem in zip(evaluations, stems):
        for kind, frame in (("calibration", ev.calibration), ("gains", ev.gains), ("tiers", ev.tiers),
                            ("score_bands", ev.score_bands)):
            csvs.append(folder / f"{kind}_{stem}.csv")
            frame.to_csv(csvs[-1], index=False)

    if context.accounts is not None:  # the account scores' tables, accounts as units
        ev = context.accounts.champion
        csvs.append(folder / "accounts_metrics.csv")
        pd.DataFrame([{"method": e.name, **e.metrics} for e in context.accounts.evaluations]).to_csv(csvs[-1],
                                                                                                     index=False)
        for kind, frame in (("calibration", ev.calibration), ("gains", ev.gains), ("tiers", ev.tiers)):
            csvs.append(folder / f"accounts_{kind}.csv")
            frame.to_csv(csvs[-1], index=False)

    colors = _colors(names)
    pngs = [
        _plot_calibration(evaluations, colors, folder / "calibration.png"),
        _plot_gains(evaluations, colors, folder / "gains.png"),
        _plot_lift(evaluations, colors, folder / "lift.png"),
        _plot_tiers(evaluations, colors, folder / "tiers.png"),
    ]
    report_md = folder / "report.md"
    report_md.write_text(_report_md(evaluations, context, pngs, csvs), encoding="utf-8")
    return EvaluationFiles(folder=folder, report_md=report_md, pngs=pngs, csvs=csvs)


def file_stem(name: str) -> str:
    """A model name as part of a file name."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")
    return stem or "model"


# --------------------------------------------------------------------------- plots


def _colors(names: list[str]) -> dict[str, Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return {name: cmap(i % 10) for i, name in enumerate(names)}


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    try:
        fig.tight_layout()
        fig.savefig(path, dpi=DPI)
    finally:
        plt.close(fig)
    return path


def _plot_calibration(evaluations: list[ModelEvaluation], colors: dict, path: Path) -> Path:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    fig, ax = plt.subplots(figsize=(7, 6))
    top = 0.0
    for ev in evaluations:
        cal = ev.calibration
        ax.plot(cal["mean_predicted"], cal["observed_rate"], marker="o", color=colors[ev.name], label=ev.name)
        top = max(top, float(np.nanmax(cal[["mean_predicted", "observed_rate"]].to_numpy(dtype=float))))
    top = min(1.0, max(top * 1.08, 0.01))
    ax.plot([0, top], [0, top], linestyle="--", color="grey", label="perfectly calibrated")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    decimals = 0 if top >= 0.05 else 1
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=decimals))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=decimals))
    ax.set_xlabel("Predicted probability of SQL (mean per bin)")
    ax.set_ylabel("Observed SQL rate")
    ax.set_title("Calibration on the validation period\n(10 quantile bins of the predicted probability)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return _save(fig, path)


def _plot_gains(evaluations: list[ModelEvaluation], colors: dict, path: Path) -> Path:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    fig, ax = plt.subplots(figsize=(7, 6))
    for ev in evaluations:
        g = ev.gains
        ax.plot(np.r_[0.0, g["share_of_leads"]], np.r_[0.0, g["share_of_sqls_captured"]], marker="o",
                markersize=3, color=colors[ev.name], label=ev.name)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random order")
    base_rates = {round(ev.metrics.get("base_rate", float("nan")), 12) for ev in evaluations}
    if len(base_rates) == 1:
        base = base_rates.pop()
        if 0 < base < 1:
            ax.plot([0, base, 1], [0, 1, 1], linestyle=":", color="black", label="perfect order")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("Share of leads, highest predicted probability first")
    ax.set_ylabel("Share of all SQLs captured")
    ax.set_title("Cumulative gains on the validation period")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return _save(fig, path)


def _plot_lift(evaluations: list[ModelEvaluation], colors: dict, path: Path) -> Path:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator, PercentFormatter

    fig, ax = plt.subplots(figsize=(7, 5))
    for ev in evaluations:
        g = ev.gains
        ax.plot(g["share_of_leads"], g["lift"], marker="o", color=colors[ev.name], label=ev.name)
    ax.axhline(1.0, linestyle="--", color="grey", label="random order (lift 1)")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator([0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylim(bottom=0)
    ax.set_xlabel("Top share of leads by predicted probability (log scale)")
    ax.set_ylabel("Lift (SQL rate in the top share / overall SQL rate)")
    ax.set_title("Lift on the validation period")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    return _save(fig, path)


def _plot_tiers(evaluations: list[ModelEvaluation], colors: dict, path: Path) -> Path:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    labels = list(TIERS) + ([OTHER_TIER] if any(OTHER_TIER in set(ev.tiers["tier"]) for ev in evaluations) else [])
    fig, ax = plt.subplots(figsize=(8, 5))
    width = 0.8 / len(evaluations)
    x = np.arange(len(labels))
    for i, ev in enumerate(evaluations):
        rates = ev.tiers.set_index("tier")["sql_rate"].reindex(labels).to_numpy(dtype=float)
        bars = ax.bar(x + (i - (len(evaluations) - 1) / 2) * width, np.nan_to_num(rates), width,
                      color=colors[ev.name], label=ev.name)
        for bar, rate in zip(bars, rates):
            if np.isfinite(rate):
                ax.annotate(f"{100 * rate:.0f}%", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            ha="center", va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
    base = evaluations[0].metrics.get("base_rate", float("nan"))
    if np.isfinite(base):
        ax.axhline(base, linestyle="--", color="grey", label=f"overall SQL rate ({100 * base:.1f}%)")
    ax.set_xticks(x, [f"tier {t}" if t in TIERS else t for t in labels])
    ax.set_ylim(0, ax.get_ylim()[1] * 1.08)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0 if ax.get_ylim()[1] >= 0.05 else 1))
    ax.set_xlabel("Tier (A = highest score)")
    ax.set_ylabel("SQL rate within the horizon")
    ax.set_title("SQL rate per tier on the validation period")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper right")
    return _save(fig, path)


# --------------------------------------------------------------------------- markdown


def _threshold_table(evaluations: list[ModelEvaluation]) -> str:
    headers = ["model", "share of rows that are MQLs", "SQL rate among MQLs (precision)",
               "share of all SQLs captured (recall)"]
    body = [[text(ev.name), pct(ev.metrics.get("mql_share")), pct(ev.metrics.get("precision_at_threshold")),
             pct(ev.metrics.get("recall_at_threshold"))] for ev in evaluations]
    return table(headers, body)


def _tiers_table(ev: ModelEvaluation) -> str:
    headers = ["tier", "rows", "share of rows", "SQLs", "SQL rate", "share of SQLs", "lift", "mean predicted"]
    body = [[text(r["tier"]), count(r["n"]), pct(r["share_of_leads"]), count(r["sqls"]), pct(r["sql_rate"]),
             pct(r["share_of_sqls"]), num(r["lift"], 2), pct(r.get("mean_predicted"))]
            for r in ev.tiers.to_dict("records")]
    return table(headers, body)


def _bands_table(ev: ModelEvaluation) -> str:
    headers = ["score", "rows", "share of rows", "SQLs", "SQL rate", "share of SQLs"]
    body = [[text(r["band"]), count(r["n"]), pct(r["share_of_leads"]), count(r["sqls"]), pct(r["sql_rate"]),
             pct(r["share_of_sqls"])] for r in ev.score_bands.to_dict("records")]
    return table(headers, body)


def _quarterly_loss(half_life: float) -> float:
    return 1 - 0.5 ** (QUARTER_DAYS / half_life)


def _half_lives_section(context: ReportContext) -> list[str]:
    decay = context.decay
    if decay is None:
        return []
    rule = decay.rule_of_thumb_half_life if decay.rule_of_thumb_half_life > 0 else None
    lines = ["## Learned half-lives", ""]
    if rule:
        lines += [f"The common practice of decaying hand-set points 20-30 % per quarter means a half-life of about "
                  f"{rule:.0f} days for every signal (25 % lost per quarter). What the data says, per signal:", ""]
    headers = ["signal", "half-life (days)", "95 % interval (days)", "lost per quarter", "identified"]
    if rule:
        headers.append("vs rule of thumb")
    body = []
    for h in decay.half_lives:
        interval = f"{num(h.low_days, 0)}-{num(h.high_days, 0)}" if h.identified else "not identified"
        row = [text(h.family), num(h.half_life_days, 0), interval, pct(h.lost_per_quarter, 0),
               "yes" if h.identified else "no"]
        if rule:
            ratio = h.half_life_days / rule
            comparison = f"fades {1 / ratio:.1f}x faster" if ratio < 1 else f"fades {ratio:.1f}x slower"
            row.append(comparison if h.identified else "n/a")
        body.append(row)
    if rule:
        body.append(["rule of thumb (25 %/quarter)", f"{rule:.0f}", "-", pct(_quarterly_loss(rule), 0), "-", "-"])
    lines += [table(headers, body), ""]
    if decay.half_lives:
        lines += ["A half-life is *identified* when its 95 % interval spans at most about a factor of two each way "
                  "and the signal's weight is clearly non-zero; for the others the data cannot say how fast they "
                  "fade.", ""]
    return lines


def _fit_intent_lines(context: ReportContext) -> list[str]:
    share = context.fit_intent_share
    no_activity = no_activity_sentence(context)
    if not share and no_activity is None:
        return []
    lines = ["## Fit versus intent", ""] + ([no_activity, ""] if no_activity is not None else [])
    if not share:
        return lines
    parts = [f"{text(k)} {pct(v)}" for k, v in share.items()]
    sentence = ("Share of the champion's explanation (mean absolute points over validation rows) coming from each "
                "feature group: " + ", ".join(parts))
    if no_activity is not None:
        sources = intent_sources(context)
        if share.get("intent", 0.0) < 0.0005:
            sentence = ("The score's points come from fit, who the lead is: " + ", ".join(parts) + " of the "
                        "champion's explanation (mean absolute points over validation rows)")
        elif sources:
            sentence += f"; the intent share comes from {' and '.join(sources)}, none from activities"
    return lines + [sentence + ".", ""]


LEAK_TITLE = "Columns that look like they know the outcome"
LEAK_DECISIONS = {
    "stopped": "stopped: training refused",
    "warned": "warned: kept as a feature; check it is known before qualification",
    "allowed": "allowed: kept deliberately (--allow-column / features.allow_columns)",
    "excluded": "excluded (features.exclude_columns): not a feature",
    "kept": "kept: nothing found",
}


def leak_lines(context: ReportContext) -> list[str]:
    """The section on the leak guard's findings (nothing when it did not run);
    shared by the evaluation report and the model card."""
    leaks = context.leaks
    if leaks is None:
        return []
    lines = [f"## {LEAK_TITLE}", ""]
    if not leaks.checked:
        return lines + ["The export has no extra lead columns, so the leak guard had nothing to check.", ""]
    lines += [f"Before any model was fitted, the leak guard measured the {count(leaks.checked)} extra lead "
              "column(s) on the fitting period: how well each alone separates SQLs from the rest, values that "
              "nearly all (or almost never) became SQL, whether it is filled once a lead is closed, and whether its "
              "name reads like an outcome or a sales disposition. Strong evidence stops training; weaker evidence "
              "is a warning.", ""]
    if leaks.columns:
        body = [[text(c.column), text(LEAK_DECISIONS.get(c.decision, c.decision)),
                 text("; ".join(c.evidence) if c.evidence else "none found")] for c in leaks.columns]
        lines += [table(["column", "decision", "evidence"], body), ""]
    else:
        lines += ["None of them looks like it knows the outcome.", ""]
    lines += [f"- {text(note)}" for note in leaks.notes] + ([""] if leaks.notes else [])
    return lines


ACCOUNT_TITLE = "Accounts"


def account_lines(context: ReportContext) -> list[str]:
    """The account section (nothing when the model has no account scores): the account
    methods side by side, the MQA threshold, and the kept method's tiers, calibration and
    lift on the validation period, accounts as units."""
    acc = context.accounts
    if acc is None:
        return []
    ev = acc.champion
    counts = acc.counts
    every = f"every {acc.every_days:g} days" if acc.every_days else "at regular times"
    lines = [f"## {ACCOUNT_TITLE}", "",
             f"An account row is a buying group (an account's open leads; a lead without an account alone) "
             f"{every}; it is positive when at least one of its leads became an SQL within the horizon. Fitted on "
             f"{count(counts.get('fit_rows'))} account rows ({count(counts.get('fit_positives'))} positive), judged "
             f"on the {count(counts.get('validation_rows'))} rows of the validation period "
             f"({count(counts.get('validation_accounts'))} accounts, {count(counts.get('validation_positives'))} "
             "positive). Probabilities are calibrated on the validation period and cross-fitted by account (an "
             "account's rows calibrated by a map fitted on the other accounts); `noisy_or` is the plain "
             "1 - prod(1 - p) of the leads' probabilities, not calibrated.", "",
             metrics_table([(e.name, e.metrics) for e in acc.evaluations]), "",
             f"Kept: **{text(acc.chosen)}**"
             + (f": {text(acc.chosen_because)}." if acc.chosen_because else "."), ""]
    if acc.threshold is not None:
        t = acc.threshold
        lines += [f"MQA threshold (a marketing qualified account; {text(t.detail)}): probability "
                  f"{pct(t.probability, 2)}, account score {num(t.score, 1)}; on the validation period "
                  f"{num(t.mqls_per_week, 1)} MQAs per week, {pct(t.sql_rate)} of them produced an SQL, "
                  f"{pct(t.share_of_sqls)} of the accounts that produced one were MQAs.", ""]
    lines += [f"### Account tiers ({text(acc.chosen)})", "", _tiers_table(ev), ""]
    cal = [[count(r["n"]), pct(r["mean_predicted"]), pct(r["observed_rate"])] for r in ev.calibration.to_dict("records")]
    lines += [f"### Account calibration ({text(acc.chosen)})", "",
              "Ten bins of the predicted probability: mean predicted against the observed share of accounts that "
              "produced an SQL.", "", table(["account rows", "mean predicted", "observed"], cal), ""]
    lift = [[pct(r["share_of_leads"], 0), count(r["n"]), pct(r["share_of_sqls_captured"]), num(r["lift"], 2)]
            for r in ev.gains.to_dict("records")]
    lines += [f"### Account lift ({text(acc.chosen)})", "",
              table(["top share of account rows", "rows", "share of positive rows captured", "lift"], lift), ""]
    return lines


SHIFT_TITLE = "Base rate: fitting period against validation period"


def shift_lines(context: ReportContext) -> list[str]:
    """The section on the base-rate shift between the fitting and the validation
    period (nothing when it was not measured); shared by the report and the model card."""
    shift = context.base_rate_shift
    if shift is None:
        return []
    rates = (f"The fitting period's snapshots became SQL at {pct(shift.rate_before)} ({count(shift.n_before)} "
             f"leads), the validation period's at {pct(shift.rate_after)} ({count(shift.n_after)} leads): "
             f"a ratio of {num(shift.ratio, 2)}.")
    if not shift.shifted:
        return [f"## {SHIFT_TITLE}", "", rates + " No shift worth a warning (a shift is reported when the "
                "difference is significant and the rates differ by a factor of 1.5 or more).", ""]
    return [f"## {SHIFT_TITLE}", "", "**" + text(shift.message()) + "**", "", rates,
            "Probabilities are calibrated on the validation period and the score's base rate (a score of 50) is "
            "the validation period's, so tiers rank leads against the recent rate. Check whether the shift is "
            "real (a new campaign, a changed qualification rule) or an artefact of the export (dates rebuilt from "
            "row order, outcomes filled in late), and retrain when the rate settles.", ""]


def _header_lines(context: ReportContext) -> list[str]:
    lines = []
    if context.model_name is not None:
        lines.append(f"- Model: {text(context.model_name)}")
    if context.model_name is not None or context.model_version is not None:
        lines.append(f"- Version: {version_text(context)}")
    if context.promotion is not None:
        lines.append(f"- Promotion: {text(context.promotion)}")
    if context.trained_at is not None:
        lines.append(f"- Trained at: {text(context.trained_at)}")
    lines += window_lines(context)
    if context.horizon_days is not None:
        lines.append(f"- Horizon: SQL within {context.horizon_days} days")
    if context.refit is not None:
        lines.append(f"- Registered model: {text(context.refit)}")
    return lines


def _report_md(evaluations: list[ModelEvaluation], context: ReportContext, pngs: list[Path],
               csvs: list[Path]) -> str:
    champion, champion_note = champion_of(evaluations, context)
    lines = ["# Evaluation report", ""]
    header = _header_lines(context)
    if header:
        lines += header + [""]
    oracle = oracle_rows(context)
    lines += ["## Models side by side", "",
              "Validation period, threshold-free metrics (higher ROC-AUC and PR-AUC are better; lower log loss and "
              "Brier are better).", "",
              metrics_table([(ev.name, ev.metrics) for ev in evaluations] + oracle), ""]
    if oracle:
        lines += ["The oracle row scores the synthetic data with its true probabilities: the best any model could "
                  "do on these rows.", ""]
    lines += ["At each model's own MQL threshold:", "", _threshold_table(evaluations), ""]

    lines += ["## Champion", ""]
    if champion_note:
        lines += [f"{champion_note}; the tables below are for `{text(champion.name)}`.", ""]
    else:
        reason = context.champion_reason
        because = f": {text(reason).rstrip('.')}." if reason is not None else "."
        lines += [f"The champion is **{text(champion.name)}**{because}", ""]

    threshold = threshold_lines(context)
    if threshold:
        lines += ["## MQL threshold", ""] + threshold + [""]

    lines += [f"## Tiers ({text(champion.name)})", "", _tiers_table(champion), "",
              f"## Score bands ({text(champion.name)})", "", _bands_table(champion), ""]

    lines += ["## Charts", ""]
    for png in pngs:
        lines += [f"![{CHART_TITLES.get(png.name, png.stem)}]({png.name})", ""]

    lines += _half_lives_section(context)
    lines += _fit_intent_lines(context)

    lines += account_lines(context)
    lines += leak_lines(context)
    lines += shift_lines(context)

    model_notes = [f"`{text(ev.name)}`: {note}" for ev in evaluations for note in ev.notes]
    notes = list(context.notes) + model_notes
    if notes:
        lines += ["## Notes", ""] + [f"- {text(n)}" for n in notes] + [""]

    lines += ["## Honesty", "",
              "These are validation-period figures on fully labelled snapshots: " + counts_sentence(evaluations),
              "",
              "- Validation is by time: the models were fitted only on snapshots whose whole horizon ended before the "
              "validation period began, and scored on the most recent fully labelled period.",
              "- Snapshots whose horizon reaches past the as-of time have no known label yet (censored); they are "
              "left out, never counted as non-SQLs.",
              "- A row is a snapshot of an open lead at one moment, and a lead can appear more than once: the "
              "\"share of leads\" in the gains and tier tables is a share of these rows.",
              "- Sampling error: the approximate 95 % intervals of the ROC-AUC (Hanley & McNeil, taking rows as "
              "independent, so somewhat too narrow) are " + "; ".join(
                  f"`{text(ev.name)}` {num(ev.metrics.get('roc_auc_low'))}-{num(ev.metrics.get('roc_auc_high'))}"
                  for ev in evaluations) + ".",
              "- The future differs from the validation period (campaigns, products, markets, CRM practice change): "
              "re-evaluate after each retraining and watch the SQL rate of new MQLs.",
              ""]
    lines += ["## Files", "", "Tables: " + ", ".join(f"[{c.name}]({c.name})" for c in csvs) + ".", ""]
    return "\n".join(lines)
