"""The global explanation (``explanations.md`` with charts): what drives
conversion, for marketers and data scientists.

Mean absolute points per business signal of the champion (from
``ScoringModel.attribution``, on the score's scale), SHAP's per-feature summary,
the scorecard's points table (``scorecard_points.csv``, on the score's scale:
its base row plus a lead's bins is that lead's score before clipping), the
learned half-lives next to the 20-30 %-per-quarter rule (``half_lives.csv``) and
conversion by persona, organisation type and buying-committee coverage.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mqlscore.explain import signal_label
from mqlscore.features.decay import DecayReport
from mqlscore.reporting.context import NO_ACTIVITY, varying_features
from mqlscore.scoring import Attribution, ScoringModel

TOP_SIGNALS = 20
TOP_TABLE_ROWS = 40
CONVERSION_COLUMNS = (("persona", "fit__persona"), ("org_type", "fit__org_type"),
                      ("committee roles active", "account__committee_roles_active"))


def write_explanations(folder: Path, model: ScoringModel, X: pd.DataFrame, y: np.ndarray, *,
                       attribution: Attribution | None = None, points_table: pd.DataFrame | None = None,
                       scorecard_is_champion: bool = True, decay: DecayReport | None = None) -> list[Path]:
    """Write ``explanations.md``, ``drivers.png``, ``shap_summary.png``,
    ``conversion.png`` and, when given, ``scorecard_points.csv`` and
    ``half_lives.csv`` for the champion ``model`` on validation rows ``X``
    (labels ``y``). ``attribution``: ``model.attribution`` of ``X`` if already
    computed. Returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    parts = attribution if attribution is not None else model.attribution(model.model_input(X))
    written: list[Path] = []
    drivers = pd.DataFrame({"signal": parts.signals, "group": parts.groups,
                            "mean_abs_points": np.abs(parts.points).mean(axis=0),
                            "mean_points": parts.points.mean(axis=0)}).sort_values("mean_abs_points",
                                                                                   ascending=False)
    # A signal whose features all hold one value on these rows carries nothing (the
    # default activity families of an export without activities): it is left out.
    carrying = carrying_signals(model, parts.features, X)
    left_out = int((~drivers["signal"].isin(carrying)).sum())
    drivers = drivers[drivers["signal"].isin(carrying)]
    drivers["label"] = [signal_label(s) for s in drivers["signal"]]
    top = drivers.head(TOP_SIGNALS).iloc[::-1]
    fig, ax = plt.subplots(figsize=(8, 7))
    ax.barh(top["label"], top["mean_abs_points"], color=["tab:blue" if g == "fit" else "tab:orange"
                                                          for g in top["group"]])
    ax.set_xlabel("mean absolute points per lead (validation)")
    ax.set_title(f"What drives the {model.kind} score (blue: fit, orange: intent)")
    fig.tight_layout()
    fig.savefig(folder / "drivers.png", dpi=110)
    plt.close(fig)

    conversion = _conversion_tables(X, y)
    fig, axes = plt.subplots(1, len(conversion), figsize=(6 * len(conversion), 5))
    for ax, (name, frame) in zip(np.atleast_1d(axes), conversion.items()):
        frame["SQL rate"].iloc[::-1].plot.barh(ax=ax)
        ax.set_title(f"SQL within the horizon by {name}")
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    fig.tight_layout()
    fig.savefig(folder / "conversion.png", dpi=100)
    plt.close(fig)

    scale = model.scale
    lines = ["# What drives conversion", "",
             f"Champion: **{model.kind}**. Points are calibrated and scaled like the score "
             f"(+{scale.points_to_double_odds:g} points per doubling of the odds); features of one business signal "
             "are summed." + (f" Left out: {left_out} signal(s) whose features hold one value on every "
                              "validation row explained, so they carry nothing." if left_out else ""), ""]
    if not model.builder.intent_learned:
        said = ("only the lead columns marked as intent say what a lead did" if model.builder.intent_columns()
                else "no signal says what a lead did")
        lines += [f"**{NO_ACTIVITY}.** The training data holds no activities, so {said}.", ""]
    lines += ["![Drivers](drivers.png)", "", "| signal | group | mean absolute points | mean points |",
              "| --- | --- | --- | --- |"]
    lines += [f"| {r.label} | {r.group} | {r.mean_abs_points:.1f} | {r.mean_points:+.1f} |"
              for r in drivers.head(TOP_SIGNALS).itertuples()]
    _shap_summary(folder / "shap_summary.png", model, X, parts)
    kind = "TreeSHAP value" if model.kind == "lightgbm" else "exact contribution"
    lines += ["", "## SHAP summary of the champion, per feature", "",
              f"Each dot is one validation snapshot's {kind} of a feature in log-odds (right: towards an SQL), "
              "coloured by the feature's value (categoricals by their level's code). The 20 features with the "
              "largest mean absolute value.", "", "![SHAP summary](shap_summary.png)"]
    written += [folder / "explanations.md", folder / "drivers.png", folder / "shap_summary.png",
                folder / "conversion.png"]

    if points_table is not None:
        points_table.to_csv(folder / "scorecard_points.csv", index=False)
        written.append(folder / "scorecard_points.csv")
        which = "the champion" if scorecard_is_champion else "the scorecard candidate (not the champion)"
        lines += ["", "## The scorecard's points table (top of it)", "",
                  f"Points of {which}, on the score's scale: a lead's score before clipping to 0-100 is the "
                  "(base) row plus the points of its bin in each feature; a value never seen in training scores 0. "
                  "Full table: `scorecard_points.csv`.", "", "| feature | bin | points |", "| --- | --- | --- |"]
        lines += [f"| {r.feature} | {r.bin} | {r.points:+.1f} |"
                  for r in points_table.head(TOP_TABLE_ROWS).itertuples()]

    if decay is not None:
        decay.table().to_csv(folder / "half_lives.csv", index=False)
        written.append(folder / "half_lives.csv")
        lines += _half_life_lines(decay)

    lines += ["", "## Conversion by persona, organisation type and committee coverage", "",
              "![Conversion](conversion.png)", ""]
    for name, frame in conversion.items():
        lines += [f"### By {name}", "", "| value | snapshots | SQL rate |", "| --- | --- | --- |"]
        lines += [f"| {v} | {int(r['snapshots']):,} | {r['SQL rate']:.1%} |" for v, r in frame.iterrows()]
        lines.append("")
    (folder / "explanations.md").write_text("\n".join(lines) + "\n")
    return written


