"""Fit features: who the lead is and the organisation it belongs to.

Everything here is a fact about the lead at creation, except its age. Personal
data (email, names, raw title) is turned into derived facts and dropped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mqlscore.contract import PERSONAL_COLUMNS

FREE_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "ymail.com", "outlook.com", "hotmail.com",
    "hotmail.co.uk", "live.com", "msn.com", "aol.com", "icloud.com", "me.com", "mac.com", "proton.me",
    "protonmail.com", "gmx.com", "gmx.de", "mail.com", "zoho.com", "yandex.com", "comcast.net",
    "att.net", "verizon.net", "sbcglobal.net", "qq.com", "163.com", "web.de", "fastmail.com",
})

US_REGIONS: dict[str, str] = {
    **dict.fromkeys(["CT", "ME", "MA", "NH", "RI", "VT", "NJ", "NY", "PA"], "us_northeast"),
    **dict.fromkeys(["IL", "IN", "MI", "OH", "WI", "IA", "KS", "MN", "MO", "NE", "ND", "SD"], "us_midwest"),
    **dict.fromkeys(["DE", "DC", "FL", "GA", "MD", "NC", "SC", "VA", "WV", "AL", "KY", "MS", "TN", "AR", "LA",
                     "OK", "TX"], "us_south"),
    **dict.fromkeys(["AZ", "CO", "ID", "MT", "NV", "NM", "UT", "WY", "AK", "CA", "HI", "OR", "WA"], "us_west"),
    **dict.fromkeys(["PR", "GU", "VI", "AS", "MP"], "us_territory"),
}

# Columns of the contract that are not generic features: identifiers, display
# fields and personal data. The contract's own fields get dedicated features.
CONTRACT_LEAD_COLUMNS = frozenset({
    "lead_id", "created_at", "account_id", "company_name", "email", "job_title", "org_type", "employee_count",
    "bed_count", "covered_lives", "country", "state", "ehr_vendor", "lead_source",
})
NOT_FEATURES = CONTRACT_LEAD_COLUMNS | PERSONAL_COLUMNS | frozenset({
    "phone_number", "linkedin_url", "address", "street", "zip", "postal_code", "ip_address", "owner",
    "owner_id", "lead_owner",
})

CATEGORICAL_FIT = ("persona", "seniority", "committee_role", "org_type", "geography", "ehr_vendor", "lead_source")


def email_domain(emails: pd.Series) -> pd.Series:
    """The lower-case domain of each email (NaN when missing or malformed)."""
    text = emails.astype("string").str.strip().str.lower()
    return text.str.extract(r"@([a-z0-9.-]+\.[a-z]{2,})$", expand=False)


def free_mail_flag(emails: pd.Series) -> np.ndarray:
    """1.0 for a free-mail address, 0.0 for a corporate one, NaN when unknown."""
    domain = email_domain(emails)
    flag = domain.isin(FREE_MAIL_DOMAINS).astype(float).to_numpy()
    return np.where(domain.isna().to_numpy(), np.nan, flag)


def geography(country: pd.Series, state: pd.Series) -> np.ndarray:
    """US Census region from the state, ``canada``, ``non_us``, or None when unknown."""
    c = pd.Series(_clean_text(country), dtype=object).str.upper()
    region = pd.Series(_clean_text(state), dtype=object).str.upper().map(US_REGIONS)
    out = np.where(c == "CA", "canada", np.where(c.notna() & (c != "US"), "non_us", None)).astype(object)
    us = ((c == "US") | (c.isna() & region.notna())).to_numpy()
    out[us] = region[us].fillna("us_unknown_state").to_numpy()
    return out


def _log10(values: pd.Series | np.ndarray) -> np.ndarray:
    v = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(v > 0, np.log10(np.where(v > 0, v, 1.0)), np.where(v == 0, 0.0, np.nan))


def _clean_text(values: pd.Series) -> np.ndarray:
    """Stripped lower-case text as an object array, None where missing or empty."""
    text = values.astype("string").str.strip().str.lower()
    return text.where(text != "").to_numpy(dtype=object, na_value=None)


def lead_facts(leads: pd.DataFrame) -> pd.DataFrame:
    """Static fit facts per lead (raw categorical values; vocabularies applied later)."""
    from mqlscore.features.titles import parse_titles

    titles = parse_titles(leads["job_title"] if "job_title" in leads else pd.Series(None, index=leads.index))
    col = lambda name: leads[name] if name in leads else pd.Series(None, index=leads.index, dtype=object)  # noqa: E731
    org = _clean_text(col("org_type"))
    employees = pd.to_numeric(col("employee_count"), errors="coerce").to_numpy(float)
    employer = org == "employer"
    employer_500 = np.where(employer & ~np.isnan(employees), (employees >= 500).astype(float), np.nan)
    return pd.DataFrame({
        "persona": titles["persona"].to_numpy(),
        "seniority": titles["seniority"].to_numpy(),
        "committee_role": titles["committee_role"].to_numpy(),
        "org_type": org,
        "log10_employees": _log10(employees),
        "log10_beds": _log10(col("bed_count")),
        "log10_covered_lives": _log10(col("covered_lives")),
        "employer_500_plus": employer_500,
        "geography": geography(col("country"), col("state")),
        "ehr_vendor": _clean_text(col("ehr_vendor")),
        "free_mail": free_mail_flag(col("email")),
        "lead_source": _clean_text(col("lead_source")),
    }, index=leads.index)


def extra_columns(leads: pd.DataFrame, exclude: tuple[str, ...]) -> list[str]:
    """Lead columns beyond the contract's own that may become generic features."""
    skip = NOT_FEATURES | set(exclude)
    return [c for c in leads.columns if c not in skip and not c.startswith("_")]


def numeric_or_text(values: pd.Series) -> str:
    """``numeric`` when (almost) every given value reads as a number, else ``categorical``."""
    given = values.dropna()
    if given.empty:
        return "categorical"
    if pd.api.types.is_bool_dtype(given) or pd.api.types.is_numeric_dtype(given):
        return "numeric"
    parsed = pd.to_numeric(given.astype(str).str.strip(), errors="coerce")
    return "numeric" if parsed.notna().mean() >= 0.98 else "categorical"


def as_number(values: pd.Series) -> np.ndarray:
    """A generic numeric column as float64 (booleans as 0/1, unparsable as NaN)."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float).to_numpy()
    text = values.astype("string").str.strip().str.lower()
    text = text.replace({"true": "1", "false": "0", "yes": "1", "no": "0"})
    return pd.to_numeric(text, errors="coerce").to_numpy(float)


def as_text(values: pd.Series) -> pd.Series:
    """A generic categorical column as stripped lower-case text (None when missing)."""
    return pd.Series(_clean_text(values), index=values.index, dtype=object)
