"""Explanations in words: points per business signal turned into plain
sentences a sales rep can read ("Requested a BAA 6 days ago (+14)").

The points themselves come from ``ScoringModel.attribution`` (one number per
business signal, calibrated and scaled like the score); this module only
chooses the signals worth saying and says them. Texts come from derived feature
values only: never an email, a name or a raw job title.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from mqlscore.features.fit import is_missing, looks_personal
from mqlscore.features.registry import FIT_WORDS, ColumnFacts, family_words, safe_name

ROLE_WORDS = {"clinical_champion": "clinical champion", "it_security": "IT security", "finance": "finance",
              "compliance": "compliance"}
NUMBER_WORDS = {1: "One", 2: "Two", 3: "Three", 4: "Four"}
WINDOW_WORDS = {7: "week", 14: "2 weeks", 30: "month", 90: "3 months"}
EVIDENCE_STEPS = ("clinical evidence", "customer case studies", "EHR integration", "ROI or pricing")
# Counts are said up to a billion (log10 = 9): beyond, "more than a billion", a typo or a unit
# mix-up being likelier than the fact, and 10 ** 308.3 not even a float.
LARGEST_SAID_LOG10 = 9.0
# Short role nouns for a sentence; the persona table's labels are for lists and charts.
ROLE_NOUNS = {
    "digital_health_exec": "Digital-health executive", "clinical_transformation": "Clinical-transformation leader",
    "clinical_executive": "Clinical executive (CMIO, CMO or CNO)", "payer_clinical": "Health-plan clinical leader",
    "benefits_leader": "Benefits or HR leader", "growth_leader": "Growth or marketing leader",
    "it_security": "Security leader (CISO)", "it_leader": "IT or EHR leader", "finance": "Finance leader",
    "compliance_legal": "Compliance or legal lead", "procurement": "Procurement lead",
    "clinician": "Practising clinician", "operations": "Operations lead", "marketing_staff": "Marketing staff member",
    "student": "Student", "job_seeker": "Job seeker", "vendor": "Likely a vendor (sales, consultant or recruiter)",
}
LEVEL_IN_NOUN = frozenset({"clinical_executive", "it_security", "student", "job_seeker", "vendor", "clinician",
                           "marketing_staff"})
SENIORITY_ADJECTIVES = {"c_level": "C-level", "vp": "VP-level", "director": "Director-level"}
ORG_NOUNS = {
    "health_system": "health system", "hospital": "hospital", "physician_group": "physician group",
    "payer": "health plan", "employer": "employer", "digital_health": "digital-health company",
    "life_sciences": "life-sciences company", "government": "government agency", "other": "organisation",
}
FIT_VALUE_WORDS: dict[str, dict[str, str]] = {
    "geography": {"us_northeast": "the US Northeast", "us_midwest": "the US Midwest", "us_south": "the US South",
                  "us_west": "the US West", "us_territory": "a US territory",
                  "us_unknown_state": "the US (state not given)", "canada": "Canada",
                  "non_us": "a country outside the US and Canada"},
    "ehr_vendor": {"epic": "Epic", "oracle_health": "Oracle Health (Cerner)", "athenahealth": "athenahealth",
                   "meditech": "MEDITECH"},
    "seniority": {"c_level": "C-level title", "vp": "VP-level title", "director": "Director-level title",
                  "manager": "Manager-level title", "individual": "Individual-contributor title",
                  "other": "Title of another level"},
}


# Where a number stands among the fitted leads: (quantile level, share, words), the
# narrowest first. "Top 10 %": fewer than 10 % of the leads had this value or more.
TOP_BANDS = ((0.99, "1 %", "high"), (0.95, "5 %", "high"), (0.90, "10 %", "high"), (0.75, "25 %", "on the high side"))
BOTTOM_BANDS = ((0.01, "1 %", "low"), (0.05, "5 %", "low"), (0.10, "10 %", "low"), (0.25, "25 %", "on the low side"))
# An extra column's level for values rare in training or never seen there.
OTHER_LEVEL = "other"


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


class _Columns:
    """Columns of a feature block as arrays (categoricals as their labels), each
    converted on first use: a reason reads a handful of the block's columns."""

    __slots__ = ("X", "cache")

    def __init__(self, X: pd.DataFrame) -> None:
        self.X, self.cache = X, {}

    def get(self, name: str) -> np.ndarray | None:
        if name not in self.cache:
            column = self.X[name] if name in self.X.columns else None
            if column is not None:
                column = (column.astype(object).to_numpy() if isinstance(column.dtype, pd.CategoricalDtype)
                          else column.to_numpy())
            self.cache[name] = column
        return self.cache[name]


