"""The request and response models of ``POST /score`` (and of the lead card's
``POST /ui/api/score``), and the made-up lead used by the self-test and the docs."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, WithJsonSchema

from mqlscore.contract.schema import COMMITTEE_STATES, TIERS, example_lead

__all__ = ["AccountLead", "AccountReason", "AccountSummary", "ActivityIn", "ErrorBody", "LeadIn", "LeadScore",
           "Notice", "Problem", "Reason", "RoleCoverage", "ScoreRequest", "ScoreResponse", "example_lead"]


def _id_text(value: Any) -> Any:
    """Identifiers may arrive as JSON numbers: 7 and 7.0 mean "7" (as in the contract)."""
    if isinstance(value, bool):
        return value  # rejected by the str type below
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value == int(value) else repr(value)
    return value


# The documented type says what is taken: text, or a number read as its text.
Identifier = Annotated[str, BeforeValidator(_id_text), WithJsonSchema({"anyOf": [{"type": "string"},
                                                                                  {"type": "number"}]})]
LeadId = Annotated[str, BeforeValidator(_id_text), Field(min_length=1),
                   WithJsonSchema({"anyOf": [{"type": "string", "minLength": 1}, {"type": "number"}]})]
Count = Annotated[float | None, Field(default=None, allow_inf_nan=False)]
Tier = Literal[TIERS]  # type: ignore[valid-type]
CommitteeState = Literal[COMMITTEE_STATES]  # type: ignore[valid-type]
# Documented as date-time (the API's clients and fuzzers then send timestamps); the contract decides what
# parses (a date alone is midnight UTC) and refuses the rest, or years outside 1900-2199, with a 422.
_TIMESTAMP = {"format": "date-time"}


class _In(BaseModel):
    # Never echo input values in validation errors: they may be personal data.
    model_config = ConfigDict(hide_input_in_errors=True, extra="allow")


class ActivityIn(_In):
    """One engagement event of a lead (the contract's activities table, without ``lead_id``)."""

    occurred_at: str = Field(description="ISO-8601 timestamp; an offset is converted, none means UTC.",
                             json_schema_extra=_TIMESTAMP)
    activity_type: str = Field(description="e.g. page_view, demo_request, baa_request; unknown types are scored "
                                           "as 'other' activity.")
    detail: str | None = Field(None, description="URL path of a page view, or the asset, event or webinar name.")


class LeadIn(_In):
    """One lead: the contract's lead fields and its activities. Other fields are kept as
    candidate features (numbers, text, booleans), as in a CRM export."""

    lead_id: LeadId = Field(description="Unique within the request (a JSON number is read as "
                                                          "its text: 7 and 7.0 are \"7\").")
    created_at: str = Field(description="ISO-8601 timestamp of the lead's creation.", json_schema_extra=_TIMESTAMP)
    account_id: Identifier | None = Field(None, description="Leads sharing an account_id in one request are "
                                                            "that account's buying group.")
    company_name: str | None = None
    email: str | None = Field(None, description="Only its domain type (free-mail or corporate) is used.")
    job_title: str | None = Field(None, description="Parsed into persona, seniority and committee role.")
    org_type: str | None = None
    employee_count: Count = None
    bed_count: Count = None
    covered_lives: Count = None
    country: str | None = None
    state: str | None = None
    ehr_vendor: str | None = None
    lead_source: str | None = None
    activities: list[ActivityIn] = Field(default_factory=list)


class ScoreRequest(BaseModel):
    """The body of ``POST /score``."""

    model_config = ConfigDict(hide_input_in_errors=True, extra="forbid")

    leads: list[LeadIn] = Field(min_length=1, description="The leads to score; leads sharing an account_id are "
                                                          "one buying group.")
    as_of: str | None = Field(None, json_schema_extra=_TIMESTAMP,
                              description="ISO-8601 moment to score at; default: the moment of the request. "
                                                "What is dated after it has not happened yet: such activities are "
                                                "ignored and such leads are not scored (both named in warnings).")
    # Strict: "yes", "false" or 0 are refused (400), not read as a boolean.
    reasons: StrictBool = Field(True, description="Explain each score (false skips the cost of the explanation).")


class Reason(BaseModel):
    """One business signal's part of the score."""

    signal: str
    group: Literal["fit", "intent"]
    text: str
    points: float
    sign: Literal["+", "-"]


class LeadScore(BaseModel):
    """The score of one lead."""

    lead_id: str = Field(min_length=1)
    probability: float = Field(description="Calibrated probability of becoming an SQL within the horizon.")
    score: float = Field(description="0-100; +10 points doubles the odds.")
    tier: Tier
    is_mql: bool
    base_points: float | None = Field(None, description="Points of an average lead; base + fit + intent = score "
                                                        "before clipping to 0-100.")
    fit_points: float | None = None
    intent_points: float | None = None
    reasons: list[Reason] | None = Field(None, description="Largest signals first (null with reasons=false).")
    reasons_text: str | None = None
    model_name: str
    model_version: str


class Notice(BaseModel):
    """Something the data contract noticed but that did not stop scoring (an activity
    dated after ``as_of`` ignored, a value outside a known list kept, ...)."""

    field: str
    message: str


class RoleCoverage(BaseModel):
    """One buying-committee role in an account: engaged (a lead in it active within the
    committee window), recent (active within three windows), silent (in the request, not
    active that recently) or missing."""

    role: str = Field(description="clinical_champion, it_security, finance or compliance.")
    state: CommitteeState
    text: str


class AccountLead(BaseModel):
    """One lead of an account, as the account view lists it."""

    lead_id: str
    score: float
    committee_role: str | None = Field(None, description="Its seat on the buying committee (from the title); "
                                                         "null when none.")
    state: Literal["engaged", "recent", "silent"]


class AccountReason(BaseModel):
    """One signal's part of an account's score; with ``base_points`` they add up to the
    score before clipping to 0-100."""

    signal: str
    text: str
    points: float
    sign: Literal["+", "-"]


class AccountSummary(BaseModel):
    """The score of one account (a buying group: the request's leads sharing an
    account_id), from its leads' scores."""

    account_id: str
    probability: float = Field(description="Calibrated probability that at least one of the account's leads "
                                           "becomes an SQL within the horizon.")
    score: float = Field(description="0-100 on the account scale; +10 points doubles the odds.")
    tier: Tier
    is_mqa: bool = Field(description="A marketing qualified account: probability at or above the account "
                                     "threshold.")
    n_leads: int
    roles_engaged: list[str]
    roles_recent: list[str]
    roles_silent: list[str]
    roles_missing: list[str]
    coverage: list[RoleCoverage] = Field(description="Every committee role's state, in words.")
    best_missing_role: str | None = Field(None, description="The missing role whose engaged contact would raise "
                                                            "the score most (null when no role is missing).")
    best_missing_points: float | None = None
    best_missing_text: str | None = None
    base_points: float | None = Field(None, description="Points of an average account; base + reasons = score "
                                                        "before clipping (null with reasons=false).")
    reasons: list[AccountReason] | None = Field(None, description="Every signal, largest first (null with "
                                                                  "reasons=false).")
    reasons_text: str | None = None
    lead_ids: list[str] = Field(description="The account's leads in the request, highest score first.")
    leads: list[AccountLead]
    model_name: str
    model_version: str


class ScoreResponse(BaseModel):
    """What ``POST /score`` returns."""

    as_of: str = Field(description="The moment the leads were scored at (UTC).")
    model_name: str
    model_version: str
    scores: list[LeadScore]
    warnings: list[Notice] = Field(default_factory=list, description="What the data contract set aside or noticed "
                                                                     "(by field path); empty when nothing.")
    accounts: list[AccountSummary] = Field(default_factory=list, description="Each account of the request scored "
                                           "as a whole, highest score first; empty when no lead has an account_id "
                                           "or the model has no account scores.")



class Problem(BaseModel):
    """One reason a request was refused, by field path (``leads[3].activities[2].occurred_at``;
    a name that is not a plain identifier is shown escaped and cut: ``leads[0]["\\u003cimg…"]``)."""

    field: str
    message: str


class ErrorBody(BaseModel):
    """Every refusal of the service (400, 401, 413, 422): what went wrong, the request id
    (also in the ``X-Request-ID`` header) and each problem by field path."""

    error: str
    request_id: str | None = None
    problems: list[Problem] = Field(default_factory=list, description="At most 50; `error` counts them all.")
