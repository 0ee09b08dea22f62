"""Explanations: feature contributions turned into points per business signal
and into plain words a sales rep can read ("Requested a BAA 6 days ago (+14)").

Contributions arrive in log-odds (TreeSHAP for LightGBM, exact for the
scorecard); here they are grouped by the feature registry's signals, so a
family's decayed counts, recency and recent counts show up once. Texts come from
derived feature values only: never an email, a name or a raw job title.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from mqlscore.features.registry import FIT_WORDS, FeatureSpec, family_words, safe_name
from mqlscore.features.titles import PERSONA_LABELS

ROLE_WORDS = {"clinical_champion": "clinical champion", "it_security": "IT security", "finance": "finance",
              "compliance": "compliance"}


def signal_matrix(specs: Sequence[FeatureSpec], features: Sequence[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """(features x signals) 0/1 matrix, the signals' names and groups
    (``fit`` or ``intent``; account signals count as intent)."""
    by_name = {s.name: s for s in specs}
    signals: list[str] = []
    groups: list[str] = []
    index: dict[str, int] = {}
    rows, cols = [], []
    for i, name in enumerate(features):
        spec = by_name[name]
        if spec.signal not in index:
            index[spec.signal] = len(signals)
            signals.append(spec.signal)
            groups.append("fit" if spec.group == "fit" else "intent")
        rows.append(i)
        cols.append(index[spec.signal])
    matrix = np.zeros((len(features), len(signals)))
    matrix[rows, cols] = 1.0
    return matrix, signals, groups


def _ago(days: float) -> str:
    if days < 1:
        return "today"
    if days < 2:
        return "yesterday"
    if days < 60:
        return f"{days:.0f} days ago"
    return f"{days / 30.4:.0f} months ago"


def _fmt(value: object) -> str:
    return str(value).replace("_", " ")


class _Row:
    """One lead's feature values, read from column arrays (far cheaper than ``X.iloc[i]``)."""

    __slots__ = ("columns", "i")

    def __init__(self, columns: dict[str, np.ndarray], i: int) -> None:
        self.columns, self.i = columns, i

    def get(self, name: str, default: object = None) -> object:
        column = self.columns.get(name)
        return default if column is None else column[self.i]


def describe(signal: str, row: pd.Series | _Row) -> str:
    """A short sentence about one business signal of one lead, from its features."""
    if signal.startswith(("act:", "page:")):
        did, noun = family_words(signal)
        base = f"intent__{safe_name(signal)}"
        since = row.get(f"{base}__days_since")
        if since is None or (isinstance(since, float) and math.isnan(since)):
            return f"No {noun} so far"
        recent = row.get(f"{base}__count_30d", 0) or 0
        extra = f", {recent:.0f} times in the last 30 days" if recent > 1 else ""
        return f"{did} {_ago(float(since))}{extra}"
    if signal == "recency":
        since = row.get("intent__any__days_since")
        if since is None or math.isnan(since):
            return "No tracked activity yet"
        return f"No activity for {since:.0f} days" if since >= 30 else f"Last active {_ago(float(since))}"
    if signal == "evidence_stage":
        stage = int(row.get("intent__evidence_stage", 0) or 0)
        return f"Evidence path: step {stage} of 4 (evidence, customer references, EHR integration, ROI/pricing)"
    if signal == "committee":
        total = row.get("account__committee_roles_active")
        if total is None or math.isnan(total):
            return "No account known, so no buying group"
        active = [w for r, w in ROLE_WORDS.items() if row.get(f"account__committee_{r}", 0) == 1]
        if not active:
            return "No one else on the account's buying committee active this month"
        return f"{len(active)} more of the account's buying committee active this month: {', '.join(active)}"
    if signal == "account_engagement":
        engaged, known = row.get("account__engaged_leads"), row.get("account__known_leads")
        if engaged is None or math.isnan(engaged):
            return "No account known"
        return f"{engaged:.0f} colleague(s) engaged in the last 30 days, {known:.0f} in the CRM"
    if signal == "account_intent":
        return "High-intent activity from colleagues at the account"
    return _describe_fit(signal, row)