class _Row:
    """One lead's feature values, read from column arrays (far cheaper than ``X.iloc[i]``)."""

    __slots__ = ("columns", "i")

    def __init__(self, columns: _Columns | dict[str, np.ndarray], i: int) -> None:
        self.columns, self.i = columns, i

    def get(self, name: str, default: object = None) -> object:
        column = self.columns.get(name)
        return default if column is None else column[self.i]


def describe(signal: str, row: pd.Series | _Row, facts: ColumnFacts | None = None) -> str:
    """A short sentence about one business signal of one lead, from its features;
    ``facts`` (an extra lead column's, from ``FeatureBuilder.column_facts``) put
    its value in context."""
    if signal.startswith("extra:"):
        return _describe_extra(signal.removeprefix("extra:"), row.get(f"extra__{safe_name(signal[6:])}"), facts)
    if signal.startswith(("act:", "page:")):
        return _describe_family(signal, row)
    if signal == "recency":
        since = _number(row.get("intent__any__days_since"))
        if since is None:
            return "No tracked activity yet"
        if since >= 60:
            return f"No activity for {since / 30.4:.0f} months"
        return f"No activity for {since:.0f} days" if since >= 30 else f"Last active {_ago(since)}"
    if signal == "evidence_stage":
        stage = int(_number(row.get("intent__evidence_stage")) or 0)
        if stage == 0:
            return "Has not started the evidence path (clinical evidence, case studies, integration, pricing)"
        return f"Followed the evidence path {stage} of 4 steps: {', '.join(EVIDENCE_STEPS[:stage])}"
    if signal == "committee":
        if _number(row.get("account__committee_roles_active")) is None:
            return "No account known, so no buying group"
        active = [w for r, w in ROLE_WORDS.items() if row.get(f"account__committee_{r}", 0) == 1]
        if not active:
            return "No one else on the account's buying committee active this month"
        count = NUMBER_WORDS.get(len(active), str(len(active)))
        return f"{count} more of the account's buying committee active this month: {', '.join(active)}"
    if signal == "account_engagement":
        engaged, known = _number(row.get("account__engaged_leads")), _number(row.get("account__known_leads"))
        if engaged is None:
            return "No account known"
        if engaged == 0:
            return f"No colleagues engaged in the last 30 days ({known or 0:.0f} in the CRM)"
        return f"{_plural(engaged, 'colleague')} engaged in the last 30 days, {known or 0:.0f} in the CRM"
    if signal == "account_known":  # a model fitted without activity data: who is in the CRM, not who engaged
        known = _number(row.get("account__known_leads"))
        if known is None:
            return "No account known"
        return f"{_plural(known, 'colleague')} at the account in the CRM" if known else "No colleagues in the CRM yet"
    if signal == "account_intent":
        return "Colleagues at the account showed buying intent (demo, pricing, security, integration)"
    return _describe_fit(signal, row)


def _describe_family(family: str, row: pd.Series | _Row) -> str:
    """"Visited the pricing page 3 times in the last week, most recently yesterday"."""
    did, noun = family_words(family)
    base = f"intent__{safe_name(family)}"
    since = _number(row.get(f"{base}__days_since"))
    if since is None:
        return f"No {noun} so far"
    for days, words in WINDOW_WORDS.items():
        count = _number(row.get(f"{base}__count_{days}d"))
        if count is not None and count >= 2:
            return f"{did} {count:.0f} times in the last {words}, most recently {_ago(since)}"
    return f"{did} {_ago(since)}"


def _describe_extra(column: str, value: object, facts: ColumnFacts | None) -> str:
    """"Total Time Spent on Website: 1,295 — high for this data set (top 10 %)",
    "Lead Origin: Lead Add Form", "Lead Origin: not given"."""
    if looks_personal(column):  # a model saved before such columns were left out: never say the value
        return f"{column}: (personal data, not shown)"
    if _missing(value):
        return f"{column}: not given"
    if isinstance(value, str):  # a categorical column's level: the data's own spelling, "_" read as a space
        if value == OTHER_LEVEL:
            return f"{column}: a less common value"
        labels = facts.labels if facts is not None else {}
        return f"{column}: {_fmt(labels.get(value, value))}"
    number = _number(value)
    if number is None:
        return f"{column}: {_fmt(value)}"
    standing = _standing(number, facts.quantiles) if facts is not None and facts.quantiles else None
    return f"{column}: {number_text(number)}" + (f" — {standing}" if standing else "")


