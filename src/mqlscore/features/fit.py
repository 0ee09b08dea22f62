"""Fit features: who the lead is and the organisation it belongs to.

Everything here is a fact about the lead at creation, except its age. Personal
data (email, names, raw title) is turned into derived facts and dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from mqlscore.contract.schema import DERIVED_LEAD_COLUMNS, LEAD_COLUMNS, PERSONAL_COLUMNS, PERSONAL_NAMES

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
NOT_FEATURES = frozenset(LEAD_COLUMNS) | PERSONAL_COLUMNS | frozenset({
    "phone_number", "linkedin_url", "address", "street", "zip", "postal_code", "ip_address", "owner",
    "owner_id", "lead_owner",
})


CATEGORICAL_FIT = ("persona", "seniority", "committee_role", "org_type", "geography", "ehr_vendor", "lead_source")


_EMAIL_DOMAIN = re.compile(r"@([a-z0-9.-]+\.[a-z]{2,})$")


def is_missing(value: object) -> bool:
    """None, pandas' NA or NaT, or a NaN of any float type."""
    return value is None or value is pd.NA or value is pd.NaT or (
        isinstance(value, (float, np.floating)) and bool(np.isnan(value)))


def _strip_one(value: object) -> str | None:
    """Stripped text, None when missing or empty."""
    return None if is_missing(value) else str(value).strip() or None


def _clean_one(value: object) -> str | None:
    """Stripped lower-case text, None when missing or empty."""
    text = _strip_one(value)
    return text.lower() if text is not None else None


def _per_distinct(values: pd.Series | np.ndarray, fn: Callable[[object], object]) -> np.ndarray:
    """``fn`` of each value as an object array, computed once per distinct value.

    Plain Python per distinct value costs microseconds for the one lead of a
    service request and stays fast for a million rows with few distinct values."""
    array = np.asarray(values, dtype=object)
    if len(array) <= 64:
        return np.array([fn(v) for v in array] + [None], dtype=object)[:-1]
    codes, uniques = pd.factorize(array, use_na_sentinel=True)
    table = np.array([fn(v) for v in uniques] + [fn(None)], dtype=object)
    return table[codes]  # code -1 (missing) takes the last entry


def _domain_of(value: object) -> str | None:
    text = _clean_one(value)
    match = _EMAIL_DOMAIN.search(text) if text else None
    return match.group(1) if match else None


def _free_mail_of(value: object) -> float:
    domain = _domain_of(value)
    return np.nan if domain is None else float(domain in FREE_MAIL_DOMAINS)


def free_mail_flag(emails: pd.Series) -> np.ndarray:
    """1.0 for a free-mail address, 0.0 for a corporate one, NaN when unknown."""
    return _per_distinct(emails, _free_mail_of).astype(float)


def _region(country: str | None, state: str | None) -> str | None:
    region = US_REGIONS.get(state.upper()) if state else None
    c = country.upper() if country else None
    if c == "CA":
        return "canada"
    if c is not None and c != "US":
        return "non_us"
    if c == "US" or region is not None:
        return region or "us_unknown_state"
    return None


def geography(country: pd.Series, state: pd.Series) -> np.ndarray:
    """US Census region from the state, ``canada``, ``non_us``, or None when unknown."""
    c, s = _clean_text(country), _clean_text(state)
    return np.array([_region(a, b) for a, b in zip(c, s)] + [None], dtype=object)[:-1]


def _log10(values: pd.Series | np.ndarray) -> np.ndarray:
    v = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(v > 0, np.log10(np.where(v > 0, v, 1.0)), np.where(v == 0, 0.0, np.nan))


def _clean_text(values: pd.Series | np.ndarray) -> np.ndarray:
    """Stripped lower-case text as an object array, None where missing or empty."""
    return _per_distinct(values, _clean_one)


def stripped_text(values: pd.Series | np.ndarray) -> np.ndarray:
    """Stripped text (case kept: identifiers) as an object array, None where missing or empty."""
    return _per_distinct(values, _strip_one)


