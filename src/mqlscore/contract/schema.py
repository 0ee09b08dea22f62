"""The one home of the contract's facts: table and column names, dtypes,
vocabularies, the personal columns, the time range scores can be computed for,
the score's tiers and output columns, and the registry's model URIs.

Every other module imports these names; none repeats them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

TABLES = ("leads", "activities", "outcomes")

CANONICAL_ACTIVITY_TYPES = (
    "page_view",
    "content_download",
    "webinar_registered",
    "webinar_attended",
    "demo_request",
    "contact_sales",
    "email_open",
    "email_click",
    "event_booth_scan",
    "baa_request",
    "security_review",
    "sandbox_signup",
    "form_submit",
    "chat_started",
    "unsubscribe",
)

ORG_TYPES = (
    "health_system",
    "hospital",
    "physician_group",
    "payer",
    "employer",
    "digital_health",
    "life_sciences",
    "government",
    "other",
)

EHR_VENDORS = ("epic", "oracle_health", "athenahealth", "meditech", "other", "none")

LEAD_SOURCES = (
    "organic_search",
    "paid_search",
    "conference",
    "webinar",
    "content_syndication",
    "referral",
    "partner",
    "list_import",
    "direct",
)

# Columns holding personal data: never a model input, never logged, never
# written to experiment tracking or shown in an error message.
PERSONAL_COLUMNS = frozenset(
    {"email", "first_name", "last_name", "name", "full_name", "phone", "mobile", "job_title"}
)
# Spellings of personal and identifying columns a CRM export may carry beside the
# contract's own names: matched by ``mqlscore.features.fit.column_key`` ("Phone Number", "E-mail",
# "First Name"), they are never features, so their values never reach a model,
# a saved feature definition or a reason. (Contract fields such as "Lead Source"
# are matched exactly only: under another spelling they are ordinary extras.)
PERSONAL_NAMES = PERSONAL_COLUMNS | frozenset({
    "phone_number", "mobile_phone", "mobile_number", "work_phone", "home_phone", "telephone", "fax",
    "email_address", "e_mail", "work_email", "personal_email", "contact_email",
    "contact_name", "lead_name", "title", "date_of_birth", "birth_date", "birthday",
    "linkedin", "linkedin_url", "linkedin_profile", "address", "street", "street_address", "zip", "zip_code",
    "postal_code", "ip_address", "company_name", "owner", "owner_id", "lead_owner",
})

# What the lead store keeps in place of the personal columns a feature reads: the
# facts derived from them (``mqlscore.features.fit.minimise_leads``). The leading
# ``_`` keeps them from ever being read as a CRM's own extra columns.
DERIVED_LEAD_COLUMNS: dict[str, tuple[str, ...]] = {
    "job_title": ("_persona", "_seniority", "_committee_role"),
    "email": ("_free_mail",),
}


# ---------------------------------------------------------------------------
# Columns of the contract
# ---------------------------------------------------------------------------

LEAD_COLUMNS = (
    "lead_id",
    "created_at",
    "account_id",
    "company_name",
    "email",
    "job_title",
    "org_type",
    "employee_count",
    "bed_count",
    "covered_lives",
    "country",
    "state",
    "ehr_vendor",
    "lead_source",
)
ACTIVITY_COLUMNS = ("lead_id", "occurred_at", "activity_type", "detail")
OUTCOME_COLUMNS = ("lead_id", "sql_at", "disqualified_at")
CONTRACT_COLUMNS: dict[str, tuple[str, ...]] = {
    "leads": LEAD_COLUMNS,
    "activities": ACTIVITY_COLUMNS,
    "outcomes": OUTCOME_COLUMNS,
}
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "leads": ("lead_id", "created_at"),
    "activities": ("lead_id", "occurred_at", "activity_type"),
    "outcomes": ("lead_id",),
}
TIMESTAMP_COLUMNS: dict[str, tuple[str, ...]] = {
    "leads": ("created_at",),
    "activities": ("occurred_at",),
    "outcomes": ("sql_at", "disqualified_at"),
}
COUNT_COLUMNS = ("employee_count", "bed_count", "covered_lives")
CATEGORICAL_VALUES: dict[str, tuple[str, ...]] = {
    "org_type": ORG_TYPES,
    "ehr_vendor": EHR_VENDORS,
    "lead_source": LEAD_SOURCES,
}
# Columns whose values a message may quote (shortened, emails redacted): instants, counts and
# codes with a vocabulary. Any other column may hold personal text even when it is not a
# personal column (a CSV shifted by one column puts a name into company_name or lead_id):
# messages describe such a value by its shape ("text of 14 characters"), never its text. In
# an instant or count column only a value with a digit is quoted: every way of writing a
# date or a number has one, words alone may be a name shifted in.
CODE_COLUMNS = ("org_type", "ehr_vendor", "lead_source", "activity_type", "country", "state")
SAFE_TO_ECHO_COLUMNS = frozenset(
    {*(c for columns in TIMESTAMP_COLUMNS.values() for c in columns), *COUNT_COLUMNS, *CODE_COLUMNS}
)
# Codes compare case-insensitively in CRMs; one spelling keeps categories from splitting.
LOWER_CASE_COLUMNS = frozenset({"org_type", "ehr_vendor", "lead_source", "activity_type"})
UPPER_CASE_COLUMNS = frozenset({"country", "state"})

TIMESTAMP_DTYPE = "datetime64[us, UTC]"
# Times the feature code can represent (it counts in nanoseconds: 1677-2262), with room to spare.
EARLIEST = pd.Timestamp("1900-01-01", tz="UTC")
LATEST = pd.Timestamp("2200-01-01", tz="UTC")
OUT_OF_RANGE = "outside the years 1900-2199"
REJECT_COLUMNS = ("table", "row", "lead_id", "column", "reason", "record")

# ---------------------------------------------------------------------------
# Scores
# ---------------------------------------------------------------------------

TIERS = ("A", "B", "C", "D")  # A is best; the lowest score of A, B and C is configured (ScoringConfig)
# Columns of one scored lead, in the order every output uses.
SCORE_FIELDS = ("lead_id", "probability", "score", "tier", "is_mql")
POINTS_FIELDS = ("base_points", "fit_points", "intent_points")
REASON_FIELDS = ("reasons", "reasons_text")
# A scored file (``mqlscore score --out``); reasons as JSON text in ``reasons_json``.
SCORE_FILE_COLUMNS = ("lead_id", "as_of", "probability", "score", "tier", "is_mql", "fit_points", "intent_points",
                      "base_points", "reasons_json", "reasons_text", "model_name", "model_version")
# A look-back score file (``mqlscore score --all-leads`` or ``--snapshots``): each row's lead
# state at the row's as_of ("closed": disqualified or lost, not an SQL), and whether it became
# an SQL within the model's horizon after that time (empty when that horizon had not ended by
# the export's as-of time: censored).
LEAD_STATES = ("open", "sql", "closed")
HISTORY_FIELDS = ("lead_state", "sql_within_horizon")
HISTORY_SCORE_COLUMNS = SCORE_FILE_COLUMNS + HISTORY_FIELDS
# The MLflow model's output (``mlflow.pyfunc``); reasons as JSON text.
PYFUNC_OUTPUT_COLUMNS = ("lead_id", "probability", "score", "tier", "is_mql", "fit_points", "intent_points",
                         "reasons", "reasons_text", "model_name", "model_version")

# ---------------------------------------------------------------------------
# Account scores (buying groups: the leads sharing an account_id)
# ---------------------------------------------------------------------------

# A committee role's coverage in an account, best first: a lead in the role active within the
# committee window, active within the recent window only, in the CRM but silent, or nobody.
COMMITTEE_STATES = ("engaged", "recent", "silent", "missing")
# The fields of one scored account, in the order every output uses (``is_mqa``: a marketing
# qualified account, the account score's own threshold).
ACCOUNT_FIELDS = ("account_id", "probability", "score", "tier", "is_mqa")
# Roles per coverage state, one field each (``roles_engaged``, ..., ``roles_missing``).
ROLE_FIELDS = tuple(f"roles_{state}" for state in COMMITTEE_STATES)
# An account file (``mqlscore score --accounts --out``): lists as JSON text (roles as role codes,
# lead ids ordered by score, highest first), reasons as JSON text in ``reasons_json``.
ACCOUNT_FILE_COLUMNS = (ACCOUNT_FIELDS[0], "as_of", *ACCOUNT_FIELDS[1:], "n_leads", *ROLE_FIELDS,
                        "best_missing_role", "best_missing_points", "best_missing_text", "base_points",
                        "reasons_json", "reasons_text", "lead_ids_json", "model_name", "model_version")

# ---------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------

DEFAULT_MODEL_NAME = "mqlscore"
CHAMPION_ALIAS = "champion"


def champion_uri(model_name: str = DEFAULT_MODEL_NAME) -> str:
    """The MLflow URI of a registered model's champion: ``models:/NAME@champion``."""
    return f"models:/{model_name}@{CHAMPION_ALIAS}"


def example_lead() -> dict[str, Any]:
    """A made-up lead (no real person) used by the service's self-test, the MLflow model's
    input example and the docs; activities nested as in a ``POST /score`` body."""
    return {
        "lead_id": "L-EXAMPLE", "created_at": "2026-01-05T15:00:00Z", "account_id": "ACC-EXAMPLE",
        "job_title": "VP Digital Innovation", "org_type": "health_system", "employee_count": 12000,
        "country": "US", "state": "MA", "ehr_vendor": "epic", "lead_source": "webinar",
        "activities": [
            {"occurred_at": "2026-01-05T15:00:00Z", "activity_type": "webinar_registered", "detail": "Webinar"},
            {"occurred_at": "2026-01-20T16:30:00Z", "activity_type": "page_view", "detail": "/pricing"},
            {"occurred_at": "2026-01-21T09:10:00Z", "activity_type": "baa_request", "detail": None},
        ],
    }