def _standing(value: float, quantiles: Mapping[float, float]) -> str | None:
    """Where ``value`` stands among the fitted leads ("high for this data set (top
    10 %)", "typical for this data set"), from quantiles taken by the inverted
    empirical distribution (``features.fit.quantiles``): above the ``p`` quantile,
    fewer than a share ``1 - p`` of the leads had this value or more; below it,
    fewer than ``p`` had this value or less."""
    if not math.isfinite(value):
        return None
    for level, share, words in TOP_BANDS:
        if level in quantiles and value > quantiles[level]:
            return f"{words} for this data set (top {share})"
    for level, share, words in BOTTOM_BANDS:
        if level in quantiles and value < quantiles[level]:
            return f"{words} for this data set (bottom {share})"
    return "typical for this data set"


def number_text(value: float) -> str:
    """A number as a person writes it: whole numbers without ".0", thousands
    separated ("1,295"), at most two decimals ("2.5", "0.25"), small ones to two
    significant digits ("0.0031"), and no more digits than a float32 feature holds."""
    if not math.isfinite(value):
        return "infinite" if value > 0 else ("minus infinite" if value < 0 else "not a number")
    size = abs(value)
    if size >= 1e15:
        return f"{value:.3g}"
    if size >= 1e7:  # float32 keeps about 7 significant digits: say no more
        value = float(f"{value:.7g}")
    value += 0.0  # never "-0"
    if value == round(value):
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:,.1f}".removesuffix(".0")
    if size >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.2g}"


def _describe_fit(signal: str, row: pd.Series | _Row) -> str:
    value = row.get(f"fit__{signal}")
    missing = _missing(value)
    label = FIT_WORDS.get(signal, signal)
    if signal == "persona":
        return "Role not recognised from the job title" if missing else _who(str(value), row)
    if signal == "org_type" and not missing:
        phrase = _organisation(row)
        return phrase[0].upper() + phrase[1:]
    if missing:
        return f"{label}: not given"
    words = FIT_VALUE_WORDS.get(signal, {})
    if signal == "log10_employees":
        return f"Organisation of {_count_phrase(float(value))} employees"
    if signal == "log10_beds":
        return f"{_count_phrase(float(value)).capitalize()} beds"
    if signal == "log10_covered_lives":
        return f"{_count_phrase(float(value)).capitalize()} covered lives"
    if signal == "free_mail":
        return "Free-mail address" if value == 1 else "Corporate email address"
    if signal == "employer_500_plus":
        return "Self-insured employer with 500+ employees" if value == 1 else "Employer under 500 employees"
    if signal == "lead_age_days":
        return f"Lead created {_ago(float(value))}"
    if signal == "geography":
        return f"Based in {words.get(str(value), _fmt(value))}"
    if signal == "ehr_vendor":
        return {"none": "Has no EHR", "other": "Runs another EHR"}.get(
            str(value), f"Runs {words.get(str(value), _fmt(value))} as its EHR")
    if signal == "seniority":
        return words.get(str(value), f"{_fmt(value).capitalize()}-level title")
    if signal == "committee_role":
        return ("Title is not a buying-committee role" if value == "none"
                else f"Title makes them the buying committee's {ROLE_WORDS.get(str(value), _fmt(value))}")
    if signal == "lead_source":
        return f"Came in through {_fmt(value)}"
    return f"{label}: {_fmt(value)}"


def _who(persona: str, row: pd.Series | _Row) -> str:
    """"VP-level digital-health executive at a 400-bed health system" (never the raw title)."""
    noun = ROLE_NOUNS.get(persona, _fmt(persona))
    level = SENIORITY_ADJECTIVES.get(str(row.get("fit__seniority")), "")
    who = f"{level} {noun[0].lower()}{noun[1:]}" if level and persona not in LEVEL_IN_NOUN else noun
    org = row.get("fit__org_type")
    if _missing(org) or org == "other":
        return who
    return f"{who} at {_organisation(row)}"