def _column_or_none(leads: pd.DataFrame) -> Callable[[str], pd.Series]:
    """A column of ``leads`` by name, or a column of None when the leads have none."""
    none = np.full(len(leads), None, dtype=object)
    return lambda name: leads[name] if name in leads else pd.Series(none, index=leads.index)


def lead_facts(leads: pd.DataFrame) -> dict[str, np.ndarray]:
    """Static fit facts per lead, one array per fact in the leads' order (raw
    categorical values as object arrays; vocabularies are applied later)."""
    col = _column_or_none(leads)
    titles = _title_facts(leads, col)
    org = _clean_text(col("org_type"))
    employees = pd.to_numeric(col("employee_count"), errors="coerce").to_numpy(float)
    employer = org == "employer"
    employer_500 = np.where(employer & ~np.isnan(employees), (employees >= 500).astype(float), np.nan)
    return {
        "persona": titles["persona"],
        "seniority": titles["seniority"],
        "committee_role": titles["committee_role"],
        "org_type": org,
        "log10_employees": _log10(employees),
        "log10_beds": _log10(col("bed_count")),
        "log10_covered_lives": _log10(col("covered_lives")),
        "employer_500_plus": employer_500,
        "geography": geography(col("country"), col("state")),
        "ehr_vendor": _clean_text(col("ehr_vendor")),
        "free_mail": _free_mail_facts(leads, col),
        "lead_source": _clean_text(col("lead_source")),
    }


