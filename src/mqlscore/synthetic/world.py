"""The static synthetic world: accounts, their leads, and each lead's true fit.

Everything here is drawn once per seed. The dynamics live in ``process.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mqlscore.synthetic import vocab

SOURCE_MIX = {
    "organic_search": 28, "paid_search": 15, "webinar": 10, "content_syndication": 12, "referral": 6,
    "partner": 5, "list_import": 10, "direct": 10, "conference": 4,
}
# Share of the leads created on a conference day that come from its booth scans (lead source "conference").
CONFERENCE_DAY_BOOTH_SHARE = 0.7

# True fit weights (additive on the log-hazard of becoming an SQL).
FIT_WEIGHTS: dict[str, dict[str, float]] = {
    "persona": {
        "digital_health_exec": 1.2, "clinical_transformation": 1.0, "cmio_cmo": 0.8, "payer_clinical": 0.9,
        "benefits_leader": 0.9, "growth_leader": 0.7, "it_security": 0.3, "it_leader": 0.3, "finance": 0.4,
        "compliance_legal": 0.2, "procurement": 0.1, "clinician": -0.6, "operations": -0.2,
        "marketing_staff": -0.5, "student": -3.0, "job_seeker": -3.0, "vendor": -2.5,
    },
    "seniority": {"c_level": 0.3, "vp": 0.3, "director": 0.15, "manager": 0.0, "individual": -0.3},
    "org_type": {
        "health_system": 0.5, "hospital": 0.3, "physician_group": 0.1, "payer": 0.3, "employer": 0.2,
        "digital_health": 0.0, "life_sciences": -0.3, "government": -0.6, "other": -0.8,
    },
    "geography": {"us": 0.0, "canada": -0.3, "other": -1.0},
    "ehr_vendor": {"epic": 0.3, "oracle_health": 0.2, "athenahealth": 0.1, "meditech": 0.0, "other": -0.1,
                   "none": -0.4, "": 0.0},
    "lead_source": {
        "referral": 0.5, "partner": 0.3, "conference": 0.2, "webinar": 0.1, "organic_search": 0.0,
        "paid_search": -0.1, "direct": 0.1, "content_syndication": -0.4, "list_import": -0.7,
    },
    "free_mail": {"yes": -0.6, "no": 0.0},
    "size": {"per_decade_of_employees": 0.25},
    "employer_500_plus": {"yes": 0.3, "no": -0.5},
}

INTEREST_MEAN = {"champion": 0.0, "it_security": -0.2, "finance": -0.3, "compliance": -0.4,
                 "influencer": -0.3, "junk": -0.1}


def _pick(rng: np.random.Generator, mix: dict[str, float], n: int) -> np.ndarray:
    keys = np.array(list(mix))
    p = np.array(list(mix.values()), dtype=float)
    return keys[rng.choice(len(keys), size=n, p=p / p.sum())]


@dataclass
class Accounts:
    """One row per account (organisation)."""

    frame: pd.DataFrame  # account_id, company_name, org_type, employees, beds, covered_lives,
    # country, state, ehr_vendor, domain, arrival_weight


def build_accounts(n: int, rng: np.random.Generator) -> Accounts:
    """Draw ``n`` organisations with their type, size, place and EHR."""
    org = _pick(rng, vocab.ORG_TYPE_MIX, n)
    log_emp = {
        "health_system": (4.0, 0.4), "hospital": (3.1, 0.35), "physician_group": (2.2, 0.5), "payer": (3.4, 0.6),
        "employer": (3.0, 0.8), "digital_health": (2.0, 0.5), "life_sciences": (3.3, 0.7),
        "government": (3.3, 0.6), "other": (1.8, 0.7),
    }
    mu = np.array([log_emp[o][0] for o in org])
    sd = np.array([log_emp[o][1] for o in org])
    employees = np.round(10 ** rng.normal(mu, sd)).clip(2, 400_000)
    beds = np.where(np.isin(org, ["health_system", "hospital"]), np.round(employees / rng.uniform(5, 9, n)), np.nan)
    lives = np.where(org == "payer", np.round(10 ** rng.normal(5.8, 0.6, n)), np.nan)
    country = _pick(rng, vocab.COUNTRY_MIX, n)
    state = np.where(country == "US", _pick(rng, vocab.US_STATES, n),
                     np.where(country == "CA", _pick(rng, vocab.CA_PROVINCES, n), None))
    ehr = np.where(np.isin(org, ["health_system", "hospital"]), _pick(rng, vocab.EHR_MIX_PROVIDER, n),
                   np.where(org == "physician_group", _pick(rng, vocab.EHR_MIX_CLINIC, n), ""))
    names, domains = _company_names(org, rng)
    size_weight = {"health_system": 3.0, "hospital": 1.6, "payer": 1.8, "employer": 1.2, "digital_health": 1.0,
                   "physician_group": 1.0, "life_sciences": 1.0, "government": 1.2, "other": 0.8}
    arrival = np.array([size_weight[o] for o in org]) * rng.lognormal(0, 0.7, n)
    frame = pd.DataFrame({
        "account_id": [f"ACC-{i:06d}" for i in range(n)], "company_name": names, "org_type": org,
        "employees": employees, "beds": beds, "covered_lives": lives, "country": country, "state": state,
        "ehr_vendor": ehr, "domain": domains, "arrival_weight": arrival,
    })
    return Accounts(frame)


def _company_names(org: np.ndarray, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    names, domains = [], []
    city = rng.choice(vocab.CITY_WORDS, len(org))
    saint = rng.choice(vocab.SAINTS, len(org))
    tech = rng.choice(vocab.TECH_WORDS, len(org))
    tech2 = rng.choice(vocab.TECH_WORDS, len(org))
    emp = rng.choice(vocab.EMPLOYER_WORDS, len(org))
    for i, o in enumerate(org):
        if o == "health_system":
            name = f"{city[i]} Health"
        elif o == "hospital":
            name = f"{saint[i]} {city[i]} Medical Center"
        elif o == "physician_group":
            name = f"{city[i]} Physicians Group"
        elif o == "payer":
            name = f"{city[i]} Health Plan"
        elif o == "employer":
            name = f"{city[i]} {emp[i]}"
        elif o == "digital_health":
            name = f"{tech[i]}{tech2[i].lower()} Health"
        elif o == "life_sciences":
            name = f"{city[i]} Therapeutics"
        elif o == "government":
            name = f"{city[i]} County Department of Health"
        else:
            name = f"{city[i]} Consulting"
        names.append(f"{name} {i}" if i % 3 == 0 else name)
        domains.append("".join(ch for ch in name.lower() if ch.isalnum())[:20] + f"{i}.org")
    return names, domains


def account_daily_rates(accounts: Accounts, n_leads_total: float, total_days: int) -> np.ndarray:
    """Expected new leads per day per account (used to draw future arrivals)."""
    w = accounts.frame["arrival_weight"].to_numpy()
    return n_leads_total * w / w.sum() / total_days


def draw_leads(accounts: Accounts, account_idx: np.ndarray, created_day: np.ndarray,
               conference_days: np.ndarray, rng: np.random.Generator, source: str | None = None) -> pd.DataFrame:
    """Draw the people: persona, seniority, title, contact details, source, fit and interest.

    ``conference_days`` is a boolean per day: leads created on a conference day
    mostly come from a booth scan. ``source`` gives every lead that lead source
    (the extra inflow of a channel whose volume changed).
    """
    n = len(account_idx)
    acc = accounts.frame.iloc[account_idx].reset_index(drop=True)
    persona = np.empty(n, dtype=object)
    for org_type, mix in vocab.PERSONA_MIX.items():
        mask = (acc["org_type"] == org_type).to_numpy()
        persona[mask] = _pick(rng, mix, int(mask.sum()))
    titles, seniority = _titles(persona, rng)
    role = np.array([vocab.PERSONAS[p][0] for p in persona])
    group = np.array([vocab.PERSONAS[p][1] for p in persona])
    drawn = _pick(rng, SOURCE_MIX, n)
    on_conf = conference_days[np.clip(created_day, 0, len(conference_days) - 1)] & (
        rng.random(n) < CONFERENCE_DAY_BOOTH_SHARE)
    drawn = np.where(on_conf, "conference", drawn)
    if source is not None:
        drawn = np.full(n, source)
    free_mail = np.where(group == "junk", rng.random(n) < 0.6, rng.random(n) < 0.12)
    first = rng.choice(vocab.FIRST_NAMES, n)
    last = rng.choice(vocab.LAST_NAMES, n)
    mail_domain = np.where(free_mail, rng.choice(vocab.FREE_MAIL, n), acc["domain"].to_numpy())
    email = [f"{f.lower()}.{l.lower()}{i % 97}@{d}" for i, (f, l, d) in enumerate(zip(first, last, mail_domain))]
    leads = pd.DataFrame({
        "account_idx": account_idx, "created_day": created_day, "persona": persona, "seniority": seniority,
        "committee_role": role, "persona_group": group, "job_title": titles, "lead_source": drawn,
        "free_mail": free_mail, "first_name": first, "last_name": last, "email": email,
    })
    leads["fit"] = true_fit(leads, acc)
    group_mean = np.array([INTEREST_MEAN[g] for g in group])
    leads["interest"] = rng.lognormal(group_mean + 0.15 * leads["fit"].clip(-3, 3), 0.8)
    leads["interest_half_life"] = rng.uniform(20, 90, n)
    leads["silence_limit"] = rng.uniform(90, 180, n)
    leads["product_interest"] = np.where(
        rng.random(n) < np.where(group == "champion", 0.8, 0.4),
        rng.choice(["remote_patient_monitoring", "virtual_care", "behavioral_health", "hospital_at_home",
                    "care_management"], n), None)
    return leads


def source_share_by_day(source: str, conference_days: np.ndarray) -> np.ndarray:
    """Expected share of a day's new leads that come from ``source`` (as ``draw_leads`` assigns them)."""
    share = SOURCE_MIX[source] / sum(SOURCE_MIX.values())
    booth = CONFERENCE_DAY_BOOTH_SHARE * conference_days.astype(float)
    return share * (1 - booth) + (booth if source == "conference" else 0.0)