def _organisation(row: pd.Series | _Row) -> str:
    """"a 400-bed health system", "a health plan covering about 1.2 million lives",
    "an employer with about 5,000 employees"."""
    org = str(row.get("fit__org_type"))
    noun = ORG_NOUNS.get(org, _fmt(org))
    beds = _number(row.get("fit__log10_beds"))
    lives = _number(row.get("fit__log10_covered_lives"))
    employees = _number(row.get("fit__log10_employees"))
    if org in ("health_system", "hospital") and beds is not None:
        phrase = (f"{_about(10 ** beds)}-bed {noun}" if beds < LARGEST_SAID_LOG10
                  else f"{noun} with more than a billion beds")
    elif org == "payer" and lives is not None:
        phrase = f"{noun} covering {_count_phrase(lives)} lives"
    elif employees is not None:
        phrase = f"{noun} with {_count_phrase(employees)} employees"
    else:
        phrase = noun
    return f"{_article(phrase)} {phrase}"


def _missing(value: object) -> bool:
    """No value: missing (``fit.is_missing``) or the "unknown" level."""
    return is_missing(value) or (isinstance(value, str) and value == "unknown")


def _number(value: object) -> float | None:
    """A feature value as a float; None when missing."""
    if value is None or value is pd.NA:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _count_phrase(log10_count: float) -> str:
    """A count given as its log10, in words: "about 5,200", "about 1.2 million", or
    "more than a billion" (a count of 1e308 passes the contract: never 300 digits)."""
    if not log10_count < LARGEST_SAID_LOG10:  # also infinity
        return "more than a billion"
    return f"about {_about(10 ** log10_count)}"


def _about(n: float) -> str:
    """Two significant digits, readable: 380 -> "380", 5234 -> "5,200", 1.24e6 -> "1.2 million"."""
    if n >= 1e6:
        return f"{n / 1e6:.1f}".removesuffix(".0") + " million"
    if n < 100:
        return f"{n:.0f}"
    digits = 10 ** (len(f"{n:.0f}") - 2)
    return f"{round(n / digits) * digits:,.0f}"


def _article(phrase: str) -> str:
    """"a" or "an" as the phrase is spoken ("an 800-bed", "an 11-bed", "a 100-bed")."""
    head = phrase.split(" ", 1)[0].split("-", 1)[0].replace(",", "")
    if head.isdigit():
        spoken_vowel = head.startswith("8") or (len(head) % 3 == 2 and head.startswith(("11", "18")))
        return "an" if spoken_vowel else "a"
    return "an" if phrase[:1].lower() in "aeiou" else "a"


def _plural(count: float, noun: str) -> str:
    return f"{count:.0f} {noun}" + ("" if count == 1 else "s")


def reasons_for(points: np.ndarray, signals: list[str], groups: list[str], X: pd.DataFrame, top: int,
                facts: Mapping[str, ColumnFacts] | None = None) -> list[list[dict]]:
    """Per row, the ``top`` signals by absolute points, with plain words; ``facts``
    (``FeatureBuilder.column_facts``) put extra lead columns' values in context."""
    facts = facts if facts is not None else {}
    out: list[list[dict]] = []
    order = np.argsort(-np.abs(points), axis=1)[:, :top]
    columns = _Columns(X)
    for i in range(len(points)):
        row = _Row(columns, i)
        items = []
        for j in order[i]:
            p = float(points[i, j])
            if abs(p) < 0.05:
                continue
            items.append({"signal": signals[j], "group": groups[j],
                          "text": describe(signals[j], row, facts.get(signals[j])),
                          "points": round(p, 1), "sign": "+" if p >= 0 else "-"})
        out.append(items)
    return out


def reasons_text(reasons: list[dict], limit: int = 3) -> str:
    """One short line for a CRM field: "Requested a BAA 6 days ago (+14); VP-level
    digital-health executive at a 400-bed health system (+9, fit); ..."."""
    return "; ".join(f"{r['text']} ({_signed(r['points'])}{', fit' if r.get('group') == 'fit' else ''})"
                     for r in reasons[:limit])


def _signed(points: float) -> str:
    # Under one point keeps its decimal: "-0.5", never "-0".
    return f"{points:+.1f}" if abs(points) < 0.95 else f"{points:+.0f}"


def signal_label(signal: str) -> str:
    """A business signal's name for a chart or a table ("Requested a demo", "Persona")."""
    if signal.startswith(("act:", "page:")):
        return family_words(signal)[0]
    if signal.startswith("extra:"):
        return f"{signal[6:]} (lead column)"
    return {"recency": "Recency of any activity", "evidence_stage": "Evidence path",
            "committee": "Buying committee active", "account_engagement": "Colleagues engaged",
            "account_known": "Colleagues in the CRM",
            "account_intent": "Colleagues' high-intent activity"}.get(signal, FIT_WORDS.get(signal, signal))