def committee_facts(leads: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """:func:`lead_facts`' committee role and organisation type alone (object arrays, in
    the leads' order): what a buying group's committee coverage reads. The other facts
    (sizes, e-mail, geography) took most of ``lead_facts``' time there."""
    col = _column_or_none(leads)
    return _title_facts(leads, col)["committee_role"], _clean_text(col("org_type"))


_TITLE_FACTS = dict(zip(("persona", "seniority", "committee_role"), DERIVED_LEAD_COLUMNS["job_title"]))
_FREE_MAIL = DERIVED_LEAD_COLUMNS["email"][0]


def _title_facts(leads: pd.DataFrame, col: Callable[[str], pd.Series]) -> dict[str, np.ndarray]:
    """Persona, seniority and committee role from the raw title, or, for minimised
    leads (no title column), the facts derived from it when they were stored."""
    from mqlscore.features.titles import title_labels

    if "job_title" in leads or not any(c in leads for c in _TITLE_FACTS.values()):
        return title_labels(col("job_title"))
    given = {fact: np.asarray(col(stored), dtype=object) for fact, stored in _TITLE_FACTS.items()}
    missing = {fact: pd.isna(values) for fact, values in given.items()}
    if not any(m.any() for m in missing.values()):  # the store's usual lead: every fact kept
        return given
    labels = title_labels(col("job_title"))
    return {fact: np.where(missing[fact], labels[fact], values).astype(object) for fact, values in given.items()}


def _free_mail_facts(leads: pd.DataFrame, col: Callable[[str], pd.Series]) -> np.ndarray:
    """The free-mail flag from the address, or the stored flag of a minimised lead."""
    if "email" not in leads and _FREE_MAIL in leads:
        return pd.to_numeric(leads[_FREE_MAIL], errors="coerce").to_numpy(float)
    return free_mail_flag(col("email"))


def minimise_leads(leads: pd.DataFrame) -> pd.DataFrame:
    """The leads as the lead store keeps them: every column whose name reads as
    personal (:func:`looks_personal`: email, names, job title, phone, address, ...)
    dropped, and in place of the title and the address the facts the features
    derive from them (``contract.schema.DERIVED_LEAD_COLUMNS``). The features of a
    minimised lead equal those of the lead as given (tested); nothing in it names
    or reaches a person beyond what a score needs."""
    facts = lead_facts(leads)
    kept = leads[[c for c in leads.columns if not looks_personal(c) and c not in _DERIVED_NAMES]].copy()
    for fact, stored in _TITLE_FACTS.items():
        kept[stored] = facts[fact]
    kept[_FREE_MAIL] = facts["free_mail"]
    return kept


_DERIVED_NAMES = frozenset(c for columns in DERIVED_LEAD_COLUMNS.values() for c in columns)


def column_key(name: object) -> str:
    """A column name for matching names a person typed: lower case, without
    spaces, ``_`` or ``-`` (" Lead Status ", "lead_status" and "Lead-Status" match)."""
    return re.sub(r"[\s_-]+", "", str(name)).lower()


_PERSONAL_KEYS = frozenset(column_key(name) for name in PERSONAL_NAMES)


def looks_personal(name: object) -> bool:
    """Whether a column's name reads like personal or identifying data (an email,
    a name, a phone number, a job title, an address, an owner), in any spelling."""
    return column_key(name) in _PERSONAL_KEYS


def extra_columns(leads: pd.DataFrame, exclude: tuple[str, ...]) -> list[str]:
    """Lead columns beyond the contract's own that may become generic features
    (``exclude`` names match ignoring case, spaces, ``_`` and ``-``). Columns
    whose name looks personal (:func:`looks_personal`) never do."""
    skip = {column_key(name) for name in exclude}
    return [c for c in leads.columns
            if c not in NOT_FEATURES and not str(c).startswith("_") and not looks_personal(c)
            and column_key(c) not in skip]


def unmatched_names(names: tuple[str, ...], columns: list[str]) -> list[str]:
    """The ``names`` (e.g. ``features.exclude_columns``) that match none of ``columns`` by :func:`column_key`."""
    keys = {column_key(c) for c in columns}
    return [name for name in names if column_key(name) not in keys]


def unmatched_setting_notes(setting: str, names: tuple[str, ...], extras: list[str], columns: list[str],
                            not_extra: str) -> list[str]:
    """In words, each of a setting's ``names`` that matches none of the ``extras``
    (extra feature columns): it matches no column at all, or it names one of
    ``columns`` that is not an extra (``not_extra`` says why the setting then does nothing)."""
    notes = []
    for name in unmatched_names(names, extras):
        if unmatched_names((name,), columns):
            notes.append(f"{setting}: {name!r} matches no lead column (names match ignoring case, spaces, '_' "
                         "and '-')")
        else:
            notes.append(f"{setting}: {name!r} names {not_extra}; the setting does nothing for it")
    return notes


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


# The quantiles kept of each numeric extra column: enough to say "top 10 %" or
# "bottom 25 %" of the fitted leads, never the values of a lead.
QUANTILE_LEVELS = (0.01, 0.05, 0.10, 0.25, 0.75, 0.90, 0.95, 0.99)


def quantiles(values: np.ndarray) -> dict[float, float]:
    """The :data:`QUANTILE_LEVELS` quantiles of the finite values, as the features
    hold them (float32), by the inverted empirical distribution: the quantile at
    ``p`` is the smallest value with at least a share ``p`` of values at or below
    it, so "``x`` above the 0.90 quantile" means exactly "fewer than 10 % of the
    values are ``x`` or more", ties included. Empty without a finite value."""
    given = np.asarray(values, dtype=np.float32)
    given = given[np.isfinite(given)]
    if not len(given):
        return {}
    points = np.quantile(given.astype(np.float64), QUANTILE_LEVELS, method="inverted_cdf")
    return {level: float(v) for level, v in zip(QUANTILE_LEVELS, points)}


def level_labels(values: pd.Series, levels: list[str]) -> dict[str, str]:
    """For each level (cleaned text, see :func:`as_text`), the spelling the data
    uses most often ("Landing Page Submission" for ``landing page submission``)."""
    frame = pd.DataFrame({"level": _clean_text(values), "raw": stripped_text(values)}).dropna()
    frame = frame[frame["level"].isin(levels)]
    if frame.empty:
        return {}
    counts = frame.value_counts(["level", "raw"]).rename("n").reset_index()
    counts = counts.sort_values(["level", "n", "raw"], ascending=[True, False, True], kind="stable")
    return dict(counts.drop_duplicates("level")[["level", "raw"]].itertuples(index=False, name=None))