def _describe_fit(signal: str, row: pd.Series | _Row) -> str:
    value = row.get(f"fit__{signal}") if not signal.startswith("extra:") else row.get(
        f"extra__{safe_name(signal[6:])}")
    missing = value is None or (isinstance(value, float) and math.isnan(value)) or value == "unknown"
    label = FIT_WORDS.get(signal, signal.removeprefix("extra:"))
    if signal == "persona":
        return "Role not recognised from the job title" if missing else f"Role: {PERSONA_LABELS.get(value, _fmt(value))}"
    if missing:
        return f"{label}: not given"
    if signal == "log10_employees":
        return f"Organisation of about {10 ** float(value):,.0f} employees"
    if signal == "log10_beds":
        return f"About {10 ** float(value):,.0f} beds"
    if signal == "log10_covered_lives":
        return f"About {10 ** float(value):,.0f} covered lives"
    if signal == "free_mail":
        return "Free-mail address" if value == 1 else "Corporate email address"
    if signal == "employer_500_plus":
        return "Self-insured employer with 500+ employees" if value == 1 else "Employer under 500 employees"
    if signal == "lead_age_days":
        return f"Lead created {_ago(float(value))}"
    return f"{label}: {_fmt(value)}"


def reasons_for(points: np.ndarray, signals: list[str], groups: list[str], X: pd.DataFrame, top: int
                ) -> list[list[dict]]:
    """Per row, the ``top`` signals by absolute points, with plain words."""
    out: list[list[dict]] = []
    order = np.argsort(-np.abs(points), axis=1)[:, :top]
    columns = {c: (X[c].astype(object).to_numpy() if isinstance(X[c].dtype, pd.CategoricalDtype)
                   else X[c].to_numpy()) for c in X.columns}
    for i in range(len(points)):
        row = _Row(columns, i)
        items = []
        for j in order[i]:
            p = float(points[i, j])
            if abs(p) < 0.05:
                continue
            items.append({"signal": signals[j], "group": groups[j], "text": describe(signals[j], row),
                          "points": round(p, 1), "sign": "+" if p >= 0 else "-"})
        out.append(items)
    return out


def reasons_text(reasons: list[dict], limit: int = 3) -> str:
    """One short line for a CRM field: "Requested a BAA 6 days ago (+14); ..."."""
    return "; ".join(f"{r['text']} ({r['points']:+.0f})" for r in reasons[:limit])


def signal_points(model, X: pd.DataFrame) -> tuple[np.ndarray, list[str], list[str], np.ndarray, np.ndarray]:  # noqa: ANN001
    """Points per business signal for each row of a feature block (calibrated and
    scaled like the score), the signals' names and groups, and per row the bias and
    the raw log-odds (bias + contributions) of the same model pass."""
    contrib, bias, features = model._contributions(X)
    matrix, signals, groups = signal_matrix(model.builder.specs_, features)
    points = (contrib * model.scale.points_per_logit * model.calibrator.a_) @ matrix
    return points, signals, groups, bias, bias + contrib.sum(axis=1)