def carrying_signals(model: ScoringModel, features: list[str], X: pd.DataFrame) -> set[str]:
    """The business signals of ``features`` of which at least one feature holds
    more than one value in ``X`` (the others carry nothing on these rows)."""
    signal_of = {spec.name: spec.signal for spec in model.builder.specs_}
    varying = varying_features(X[[f for f in features if f in X.columns]])
    return {signal_of.get(f, f) for f in features if f in varying}


def _conversion_tables(X: pd.DataFrame, y: np.ndarray) -> dict[str, pd.DataFrame]:
    """SQL rate by persona, organisation type and committee coverage (aggregates only)."""
    conversion = {}
    for name, column in CONVERSION_COLUMNS:
        if column in X:
            values = X[column].astype(object).where(X[column].notna(), "no account")
            frame = pd.DataFrame({"value": values.to_numpy(), "sql": y}).groupby("value")["sql"].agg(["size", "mean"])
            frame = frame.rename(columns={"size": "snapshots", "mean": "SQL rate"})
            conversion[name] = frame.sort_index(key=lambda v: v.astype(str)) if column.startswith("account__") \
                else frame.sort_values("SQL rate", ascending=False)
    return conversion


def _half_life_lines(decay: DecayReport) -> list[str]:
    table = decay.table()
    if not len(table):
        return []
    rule = f"{decay.rule_of_thumb_half_life:.0f}" if decay.rule_of_thumb_half_life else "220"
    lines = ["", "## How fast signals fade", "",
             f"The common rule of thumb decays every signal 20-30 % per quarter (25 %: a {rule}-day half-life). "
             "Learned from the data, per signal:", "",
             "| signal | half-life (days) | 95 % interval | lost per quarter |", "| --- | --- | --- | --- |"]
    for r in table[table["identified"]].itertuples():
        lines.append(f"| {signal_label(r.family)} | {r.half_life_days:.0f} | {r.low_days:.0f}-{r.high_days:.0f} "
                     f"| {r.lost_per_quarter:.0%} |")
    return lines


def _shap_summary(path: Path, model: ScoringModel, X: pd.DataFrame, parts: Attribution) -> None:
    """SHAP's beeswarm summary of the model's own contributions (TreeSHAP for
    LightGBM, exact for the scorecard), for data scientists who read SHAP plots."""
    import matplotlib.pyplot as plt
    import shap

    values = pd.DataFrame({f: (X[f].cat.codes.astype(float) if isinstance(X[f].dtype, pd.CategoricalDtype)
                               else X[f].astype(float)) for f in parts.features})
    # A feature without any value in the sample (days since the last activity when the
    # export has none) has no colour to show, and SHAP's colour scale would take the
    # percentiles of an all-NaN column ("All-NaN slice encountered"): it is left out.
    seen = values.notna().any(axis=0).to_numpy()
    contributions = np.asarray(parts.contributions)[:, seen]
    # A seeded generator of its own: the same plot every run, whatever seeded NumPy's global one.
    shap.summary_plot(contributions, values.loc[:, seen], max_display=20, show=False, plot_size=(9, 8),
                      rng=np.random.default_rng(0))
    plt.title(f"SHAP summary: {model.kind}")
    plt.savefig(path, dpi=100, bbox_inches="tight")
    plt.close("all")