def true_fit(leads: pd.DataFrame, acc: pd.DataFrame) -> np.ndarray:
    """The fit part of the true log-hazard, from the *true* attributes."""
    w = FIT_WEIGHTS
    fit = leads["persona"].map(w["persona"]).to_numpy(float).copy()
    fit += leads["seniority"].map(w["seniority"]).to_numpy(float)
    fit += acc["org_type"].map(w["org_type"]).to_numpy(float)
    geo = np.where(acc["country"] == "US", "us", np.where(acc["country"] == "CA", "canada", "other"))
    fit += pd.Series(geo).map(w["geography"]).to_numpy(float)
    fit += acc["ehr_vendor"].map(w["ehr_vendor"]).to_numpy(float)
    fit += leads["lead_source"].map(w["lead_source"]).to_numpy(float)
    fit += np.where(leads["free_mail"], w["free_mail"]["yes"], 0.0)
    fit += w["size"]["per_decade_of_employees"] * np.clip(np.log10(acc["employees"].to_numpy(float)) - 3, -2, 2)
    employer = (acc["org_type"] == "employer").to_numpy()
    big = acc["employees"].to_numpy(float) >= 500
    fit += np.where(employer, np.where(big, w["employer_500_plus"]["yes"], w["employer_500_plus"]["no"]), 0.0)
    return fit


def _titles(persona: np.ndarray, rng: np.random.Generator) -> tuple[list[str | None], list[str]]:
    titles: list[str | None] = []
    seniority: list[str] = []
    for p in persona:
        options = vocab.TITLES[p]
        title, level = options[rng.integers(len(options))]
        seniority.append(level)
        titles.append(_mangle_title(title, rng))
    return titles, seniority


def _mangle_title(title: str, rng: np.random.Generator) -> str | None:
    """Make a clean title look typed by a person (or leave it out)."""
    u = rng.random(6)
    if u[0] < 0.07:
        return None
    for old, new in vocab.TITLE_SWAPS:
        if old in title and rng.random() < 0.25:
            title = title.replace(old, new, 1)
            break
    if u[1] < 0.12:
        title = title.lower()
    elif u[1] < 0.17:
        title = title.upper()
    if u[2] < 0.10:
        title = title.replace(",", "")
    if u[3] < 0.06 and " of " in title:
        head, tail = title.split(" of ", 1)
        title = f"{tail}, {head}"
    if u[4] < 0.05:
        title = f"{title} - {rng.choice(['Enterprise', 'North Region', 'Corporate', 'Ambulatory'])}"
    if u[5] < 0.05:
        title = f"  {title} "
    return title