# --------------------------------------------------------------------------- accounts

# A committee role as "a contact" a rep can go and find.
ROLE_CONTACTS = {"clinical_champion": "clinical champion", "it_security": "IT security contact",
                 "finance": "finance contact", "compliance": "compliance contact"}
# An organisation type as an adjective before "accounts".
ORG_ADJECTIVES = {
    "health_system": "health-system", "hospital": "hospital", "physician_group": "physician-group",
    "payer": "health-plan", "employer": "employer", "digital_health": "digital-health",
    "life_sciences": "life-sciences", "government": "government",
}


def _role(role: object) -> str:
    return ROLE_WORDS.get(str(role), "")


def _since(days: object) -> str:
    value = _number(days)
    return "no tracked activity" if value is None else f"last active {_ago(value)}"


def role_state_text(role: str, state: str, engaged_days: float, recent_days: float) -> str:
    """One committee role's coverage in an account, for a rep: "IT security: engaged
    (active in the last 30 days)", "No finance contact"."""
    words = _role(role) or _fmt(role)
    name = words[0].upper() + words[1:]
    if state == "engaged":
        return f"{name}: engaged (active in the last {engaged_days:g} days)"
    if state == "recent":
        return f"{name}: active in the last {recent_days:g} days, not the last {engaged_days:g}"
    if state == "silent":
        return f"{name}: in the CRM, no activity in the last {recent_days:g} days"
    return f"No {ROLE_CONTACTS.get(role, words)}"


def account_reason_text(signal: str, facts: Mapping[str, object], engaged_days: float = 30,
                        recent_days: float = 90) -> str:
    """A sentence for one signal of an account's score, from derived facts only (lead
    ids, committee roles, counts and days; never a name, an email or a title).

    ``best_lead``: ``lead_id``, ``role``, ``days_since``; ``all_leads``: ``n_leads``;
    ``engagement``: ``engaged``, ``n_leads``; ``role:<role>``: ``state``; ``lead``
    (one lead's share of an aggregation): ``lead_id``, ``role``, ``days_since``."""
    seat = _role(facts.get("role")) or "not on the buying committee"
    if signal == "best_lead":
        return f"Strongest lead {facts.get('lead_id')} ({seat}), {_since(facts.get('days_since'))}"
    if signal == "lead":
        return f"Lead {facts.get('lead_id')} ({seat}), {_since(facts.get('days_since'))}"
    if signal == "all_leads":
        n = int(_number(facts.get("n_leads")) or 0)
        return f"Chances of its {n} open leads combined" if n != 1 else "Chance of its one open lead"
    if signal == "engagement":
        n = int(_number(facts.get("n_leads")) or 0)
        engaged = int(_number(facts.get("engaged")) or 0)
        if not engaged:
            return f"No lead active in the last {engaged_days:g} days"
        return f"{engaged} of {_plural(n, 'lead')} active in the last {engaged_days:g} days"
    if signal.startswith("role:"):
        return role_state_text(signal[5:], str(facts.get("state")), engaged_days, recent_days)
    return signal_label(signal)


def missing_role_text(role: str, org_type: object, evidence: Mapping[str, object] | None, points: float) -> str:
    """The missing committee role that would raise an account's score most, for a rep:
    "No IT security contact yet: 64 % of the health-system accounts that produced an SQL
    here had one, against 31 % of the others. An engaged one would add about 6 points."

    ``evidence`` is what training measured (``sql_share``, ``other_share``,
    ``sql_accounts``, ``org_type``: the organisation type it is about, None for all
    accounts); ``points`` what the account model says one engaged contact adds."""
    contact = ROLE_CONTACTS.get(role, _fmt(role))
    text = f"No {contact} yet"
    if evidence and _number(evidence.get("sql_share")) is not None:
        org = evidence.get("org_type")
        adjective = f"{ORG_ADJECTIVES[str(org)]} " if org is not None and str(org) in ORG_ADJECTIVES else ""
        sql_share, other = float(evidence["sql_share"]), _number(evidence.get("other_share"))
        text += (f": {100 * sql_share:.0f} % of the {adjective}accounts that produced an SQL here had one"
                 + (f", against {100 * other:.0f} % of the others" if other is not None else ""))
    return text + f". An engaged one would add about {max(points, 0):.0f} points."
