"""The feature registry: every feature's name, group, business signal, how it
is computed, and the plain words a sales rep reads about its signal.

Features that describe one business signal (a signal family's decayed counts
at several half-lives, its recency and recent counts; the levels of one
categorical field) share a ``signal`` so that explanations group them and the
rep sees the signal once.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal

Group = Literal["fit", "intent", "account"]

# family -> (what the lead did, in words; noun for counts)
ACTIVITY_WORDS: dict[str, tuple[str, str]] = {
    "act:demo_request": ("Requested a demo", "demo requests"),
    "act:contact_sales": ("Asked to talk to sales", "contact-sales requests"),
    "act:baa_request": ("Requested a BAA", "BAA requests"),
    "act:security_review": ("Asked for a security review", "security-review requests"),
    "act:sandbox_signup": ("Signed up for the FHIR/API sandbox", "sandbox sign-ups"),
    "act:webinar_attended": ("Attended a live webinar", "webinars attended"),
    "act:webinar_registered": ("Registered for a webinar", "webinar registrations"),
    "act:event_booth_scan": ("Visited the booth at a conference", "booth visits"),
    "act:content_download": ("Downloaded content", "downloads"),
    "act:email_open": ("Opened a marketing email", "email opens"),
    "act:email_click": ("Clicked a marketing email", "email clicks"),
    "act:form_submit": ("Filled in a web form", "form fills"),
    "act:chat_started": ("Chatted on the website", "chats"),
    "act:unsubscribe": ("Unsubscribed from email", "unsubscribes"),
    "act:other": ("Had other tracked activity", "other activities"),
    "page:pricing": ("Visited the pricing page", "pricing-page visits"),
    "page:security": ("Read the security / HIPAA / BAA pages", "security-page visits"),
    "page:integrations": ("Looked at EHR integration / FHIR pages", "integration-page visits"),
    "page:evidence": ("Read the clinical evidence", "clinical-evidence visits"),
    "page:case_studies": ("Read customer case studies", "case-study visits"),
    "page:roi": ("Used the ROI pages", "ROI-page visits"),
    "page:blog": ("Read the blog", "blog visits"),
    "page:careers": ("Looked at the careers pages", "careers-page visits"),
    "page:demo_contact": ("Visited the demo / contact page", "demo/contact-page visits"),
    "page:home": ("Visited the home page", "home-page visits"),
    "page:other": ("Visited other pages", "other page visits"),
}

FIT_WORDS: dict[str, str] = {
    "persona": "Role (from the job title)",
    "seniority": "Seniority (from the job title)",
    "committee_role": "Buying-committee role (from the job title)",
    "org_type": "Organisation type",
    "log10_employees": "Organisation size (employees)",
    "log10_beds": "Beds",
    "log10_covered_lives": "Covered lives",
    "employer_500_plus": "Self-insured employer with 500+ employees",
    "geography": "Region",
    "ehr_vendor": "EHR vendor",
    "free_mail": "Free-mail address (gmail, yahoo, ...)",
    "lead_source": "Lead source",
    "lead_age_days": "Days since the lead was created",
}


@dataclass(frozen=True)
class FeatureSpec:
    """One model input."""

    name: str
    group: Group
    signal: str
    kind: Literal["numeric", "categorical"]
    description: str
    template: str

    def to_dict(self) -> dict:
        """Plain data for JSON."""
        return asdict(self)


@dataclass(frozen=True)
class ColumnFacts:
    """What the fitted leads say about one extra lead column, so that a reason can
    put a lead's value in context: ``quantiles`` of a numeric column (level ->
    value, ``features.fit.QUANTILE_LEVELS``) and, for a categorical one, the data's
    own spelling of each level (``labels``). Aggregates only, never a lead's value."""

    quantiles: Mapping[float, float] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


