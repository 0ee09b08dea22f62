"""The input data contract: tables, columns, types and the meaning of time.

See ``docs/contract.md`` for the contract in words. This module loads a folder
exported from a CRM, normalises timestamps to UTC, validates it and reports
every problem with its table, column and offending rows.
"""

from __future__ import annotations

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
