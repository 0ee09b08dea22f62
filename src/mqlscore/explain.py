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