def safe_name(text: str) -> str:
    """A feature-name fragment of lower-case letters, digits and underscores."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "x"


def family_words(family: str) -> tuple[str, str]:
    """(what the lead did, noun for counts) for any family, including learned ones."""
    if family in ACTIVITY_WORDS:
        return ACTIVITY_WORDS[family]
    kind, _, rest = family.partition(":")
    if kind == "page":
        section = rest.removeprefix("section:")
        return f"Visited the /{section} pages", f"/{section} page visits"
    return f"Had '{rest}' activity", f"'{rest}' activities"


def intent_specs(families: list[str], half_lives: tuple[float, ...], windows: tuple[int, ...]) -> list[FeatureSpec]:
    """The intent features of each signal family, plus whole-lead recency and the
    evidence stage; none without families (no activity data when the builder was
    fitted: intent is not learned, and recency or an evidence stage would be
    constant)."""
    specs: list[FeatureSpec] = []
    if not families:
        return specs
    for family in families:
        did, noun = family_words(family)
        base = f"intent__{safe_name(family)}"
        for h in half_lives:
            specs.append(FeatureSpec(
                f"{base}__decay_{h:g}d", "intent", family, "numeric",
                f"sum over {noun} of 0.5 ** (age in days / {h:g})",
                f"{did} {{ago}}"))
        for w in windows:
            specs.append(FeatureSpec(f"{base}__count_{w}d", "intent", family, "numeric",
                                     f"{noun} in the last {w} days", f"{{count}} {noun} in the last {w} days"))
        specs.append(FeatureSpec(f"{base}__days_since", "intent", family, "numeric",
                                 f"days since the last of the {noun} (missing when none)", f"{did} {{ago}}"))
    specs.append(FeatureSpec("intent__any__days_since", "intent", "recency", "numeric",
                             "days since the lead's last activity of any kind (missing when none)",
                             "No activity for {days} days"))
    for w in windows:
        specs.append(FeatureSpec(f"intent__any__count_{w}d", "intent", "recency", "numeric",
                                 f"activities of any kind in the last {w} days",
                                 f"{{count}} activities in the last {w} days"))
    specs.append(FeatureSpec("intent__evidence_stage", "intent", "evidence_stage", "numeric",
                             "steps reached along clinical evidence -> case studies -> EHR integration -> ROI/pricing",
                             "Has come {stage} of 4 steps along evidence, references, integration, pricing"))
    return specs


def fit_specs(categorical: list[str], numeric: list[str], extras: dict[str, str],
              intent: Collection[str] = ()) -> list[FeatureSpec]:
    """Fit features: the contract's fields, derived facts and generic extra columns.
    Extra columns named in ``intent`` (``features.intent_columns``) are engagement
    signals: their group is ``intent``."""
    specs = [FeatureSpec(f"fit__{name}", "fit", name, "categorical", FIT_WORDS.get(name, name),
                         f"{FIT_WORDS.get(name, name)}: {{value}}") for name in categorical]
    specs += [FeatureSpec(f"fit__{name}", "fit", name, "numeric", FIT_WORDS.get(name, name),
                          f"{FIT_WORDS.get(name, name)}: {{value}}") for name in numeric]
    for col, kind in extras.items():
        engagement = col in intent
        specs.append(FeatureSpec(f"extra__{safe_name(col)}", "intent" if engagement else "fit", f"extra:{col}", kind,
                                 f"lead column '{col}' ({kind}{', engagement' if engagement else ''})",
                                 f"{col}: {{value}}"))
    return specs


def account_specs(roles: tuple[str, ...], window_days: int, half_life_days: float,
                  activities: bool = True) -> list[FeatureSpec]:
    """Buying-committee features of the lead's account. Without activity data
    (``activities`` False) only the colleagues in the CRM: every other account
    feature counts colleagues' activity, and would be zero for every lead."""
    if not activities:
        return [FeatureSpec("account__known_leads", "account", "account_known", "numeric",
                            "other leads of the account in the CRM", "{count} colleagues in the CRM")]
    specs = [FeatureSpec("account__committee_roles_active", "account", "committee", "numeric",
                         f"distinct committee roles among the account's other leads active in the last {window_days} days",
                         "{count} more of the account's buying committee active this month: {roles}")]
    specs += [FeatureSpec(f"account__committee_{role}", "account", "committee", "numeric",
                          f"1 when another lead of the account in the {role} role was active in the last "
                          f"{window_days} days", "{roles}") for role in roles]
    specs += [
        FeatureSpec("account__engaged_leads", "account", "account_engagement", "numeric",
                    f"other leads of the account active in the last {window_days} days",
                    "{count} colleagues engaged in the last month"),
        FeatureSpec("account__known_leads", "account", "account_engagement", "numeric",
                    "other leads of the account in the CRM", "{count} colleagues in the CRM"),
        FeatureSpec(f"account__intent_decay_{half_life_days:g}d", "account", "account_intent", "numeric",
                    f"high-intent activity of the account's other leads, half-life {half_life_days:g} days",
                    "High-intent activity from colleagues at the account"),
    ]
    return specs