def write_global_report(folder, model, X: pd.DataFrame, y: np.ndarray, scorecard_points: pd.DataFrame | None,  # noqa: ANN001
                        half_lives: pd.DataFrame | None, rule_half_life: float | None) -> list:
    """``explanations.md`` with charts: what drives conversion (mean absolute
    points per business signal of the champion, the scorecard's points table),
    the learned half-lives next to the 20-30 %-per-quarter rule, and conversion
    by persona, organisation type and buying-committee coverage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    points, signals, groups, _, _ = signal_points(model, X)
    drivers = pd.DataFrame({"signal": signals, "group": groups, "mean_abs_points": np.abs(points).mean(axis=0),
                            "mean_points": points.mean(axis=0)}).sort_values("mean_abs_points", ascending=False)
    drivers["label"] = [_signal_label(s) for s in drivers["signal"]]
    top = drivers.head(20).iloc[::-1]
    fig, ax = plt.subplots(figsize=(8, 7))
    ax.barh(top["label"], top["mean_abs_points"], color=["tab:blue" if g == "fit" else "tab:orange"
                                                          for g in top["group"]])
    ax.set_xlabel("mean absolute points per lead (validation)")
    ax.set_title(f"What drives the {model.kind} score (blue: fit, orange: intent)")
    fig.tight_layout()
    fig.savefig(folder / "drivers.png", dpi=110)
    plt.close(fig)

    conversion = {}
    for name, column in (("persona", "fit__persona"), ("org_type", "fit__org_type"),
                         ("committee roles active", "account__committee_roles_active")):
        if column in X:
            values = X[column].astype(object).where(X[column].notna(), "no account")
            table = pd.DataFrame({"value": values.to_numpy(), "sql": y}).groupby("value")["sql"].agg(["size", "mean"])
            table = table.rename(columns={"size": "snapshots", "mean": "SQL rate"})
            conversion[name] = table.sort_index(key=lambda v: v.astype(str)) if column.startswith("account__") \
                else table.sort_values("SQL rate", ascending=False)
    fig, axes = plt.subplots(1, len(conversion), figsize=(6 * len(conversion), 5))
    for ax, (name, table) in zip(np.atleast_1d(axes), conversion.items()):
        table["SQL rate"].iloc[::-1].plot.barh(ax=ax)
        ax.set_title(f"SQL within the horizon by {name}")
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    fig.tight_layout()
    fig.savefig(folder / "conversion.png", dpi=100)
    plt.close(fig)

    lines = ["# What drives conversion", "",
             f"Champion: **{model.kind}**. Points are calibrated and scaled like the score (+10 points per "
             "doubling of the odds); features of one business signal are summed.", "",
             "![Drivers](drivers.png)", "", "| signal | group | mean absolute points | mean points |",
             "| --- | --- | --- | --- |"]
    lines += [f"| {r.label} | {r.group} | {r.mean_abs_points:.1f} | {r.mean_points:+.1f} |"
              for r in drivers.head(20).itertuples()]
    if scorecard_points is not None:
        lines += ["", "## The scorecard's points table (top of it)", "",
                  "Full table: `scorecard_points.csv`.", "", "| feature | bin | points |", "| --- | --- | --- |"]
        lines += [f"| {r.feature} | {r.bin} | {r.points:+.1f} |" for r in scorecard_points.head(40).itertuples()]
    if half_lives is not None and len(half_lives):
        rule = f"{rule_half_life:.0f}" if rule_half_life else "220"
        lines += ["", "## How fast signals fade", "",
                  f"The common rule of thumb decays every signal 20-30 % per quarter (25 %: a {rule}-day half-life). "
                  "Learned from the data, per signal:", "",
                  "| signal | half-life (days) | 95 % interval | lost per quarter |", "| --- | --- | --- | --- |"]
        for r in half_lives[half_lives["identified"]].itertuples():
            lines.append(f"| {_signal_label(r.family)} | {r.half_life_days:.0f} | {r.low_days:.0f}-{r.high_days:.0f} "
                         f"| {r.lost_per_quarter:.0%} |")
    lines += ["", "## Conversion by persona, organisation type and committee coverage", "",
              "![Conversion](conversion.png)", ""]
    for name, table in conversion.items():
        lines += [f"### By {name}", "", "| value | snapshots | SQL rate |", "| --- | --- | --- |"]
        lines += [f"| {v} | {int(r['snapshots']):,} | {r['SQL rate']:.1%} |" for v, r in table.iterrows()]
        lines.append("")
    (folder / "explanations.md").write_text("\n".join(lines) + "\n")
    return [folder / "explanations.md", folder / "drivers.png", folder / "conversion.png"]


def _signal_label(signal: str) -> str:
    if signal.startswith(("act:", "page:")):
        return family_words(signal)[0]
    if signal.startswith("extra:"):
        return f"{signal[6:]} (lead column)"
    return {"recency": "Recency of any activity", "evidence_stage": "Evidence path",
            "committee": "Buying committee active", "account_engagement": "Colleagues engaged",
            "account_intent": "Colleagues' high-intent activity"}.get(signal, FIT_WORDS.get(signal, signal))
