"""The scoring service, apart from its BentoML glue (``bento/service.py``).

Everything the HTTP service needs lives here so that it can be tested without a
server: the request and response models, the API-key check, the limits, the
translation of a request into the data contract's tables (with every problem
named by its field path, e.g. ``leads[3].activities[2].occurred_at``), the
scoring call itself (``ScoringModel.score``, the same code as batch scoring),
the ASGI guard (request id, authentication, body size, one log line per
request), building the bento from the MLflow registry, and serving it.

Nothing here computes a feature or a score of its own: leads and activities are
normalised exactly as ``contract.validate_tables`` normalises a folder, then
handed to the packaged ``ScoringModel``.
"""

from __future__ import annotations

import contextvars
import hmac
import json
import logging
import math
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from mqlscore.config import ServiceConfig

if TYPE_CHECKING:
    from mqlscore.config import Settings
    from mqlscore.scoring import ScoringModel

logger = logging.getLogger("mqlscore.service")

API_KEY_ENV = "MQLSCORE_API_KEY"
API_KEY_FILE_ENV = "MQLSCORE_API_KEY_FILE"
DEV_ENV = "MQLSCORE_DEV"  # "1": authentication off (local development only)
SERVICE_CONFIG_ENV = "MQLSCORE_SERVICE_CONFIG"  # JSON of ServiceConfig, overrides the one built into the bento
WORKERS_ENV = "MQLSCORE_WORKERS"
BUILDING_ENV = "MQLSCORE_BUILDING"  # "1" while `mqlscore build` imports the service module
MODEL_TAG_ENV = "MQLSCORE_BENTO_MODEL"  # BentoML model tag the service loads (default "<bento_name>:latest")
MIN_KEY_LENGTH = 16
SCORING_MODEL_DIR = "scoring_model"  # inside the BentoML model folder
SERVICE_CONFIG_FILE = "service_config.json"  # inside the BentoML model folder
# Open without a key: liveness, readiness, Prometheus metrics and the API's description
# (schema, OpenAPI, Swagger UI). Scoring and the model need one; so does anything else.
HEALTH_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/metrics"})
OPEN_PATHS = HEALTH_PATHS | {"/", "/schema.json", "/docs.json"}
OPEN_PREFIXES = ("/static_content/", "/assets/")
# The lead card (mqlscore.leadcard, under /ui): signing in and out needs no key; the rest
# of /ui takes the key or the session cookie set by signing in, which nothing else takes.
UI_SIGN_IN_PATHS = frozenset({"/ui/login", "/ui/logout"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class StartupError(RuntimeError):
    """The service cannot start (no API key, no model, a corrupt model): said plainly."""


# ---------------------------------------------------------------------------
# Request and response models
# ---------------------------------------------------------------------------


def _id_text(value: Any) -> Any:
    """Identifiers may arrive as JSON numbers: 7 and 7.0 mean "7" (as in the contract)."""
    if isinstance(value, bool):
        return value  # rejected by the str type below
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value == int(value) else repr(value)
    return value


Identifier = Annotated[str, BeforeValidator(_id_text)]
Count = Annotated[float | None, Field(default=None, allow_inf_nan=False)]
SCALARS = (str, int, float, bool, type(None))  # allowed values of extra fields


class _In(BaseModel):
    # Never echo input values in validation errors: they may be personal data.
    model_config = ConfigDict(hide_input_in_errors=True, extra="allow")


class ActivityIn(_In):
    """One engagement event of a lead (the contract's activities table, without ``lead_id``)."""

    occurred_at: str = Field(description="ISO-8601 timestamp; an offset is converted, none means UTC.")
    activity_type: str = Field(description="e.g. page_view, demo_request, baa_request; unknown types are scored "
                                           "as 'other' activity.")
    detail: str | None = Field(None, description="URL path of a page view, or the asset, event or webinar name.")


class LeadIn(_In):
    """One lead: the contract's lead fields and its activities. Other fields are kept as
    candidate features (numbers, text, booleans), as in a CRM export."""

    lead_id: Identifier = Field(description="Unique within the request.")
    created_at: str = Field(description="ISO-8601 timestamp of the lead's creation.")
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
    as_of: str | None = Field(None, description="ISO-8601 moment to score at; default: the moment of the request.")
    reasons: bool = Field(True, description="Explain each score (false skips the cost of the explanation).")


class Reason(BaseModel):
    """One business signal's part of the score."""

    signal: str
    group: Literal["fit", "intent"]
    text: str
    points: float
    sign: Literal["+", "-"]


class LeadScore(BaseModel):
    """The score of one lead."""

    lead_id: str
    probability: float = Field(description="Calibrated probability of becoming an SQL within the horizon.")
    score: float = Field(description="0-100; +10 points doubles the odds.")
    tier: Literal["A", "B", "C", "D"]
    is_mql: bool
    base_points: float | None = Field(None, description="Points of an average lead; base + fit + intent = score "
                                                        "before clipping to 0-100.")
    fit_points: float | None = None
    intent_points: float | None = None
    reasons: list[Reason] | None = Field(None, description="Largest signals first (omitted with reasons=false).")
    reasons_text: str | None = None
    model_name: str
    model_version: str


class ScoreResponse(BaseModel):
    """What ``POST /score`` returns."""

    as_of: str = Field(description="The moment the leads were scored at (UTC).")
    model_name: str
    model_version: str
    scores: list[LeadScore]


@dataclass
class FieldProblem:
    """One reason a request was refused, with where it is."""

    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class RequestRejected(Exception):
    """The request cannot be scored; ``status`` is 4xx and ``problems`` name the fields."""

    def __init__(self, status: int, error: str, problems: Sequence[FieldProblem] = ()) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.problems = list(problems)

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        return {"error": self.error, "request_id": request_id, "problems": [p.to_dict() for p in self.problems]}


def field_path(loc: Iterable[str | int]) -> str:
    """``("leads", 3, "activities", 2, "occurred_at")`` -> ``leads[3].activities[2].occurred_at``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part:
            out += f".{part}" if out else str(part)
    return out or "body"


# ---------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------


def dev_mode(environ: dict[str, str] | None = None) -> bool:
    """True when ``MQLSCORE_DEV`` asks for authentication off."""
    value = (environ if environ is not None else os.environ).get(DEV_ENV, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class ApiKeyAuth:
    """The API key check: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``,
    compared in constant time. ``key=None`` means authentication is off (--dev)."""

    key: bytes | None

    @property
    def enabled(self) -> bool:
        return self.key is not None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ApiKeyAuth:
        """The key from ``MQLSCORE_API_KEY`` or the file named by ``MQLSCORE_API_KEY_FILE``;
        with ``MQLSCORE_DEV=1`` authentication is off. Raises StartupError otherwise."""
        env = environ if environ is not None else os.environ
        if dev_mode(env):
            return cls(None)
        key = env.get(API_KEY_ENV, "").strip()
        source = API_KEY_ENV
        if not key and env.get(API_KEY_FILE_ENV):
            path = Path(env[API_KEY_FILE_ENV])
            source = f"{API_KEY_FILE_ENV} ({path})"
            try:
                key = path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise StartupError(f"cannot read the API key file {path}: {exc}") from None
        if not key:
            raise StartupError(
                f"no API key: set {API_KEY_ENV}, or {API_KEY_FILE_ENV} to a file holding the key "
                "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'); "
                "for local development only, start with --dev to turn authentication off")
        if len(key) < MIN_KEY_LENGTH or any(c.isspace() for c in key):
            raise StartupError(f"the API key from {source} must be at least {MIN_KEY_LENGTH} characters "
                               "without spaces")
        return cls(key.encode("utf-8"))

    def allows(self, headers: Iterable[tuple[bytes, bytes]]) -> bool:
        """True when a presented key matches (always True when authentication is off)."""
        if self.key is None:
            return True
        ok = False
        for name, value in headers:
            name = name.lower()
            if name == b"authorization":
                scheme, _, token = value.strip().partition(b" ")
                if scheme.lower() == b"bearer":
                    ok |= hmac.compare_digest(token.strip(), self.key)
            elif name == b"x-api-key":
                ok |= hmac.compare_digest(value.strip(), self.key)
        return ok

    def session_token(self) -> str:
        """The lead card's session cookie value: an HMAC of a fixed label under the key.
        Never the key itself; it stops working when the key changes."""
        if self.key is None:
            return ""
        return hmac.new(self.key, b"mqlscore lead card session v1", "sha256").hexdigest()

    def allows_ui(self, headers: Iterable[tuple[bytes, bytes]], method: str | None) -> bool:
        """True when the lead card's session cookie is valid (compared in constant time)
        and, for anything but GET/HEAD, the page's ``X-Requested-With`` header is there
        (a cross-site form cannot send it). Only ever asked for paths under /ui."""
        if self.key is None:
            return True
        from mqlscore.leadcard import SESSION_COOKIE, UI_HEADER, UI_HEADER_VALUE

        expected = self.session_token().encode("ascii")
        cookie_ok = marked = False
        for name, value in headers:
            name = name.lower()
            if name == b"cookie":
                for part in value.split(b";"):
                    cname, _, cvalue = part.strip().partition(b"=")
                    if cname == SESSION_COOKIE.encode("ascii"):
                        cookie_ok |= hmac.compare_digest(cvalue.strip(), expected)
            elif name == UI_HEADER.encode("ascii"):
                marked |= value.strip() == UI_HEADER_VALUE.encode("ascii")
        return cookie_ok and (marked or method in ("GET", "HEAD"))


# ---------------------------------------------------------------------------
# A request as the contract's tables
# ---------------------------------------------------------------------------

# Case folding as the contract does it (pyarrow); Python's agrees on ASCII.
_LOWER = ("org_type", "ehr_vendor", "lead_source")
_UPPER = ("country", "state")


def _clean(value: Any) -> Any:
    """Stripped text with empty as missing (the contract's ``_as_text``); other values as given."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _fold(value: str | None, upper: bool) -> str | None:
    if value is None:
        return None
    if value.isascii():
        return value.upper() if upper else value.lower()
    series = pd.Series([value], dtype="str")
    return (series.str.upper() if upper else series.str.lower()).iloc[0]


@dataclass
class RequestTables:
    """A request as the contract's clean tables, plus counts for the log."""

    leads: pd.DataFrame
    activities: pd.DataFrame
    as_of: pd.Timestamp
    n_activities: int = 0
    n_duplicate_activities: int = 0


@dataclass
class RequestColumns:
    """A checked request as plain column lists. Tables are built from them once per
    model call, for one request or for a batch of them (building pandas frames per
    request cost more than scoring it)."""

    leads: dict[str, list[Any]]  # the contract's lead columns but created_at, then the extra fields
    created: pd.DatetimeIndex
    activities: dict[str, list[Any]]  # lead_id, activity_type, detail, then the extra fields
    occurred: pd.DatetimeIndex
    as_of: pd.Timestamp

    @property
    def n_leads(self) -> int:
        return len(self.created)

    @property
    def n_activities(self) -> int:
        return len(self.occurred)


def _timestamps(text: list[str | None]) -> pd.DatetimeIndex:
    """ISO-8601 to UTC microseconds, NaT where unparsable: the contract's parser
    (``contract._parse_timestamps``), called once for all of a request's timestamps."""
    parsed = pd.to_datetime(pd.Index(text, dtype="str"), utc=True, format="ISO8601", errors="coerce")
    return parsed.astype(TIMESTAMP_DTYPE)


_STR = pd.StringDtype(na_value=np.nan)  # pandas' "str": what the contract gives text columns
TIMESTAMP_DTYPE = "datetime64[us, UTC]"
# Times the feature code can represent (it counts in nanoseconds: 1677-2262) with room to spare.
EARLIEST = pd.Timestamp("1900-01-01", tz="UTC")
LATEST = pd.Timestamp("2200-01-01", tz="UTC")
OUT_OF_RANGE = "outside the years 1900-2199"


def request_tables(leads: Sequence[LeadIn], as_of: pd.Timestamp, config: ServiceConfig) -> RequestTables:
    """The request's leads and activities as the tables ``validate_tables`` would return
    for them, or RequestRejected naming every problem's field path (see
    :func:`check_request` and :func:`build_tables`)."""
    return build_tables([check_request(leads, as_of, config)])


def check_request(leads: Sequence[LeadIn], as_of: pd.Timestamp, config: ServiceConfig) -> RequestColumns:
    """The request's leads and activities as checked column lists, or
    RequestRejected naming every problem's field path.

    Checks: batch bounds; required values present; timestamps parsable; counts
    whole and not negative; lead_id unique; nothing created or happening after
    ``as_of``.
    """
    from mqlscore.contract import LEAD_COLUMNS

    problems: list[FieldProblem] = []
    if len(leads) > config.max_leads_per_request:
        raise RequestRejected(422, "too many leads in one request", [FieldProblem(
            "leads", f"{len(leads):,} leads; at most {config.max_leads_per_request:,} per request")])
    for i, lead in enumerate(leads):
        if len(lead.activities) > config.max_activities_per_lead:
            problems.append(FieldProblem(f"leads[{i}].activities", f"{len(lead.activities):,} activities; at most "
                                         f"{config.max_activities_per_lead:,} per lead"))
    if problems:
        raise RequestRejected(422, "too many activities on a lead", problems[:20])

    columns: dict[str, list[Any]] = {c: [] for c in LEAD_COLUMNS}
    extras: dict[str, list[Any]] = {}
    count_columns = _COUNT_COLUMNS
    for i, lead in enumerate(leads):
        values = lead.__dict__
        lead_id = _clean(lead.lead_id)
        for name in LEAD_COLUMNS:
            value = _clean(values[name]) if name != "lead_id" else lead_id
            if name in _LOWER or name in _UPPER:
                value = _fold(value, name in _UPPER)
            columns[name].append(value)
        for name, value in (lead.__pydantic_extra__ or {}).items():
            if not isinstance(value, SCALARS):
                problems.append(FieldProblem(f"leads[{i}].{name}", "must be a string, number, boolean or null"))
            extras.setdefault(name, [None] * i).append(value)
        for name, column in extras.items():
            if len(column) < i + 1:
                column.append(None)
        if lead_id is None:
            problems.append(FieldProblem(f"leads[{i}].lead_id", "empty; every lead needs a lead_id"))
        if columns["created_at"][-1] is None:
            problems.append(FieldProblem(f"leads[{i}].created_at", "empty; every lead needs created_at"))
        for name in count_columns:
            v = columns[name][-1]
            if v is not None and (v != round(v)):
                problems.append(FieldProblem(f"leads[{i}].{name}", "must be a whole number"))
            elif v is not None and v < 0:
                problems.append(FieldProblem(f"leads[{i}].{name}", "must not be negative"))

    # The activities in one pass of list comprehensions: a request of 100 leads
    # carries thousands of them.
    where = [(i, j) for i, lead in enumerate(leads) for j in range(len(lead.activities))]
    items = [act for lead in leads for act in lead.activities]
    lead_ids = columns["lead_id"]
    act_lead = [lead_ids[i] for i, _ in where]
    act_time = [_clean(act.occurred_at) for act in items]
    act_detail = [_clean(act.detail) for act in items]
    folded: dict[Any, str | None] = {}
    act_type = [folded[t] if t in folded else folded.setdefault(t, _fold(_clean(t), upper=False))
                for t in (act.activity_type for act in items)]
    for k in (k for k, (kind, when) in enumerate(zip(act_type, act_time)) if kind is None or when is None):
        i, j = where[k]
        if act_type[k] is None:
            problems.append(FieldProblem(f"leads[{i}].activities[{j}].activity_type", "empty"))
        if act_time[k] is None:
            problems.append(FieldProblem(f"leads[{i}].activities[{j}].occurred_at", "empty"))
    act_extras: dict[str, list[Any]] = {}
    for k, act in enumerate(items):
        for name, value in (act.__pydantic_extra__ or {}).items():
            if not isinstance(value, SCALARS):
                i, j = where[k]
                problems.append(FieldProblem(f"leads[{i}].activities[{j}].{name}",
                                             "must be a string, number, boolean or null"))
            act_extras.setdefault(name, [None] * len(items))[k] = value

    n_leads = len(leads)
    stamps = _timestamps(columns["created_at"] + act_time)
    created, occurred = stamps[:n_leads], stamps[n_leads:]
    limit = as_of.tz_convert("UTC")
    for i in np.flatnonzero(created.isna()):
        if columns["created_at"][i] is not None:
            problems.append(FieldProblem(f"leads[{i}].created_at", "not an ISO-8601 timestamp"))
    for i in np.flatnonzero(created < EARLIEST):
        problems.append(FieldProblem(f"leads[{i}].created_at", OUT_OF_RANGE))
    for k in np.flatnonzero(occurred < EARLIEST):
        i, j = where[k]
        problems.append(FieldProblem(f"leads[{i}].activities[{j}].occurred_at", OUT_OF_RANGE))
    for i in np.flatnonzero(created > limit):
        problems.append(FieldProblem(f"leads[{i}].created_at", "after as_of: the lead did not exist yet"))
    for k in np.flatnonzero(occurred.isna()):
        if act_time[k] is not None:
            i, j = where[k]
            problems.append(FieldProblem(f"leads[{i}].activities[{j}].occurred_at", "not an ISO-8601 timestamp"))
    for k in np.flatnonzero(occurred > limit):
        i, j = where[k]
        problems.append(FieldProblem(f"leads[{i}].activities[{j}].occurred_at",
                                     "after as_of: activities must have happened by the time scored"))
    seen: dict[str, int] = {}
    for i, lead_id in enumerate(columns["lead_id"]):
        if lead_id is None:
            continue
        if lead_id in seen:
            problems.append(FieldProblem(f"leads[{i}].lead_id", f"duplicate of leads[{seen[lead_id]}].lead_id"))
        else:
            seen[lead_id] = i
    if problems:
        problems.sort(key=lambda p: _path_key(p.field))
        shown = problems[:50]
        more = f" (first {len(shown)} of {len(problems)} shown)" if len(problems) > len(shown) else ""
        raise RequestRejected(422, f"the request breaks the data contract: {len(problems)} problem(s){more}", shown)

    lead_columns = {name: columns[name] for name in LEAD_COLUMNS if name != "created_at"}
    return RequestColumns(
        leads={**lead_columns, **extras}, created=created,
        activities={"lead_id": act_lead, "activity_type": act_type, "detail": act_detail,
                    **{k: v for k, v in act_extras.items() if k not in ("lead_id", "activity_type", "detail",
                                                                          "occurred_at")}},
        occurred=occurred, as_of=as_of)


RESPONSE_COLUMNS = ("lead_id", "probability", "score", "tier", "is_mql")
REASON_COLUMNS = ("base_points", "fit_points", "intent_points", "reasons", "reasons_text")
_TAGGED = ("lead_id", "account_id")  # ids a batch prefixes with the request's position


def build_tables(parts: Sequence[RequestColumns]) -> RequestTables:
    """The contract's clean tables of one checked request, or of several stacked
    with their lead and account ids prefixed by the request's position (so that
    buying groups never mix across requests). Exact duplicate activities are
    counted once, like the contract. ``as_of`` is the first request's."""
    from mqlscore.contract import LEAD_COLUMNS

    tagged = len(parts) > 1

    def stacked(name: str, tables: list[dict[str, list[Any]]], sizes: list[int]) -> list[Any]:
        out: list[Any] = []
        for k, (table, size) in enumerate(zip(tables, sizes)):
            values = table.get(name, [None] * size)
            if tagged and name in _TAGGED:
                values = [None if v is None else f"{k}\x1f{v}" for v in values]
            out.extend(values)
        return out

    lead_tables = [p.leads for p in parts]
    lead_sizes = [p.n_leads for p in parts]
    # Columns as the contract's clean tables hold them: text as "str", times as
    # UTC microseconds, counts as float64, extra fields as given.
    frame: dict[str, Any] = {}
    for name in LEAD_COLUMNS:
        if name == "created_at":
            frame[name] = parts[0].created.append([p.created for p in parts[1:]]) if tagged else parts[0].created
        elif name in _COUNT_COLUMNS:
            frame[name] = np.array(stacked(name, lead_tables, lead_sizes), dtype="float64")
        else:
            frame[name] = pd.array(stacked(name, lead_tables, lead_sizes), dtype=_STR)
    for name in _extra_names(lead_tables, LEAD_COLUMNS):
        frame[name] = _as_given(stacked(name, lead_tables, lead_sizes))
    leads_frame = pd.DataFrame(frame)

    act_tables = [p.activities for p in parts]
    act_sizes = [p.n_activities for p in parts]
    occurred = parts[0].occurred.append([p.occurred for p in parts[1:]]) if tagged else parts[0].occurred
    acts: dict[str, Any] = {
        "lead_id": pd.array(stacked("lead_id", act_tables, act_sizes), dtype=_STR), "occurred_at": occurred,
        "activity_type": pd.array(stacked("activity_type", act_tables, act_sizes), dtype=_STR),
        "detail": pd.array(stacked("detail", act_tables, act_sizes), dtype=_STR),
    }
    for name in _extra_names(act_tables, acts):
        acts[name] = _as_given(stacked(name, act_tables, act_sizes))
    activities = pd.DataFrame(acts)
    n_dup = 0
    if len(activities) > 1 and occurred.duplicated().any():
        later = activities.duplicated(keep="first").to_numpy()
        n_dup = int(later.sum())
        if n_dup:
            activities = activities[~later].reset_index(drop=True)
    return RequestTables(leads_frame, activities, parts[0].as_of, n_activities=len(occurred),
                         n_duplicate_activities=n_dup)


_COUNT_COLUMNS = ("employee_count", "bed_count", "covered_lives")


def _extra_names(tables: list[dict[str, list[Any]]], known: Iterable[str]) -> list[str]:
    """Extra fields of any of the requests, in order of first appearance."""
    known = set(known)
    return list(dict.fromkeys(name for table in tables for name in table if name not in known))


def _as_given(values: list[Any]) -> Any:
    """An extra field's values with the type pandas infers (text becomes "str")."""
    return pd.Series(values, dtype=object).infer_objects().array


def _path_key(path: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"[\[\].]+", path) if p)


# ---------------------------------------------------------------------------
# The engine: a loaded model that scores requests
# ---------------------------------------------------------------------------


@dataclass
class RequestLog:
    """What one request's log line says (never a value from the body)."""

    request_id: str
    counts: dict[str, Any] = field(default_factory=dict)


_CURRENT: contextvars.ContextVar[RequestLog | None] = contextvars.ContextVar("mqlscore_request", default=None)


def example_lead() -> dict[str, Any]:
    """A made-up lead (no real person) used by the start-up self-test and the docs."""
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


@dataclass
class Job:
    """One request waiting to be scored (``received``: the moment its as-of defaults to)."""

    leads: Sequence[LeadIn]
    as_of: str | None
    reasons: bool
    received: pd.Timestamp


@dataclass
class Outcome:
    """What became of one job: a response or a refusal, and counts for the log."""

    response: ScoreResponse | None = None
    error: RequestRejected | None = None
    activities: int = 0
    batch: int = 0


class ScoringEngine:
    """A loaded ``ScoringModel`` behind the service's rules (limits, strict input)."""

    def __init__(self, model: ScoringModel, config: ServiceConfig | None = None,
                 source: dict[str, Any] | None = None) -> None:
        self.model = model
        self.config = config or ServiceConfig()
        self.source = source or {}
        self.name = str(model.metadata.get("model_name", "mqlscore"))
        self.version = str(model.metadata.get("model_version", "unregistered"))
        self._info = self._model_info()

    # -- loading -----------------------------------------------------------
    @classmethod
    def from_folder(cls, folder: Path | str, config: ServiceConfig | None = None,
                    source: dict[str, Any] | None = None) -> ScoringEngine:
        """Load a BentoML model folder (or a bare ``ScoringModel.save`` folder) and
        self-test it; any problem raises StartupError."""
        from mqlscore.scoring import ScoringModel

        folder = Path(folder)
        model_dir = folder / SCORING_MODEL_DIR if (folder / SCORING_MODEL_DIR).is_dir() else folder
        try:
            model = ScoringModel.load(model_dir)
        except Exception as exc:  # noqa: BLE001 - any failure here means the model cannot be served
            raise StartupError(f"cannot load the scoring model from {model_dir}: {exc}") from exc
        if config is None:
            config = service_config_for(folder)
        engine = cls(model, config, source)
        engine.self_test()
        return engine

    def self_test(self) -> None:
        """Score a made-up lead; a model that cannot, or that gives nonsense, stops start-up."""
        try:
            lead = LeadIn.model_validate(example_lead())
            response = self.score([lead], as_of="2026-02-01T00:00:00Z")
        except Exception as exc:  # noqa: BLE001
            raise StartupError(f"the scoring model fails its self-test: {exc}") from exc
        s = response.scores[0]
        if not (0.0 <= s.probability <= 1.0 and math.isfinite(s.probability) and 0.0 <= s.score <= 100.0):
            raise StartupError(f"the scoring model fails its self-test: probability {s.probability}, "
                               f"score {s.score}")

    # -- scoring -------------------------------------------------------------
    def resolve_as_of(self, as_of: str | None, now: pd.Timestamp | None = None) -> pd.Timestamp:
        """The given as-of time (ISO-8601) or the request's moment, in UTC microseconds."""
        from mqlscore.contract import parse_as_of

        if as_of is None or not str(as_of).strip():
            when = now if now is not None else pd.Timestamp.now(tz="UTC")
            return pd.Timestamp(when).tz_convert("UTC").as_unit("us")
        try:
            when = parse_as_of(as_of)
        except (ValueError, OverflowError):
            raise RequestRejected(422, "as_of is not a timestamp", [FieldProblem(
                "as_of", "not an ISO-8601 timestamp (e.g. 2026-06-01T12:00:00Z); leave it out to score now")])
        if not EARLIEST <= when < LATEST:
            raise RequestRejected(422, "as_of is out of range", [FieldProblem("as_of", OUT_OF_RANGE)])
        return when

    def prepare(self, leads: Sequence[LeadIn], as_of: str | None = None,
                now: pd.Timestamp | None = None) -> RequestColumns:
        """Check a request (see :func:`check_request`); RequestRejected on bad input."""
        if not leads:
            raise RequestRejected(422, "no leads", [FieldProblem("leads", "give at least one lead")])
        return check_request(leads, self.resolve_as_of(as_of, now), self.config)

    def score(self, leads: Sequence[LeadIn], as_of: str | None = None, reasons: bool = True,
              now: pd.Timestamp | None = None) -> ScoreResponse:
        """Score the request's leads at ``as_of``; RequestRejected on bad input."""
        request = self.prepare(leads, as_of, now)
        log = _CURRENT.get()
        if log is not None:
            log.counts.update(leads=len(leads), activities=request.n_activities, reasons=reasons)
        return self.score_requests([(request, reasons)])[0]

    def score_many(self, jobs: Sequence[Job]) -> list[Outcome]:
        """Score several requests with one model call; each keeps its own as-of time,
        buying groups and errors (a bad request never fails the others)."""
        ready: list[tuple[int, RequestColumns, bool]] = []
        outcomes: list[Outcome] = [Outcome() for _ in jobs]
        for k, job in enumerate(jobs):
            try:
                request = self.prepare(job.leads, job.as_of, job.received)
            except RequestRejected as exc:
                outcomes[k].error = exc
                continue
            outcomes[k].activities = request.n_activities
            ready.append((k, request, job.reasons))
        if ready:
            responses = self.score_requests([(r, reasons) for _, r, reasons in ready])
            for (k, _, _), response in zip(ready, responses):
                outcomes[k].response = response
                outcomes[k].batch = len(ready)
        return outcomes

    def score_requests(self, items: Sequence[tuple[RequestColumns, bool]]) -> list[ScoreResponse]:
        """One ``ScoringModel.score`` call for one or more checked requests.

        Several requests are stacked by :func:`build_tables` (ids prefixed by the
        request's position); features see only a lead's own activities and its
        account's leads, so the numbers are exactly those of scoring each request
        alone (tested), each at its own as-of time.
        """
        parts = [request for request, _ in items]
        tables = build_tables(parts)
        sizes = [p.n_leads for p in parts]
        as_of = pd.DatetimeIndex([p.as_of for p in parts]).repeat(sizes)
        snapshots = pd.DataFrame({"lead_id": tables.leads["lead_id"].to_numpy(), "as_of": as_of})
        any_reasons = any(reasons for _, reasons in items)
        scored = self.model.score(tables.leads, tables.activities, snapshots, reasons=any_reasons)
        names = RESPONSE_COLUMNS[1:] + (REASON_COLUMNS if any_reasons else ())
        columns = {c: scored[c].tolist() for c in names}
        out, start = [], 0
        for (request, reasons), size in zip(items, sizes):
            rows = {c: v[start:start + size] for c, v in columns.items()}
            rows["lead_id"] = request.leads["lead_id"]  # as given (the stacked ones carry a prefix)
            out.append(self._response(rows, size, request.as_of, reasons))
            start += size
        return out

    def _response(self, columns: dict[str, list[Any]], n: int, when: pd.Timestamp,
                  reasons: bool) -> ScoreResponse:
        """The response for ``n`` scored leads given as column lists."""
        cols = {c: columns[c] for c in RESPONSE_COLUMNS + (REASON_COLUMNS if reasons else ())}
        name, version = self.name, self.version
        scores = []
        for k in range(n):
            item: dict[str, Any] = {c: v[k] for c, v in cols.items()}
            if reasons:
                item["reasons"] = [Reason.model_construct(signal=r["signal"], group=r["group"], text=r["text"],
                                                          points=r["points"], sign=r["sign"])
                                   for r in item["reasons"]]
            item["is_mql"] = bool(item["is_mql"])
            scores.append(LeadScore.model_construct(model_name=name, model_version=version, **item))
        return ScoreResponse.model_construct(as_of=_iso(when), model_name=name, model_version=version,
                                             scores=scores)

    # -- describing ----------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """What ``GET /model`` returns."""
        return self._info

    def _model_info(self) -> dict[str, Any]:
        m = self.model
        meta = m.metadata
        scale = m.scale
        return {
            "name": self.name, "version": self.version, "kind": m.kind,
            "trained_at": meta.get("trained_at"), "data_window": meta.get("data_window"),
            "horizon_days": meta.get("horizon_days"),
            "threshold": {**(meta.get("threshold") or {}), "probability": m.threshold},
            "tiers": dict(zip(("A", "B", "C"), m.config.tier_cutoffs)),
            "score_scale": {"base_rate": scale.base_rate, "points_at_base_rate": scale.points_at_base_rate,
                            "points_to_double_odds": scale.points_to_double_odds},
            "validation_metrics": meta.get("validation_metrics"),
            "n_features": len(m.builder.specs_),
            "features": [{"name": s.name, "group": s.group, "signal": s.signal, "kind": s.kind,
                          "description": s.description} for s in m.builder.specs_],
            "limits": {"max_leads_per_request": self.config.max_leads_per_request,
                       "max_activities_per_lead": self.config.max_activities_per_lead,
                       "max_body_bytes": self.config.max_body_bytes},
            "source": self.source,
        }


def _iso(ts: pd.Timestamp) -> str:
    return ts.tz_convert("UTC").isoformat().replace("+00:00", "Z")


def service_config_for(folder: Path | str | None) -> ServiceConfig:
    """The service settings: ``MQLSCORE_SERVICE_CONFIG`` (JSON) if set, else the ones
    built into the model folder, else the defaults."""
    text = os.environ.get(SERVICE_CONFIG_ENV, "").strip()
    try:
        if text:
            return ServiceConfig.model_validate_json(text)
        path = Path(folder) / SERVICE_CONFIG_FILE if folder is not None else None
        if path is not None and path.is_file():
            return ServiceConfig.model_validate_json(path.read_text())
    except ValueError as exc:
        raise StartupError(f"bad service settings: {exc}") from None
    return ServiceConfig()


class Batcher:
    """Adaptive batching inside one server worker, request semantics kept.

    Requests that arrive while the worker is busy wait in a queue; when it is
    free, everything queued (up to ``batch_max_leads`` leads) is scored with one
    ``ScoringEngine.score_many`` call in a thread. An idle worker scores a
    request at once (no timer, no added latency); under load, the fixed cost of
    feature building and of the model call is shared by the batch. Each request
    keeps its own as-of time, buying groups and errors (BentoML's own batching
    would concatenate the leads of different callers into one list).
    """

    def __init__(self, engine: ScoringEngine, max_leads: int | None = None) -> None:
        self.engine = engine
        self.max_leads = max_leads or engine.config.batch_max_leads
        self._queue: list[tuple[Job, Any]] = []
        self._running = False

    async def score(self, leads: Sequence[LeadIn], as_of: str | None, reasons: bool) -> Any:
        """The body of ``POST /score``: the response model, or a 4xx JSON response."""
        import asyncio

        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.append((Job(leads, as_of, reasons, pd.Timestamp.now(tz="UTC")), future))
        if not self._running:
            self._running = True
            loop.create_task(self._drain())
        outcome: Outcome = await future
        return _reply(outcome, len(leads), reasons)

    async def _drain(self) -> None:
        import anyio

        try:
            while self._queue:
                size = len(self._queue[0][0].leads)
                take = 1
                while take < len(self._queue) and size + len(self._queue[take][0].leads) <= self.max_leads:
                    size += len(self._queue[take][0].leads)
                    take += 1
                batch, self._queue = self._queue[:take], self._queue[take:]
                try:
                    outcomes = await anyio.to_thread.run_sync(self.engine.score_many, [job for job, _ in batch])
                except Exception:  # noqa: BLE001 - a server fault: retry alone, so it only fails its own request
                    outcomes = [await anyio.to_thread.run_sync(self._alone, job) for job, _ in batch]
                for (_, future), outcome in zip(batch, outcomes):
                    if future.done():
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)  # BentoML answers 500 and logs it
                    else:
                        future.set_result(outcome)
        finally:
            self._running = False


    def _alone(self, job: Job) -> Outcome | BaseException:
        try:
            return self.engine.score_many([job])[0]
        except Exception as exc:  # noqa: BLE001 - handed to the request's own task
            return exc


def _reply(outcome: Outcome, n_leads: int, reasons: bool) -> Any:
    from starlette.responses import JSONResponse

    log = _CURRENT.get()
    if outcome.error is not None:
        if log is not None:
            log.counts.update(leads=n_leads, problems=len(outcome.error.problems))
        return JSONResponse(outcome.error.body(log.request_id if log else None), status_code=outcome.error.status)
    if log is not None:
        log.counts.update(leads=n_leads, activities=outcome.activities, reasons=reasons, batch=outcome.batch)
    return outcome.response


def model_routes(get_engine: Callable[[], ScoringEngine]) -> Any:
    """A small Starlette app answering ``GET /model`` and the lead card under ``/ui``
    (``mqlscore.leadcard``), mounted beside the API."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from mqlscore.leadcard import ui_routes

    async def model_view(_request: Any) -> Any:
        return JSONResponse(get_engine().info())

    return Starlette(routes=[Route("/model", model_view, methods=["GET"]), *ui_routes(get_engine)])


# ---------------------------------------------------------------------------
# The ASGI guard: request id, API key, body size, error shape, one log line
# ---------------------------------------------------------------------------


class GuardMiddleware:
    """Pure ASGI middleware in front of every route of the service.

    - a request id (the caller's ``X-Request-ID`` when sane, else a new one),
      returned in ``X-Request-ID`` and written in the log line;
    - 401 without a valid API key, except on the open health and metrics routes;
      under ``/ui`` the lead card's session cookie also counts, and a browser
      without either gets the sign-in page (``mqlscore.leadcard``);
    - 413 when the body is larger than ``max_body_bytes``;
    - BentoML's 400 for a body that does not match the schema, reshaped like
      the service's own errors (``problems`` with a ``field`` path each);
    - one log line per request: id, method, path, status, milliseconds and
      counts of leads and activities; never a value from the body.
    """

    def __init__(self, app: Any, auth: ApiKeyAuth | None = None, config: ServiceConfig | None = None,
                 log_open_paths: bool = False) -> None:
        self.app = app
        self.auth = auth if auth is not None else ApiKeyAuth.from_env()
        self._config = config
        self.log_open_paths = log_open_paths
        if not self.auth.enabled:
            announce_dev_mode()

    @property
    def config(self) -> ServiceConfig:
        """The limits: as given, else those of the loaded model's service settings."""
        return self._config if self._config is not None else active_config()

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path = scope.get("path", "")
        headers = list(scope.get("headers", []))
        given = next((v for k, v in headers if k.lower() == b"x-request-id"), b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        record = RequestLog(request_id)
        token = _CURRENT.set(record)
        status = {"code": 0}
        id_header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message = {**message, "headers": [*message.get("headers", []), id_header]}
            await send(message)

        is_open = path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)
        try:
            if is_open and scope.get("method") in ("GET", "HEAD"):
                await self.app(scope, receive, send_with_id)
                return
            is_ui = path == "/ui" or path.startswith("/ui/")
            if is_ui:
                scope["mqlscore.auth"] = self.auth  # the sign-in route checks the key against this one
            if not (self.auth.allows(headers) or path in UI_SIGN_IN_PATHS
                    or (is_ui and self.auth.allows_ui(headers, scope.get("method")))):
                if is_ui:
                    from mqlscore.leadcard import refuse

                    await refuse(scope, receive, send_with_id, request_id)
                    return
                await _json(send_with_id, 401, {"error": "missing or invalid API key: send 'Authorization: Bearer "
                                                         "<key>' or 'X-API-Key: <key>'", "request_id": request_id,
                                                "problems": []}, [(b"www-authenticate", b"Bearer")])
                return
            if scope.get("method") in ("POST", "PUT", "PATCH"):
                body = await _read_body(scope, receive, self.config.max_body_bytes)
                if body is None:
                    record.counts["too_large"] = True
                    await _json(send_with_id, 413, {
                        "error": f"request body larger than {self.config.max_body_bytes:,} bytes",
                        "request_id": request_id, "problems": [{"field": "body", "message": "too large; split "
                                                                "the leads over several requests"}]})
                    return
                record.counts["bytes"] = len(body)
                await self.app(scope, _replay(body, receive), _reshape_400(send_with_id, request_id))
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            _CURRENT.reset(token)
            if not is_open or self.log_open_paths:
                ms = (time.perf_counter() - start) * 1000
                counts = " ".join(f"{k}={v}" for k, v in record.counts.items())
                logger.info("request_id=%s method=%s path=%s status=%s ms=%.1f %s", request_id,
                            scope.get("method"), path, status["code"], ms, counts)


async def _json(send: Callable, status: int, body: dict, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    data = json.dumps(body).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": data})


async def _read_body(scope: dict, receive: Callable, limit: int) -> bytes | None:
    """The whole body, or None as soon as it is known to exceed ``limit``."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                if int(value) > limit:
                    return None
            except ValueError:
                pass
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Callable) -> Callable:
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _reshape_400(send: Callable, request_id: str) -> Callable:
    """Turn BentoML's schema-validation 400 into the service's error shape."""
    held: dict[str, Any] = {}

    async def reshaping_send(message: dict) -> None:
        if message["type"] == "http.response.start" and message["status"] == 400:
            held["start"] = message
            held["body"] = b""
            return
        if "start" not in held:
            await send(message)
            return
        held["body"] += message.get("body", b"")
        if message.get("more_body", False):
            return
        start = held["start"]
        try:
            data = json.loads(held["body"] or b"{}")
            problems = [{"field": field_path(d.get("loc", ())), "message": d.get("msg", "")}
                        for d in data.get("detail", []) if isinstance(d, dict)]
            body = json.dumps({"error": "the request does not match the API schema", "request_id": request_id,
                               "problems": problems}).encode("utf-8")
        except (ValueError, AttributeError):
            body = held["body"]
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return reshaping_send


_ANNOUNCED = False


def dev_banner() -> str:
    """The loud warning of --dev."""
    line = "!" * 78
    return (f"{line}\n!!  DEVELOPMENT MODE: API-KEY AUTHENTICATION IS OFF ({DEV_ENV}=1).\n"
            f"!!  Anyone who can reach this port can score leads. Never use --dev beyond this machine.\n{line}")


def announce_dev_mode() -> None:
    """Print the --dev banner to stderr, once per process."""
    global _ANNOUNCED
    if not _ANNOUNCED:
        _ANNOUNCED = True
        print(dev_banner(), file=sys.stderr, flush=True)


class _NoSchemaTracebacks(logging.Filter):
    """BentoML logs a traceback for every body that fails the schema; the guard's
    line (status 400, request id) says enough, and the traceback is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        from pydantic import ValidationError

        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ValidationError)


def configure_logging() -> None:
    """INFO lines of ``mqlscore.service`` reach the server's log handlers."""
    logger.setLevel(logging.INFO)
    bentoml_http = logging.getLogger("bentoml._internal.server.http_app")
    if not any(isinstance(f, _NoSchemaTracebacks) for f in bentoml_http.filters):
        bentoml_http.addFilter(_NoSchemaTracebacks())
    if not logging.getLogger().handlers and not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logger.addHandler(handler)


def workers_from_env(default: int | None = None) -> int:
    """Worker processes: ``MQLSCORE_WORKERS`` or the service default."""
    text = os.environ.get(WORKERS_ENV, "").strip()
    try:
        return max(1, int(text)) if text else (default or ServiceConfig().workers)
    except ValueError:
        raise StartupError(f"{WORKERS_ENV} must be a whole number, got {text!r}") from None


MODEL_TAG_FILE = "bento_model_tag.txt"  # written beside service.py by `mqlscore build`


def model_tag(beside: str | Path | None = None) -> str:
    """The BentoML model the service loads: ``MQLSCORE_BENTO_MODEL``, else the tag
    ``mqlscore build`` wrote beside the service file, else ``<bento_name>:latest``."""
    tag = os.environ.get(MODEL_TAG_ENV, "").strip()
    if not tag and beside is not None and (Path(beside) / MODEL_TAG_FILE).is_file():
        tag = (Path(beside) / MODEL_TAG_FILE).read_text().strip()
    return tag or f"{ServiceConfig().bento_name}:latest"


_ENGINES: dict[str, ScoringEngine] = {}


def active_config() -> ServiceConfig:
    """The service settings of the engine this process loaded (env or defaults before that)."""
    if _ENGINES:
        return next(reversed(_ENGINES.values())).config
    return service_config_for(None)


def building() -> bool:
    """True while ``mqlscore build`` imports the service module (no key is needed then)."""
    return os.environ.get(BUILDING_ENV) == "1"


def start_engine(model_ref: Any) -> ScoringEngine:
    """Start-up check and model load, once per process: the API key is there (unless
    --dev), the model is in the store, loads and passes its self-test. Any problem
    raises StartupError with a plain message, so the server does not start.

    ``bento/service.py`` calls it when imported (``bentoml serve`` imports it in
    the main process before any worker starts, so a problem stops the server at
    once) and again in each worker, which reuses the engine loaded at import."""
    configure_logging()
    if not ApiKeyAuth.from_env().enabled:  # no key, no service (unless --dev)
        announce_dev_mode()
    key = str(getattr(model_ref, "tag", model_ref))
    if key in _ENGINES:
        return _ENGINES[key]
    try:
        stored = model_ref.stored if hasattr(model_ref, "stored") else None
    except Exception as exc:  # noqa: BLE001 - BentoML's store errors vary
        raise StartupError(f"cannot read the model {key} from the BentoML store ({_bentoml_home()}): {exc}") from exc
    if stored is None and hasattr(model_ref, "tag"):
        raise StartupError(f"model {key} is not in the BentoML model store ({_bentoml_home()}); "
                           "run 'mqlscore build' first")
    path = Path(stored.path if stored is not None else model_ref)
    labels = dict(getattr(getattr(stored, "info", None), "labels", {}) or {})
    source = {"bento_model": str(getattr(stored, "tag", path)), **labels}
    engine = ScoringEngine.from_folder(path, source=source)
    logger.info("model %s version %s loaded from %s (%d features); auth %s; limits %s leads, %s activities per "
                "lead, %s bytes", engine.name, engine.version, source["bento_model"],
                len(engine.model.builder.specs_), "on" if not dev_mode() else "OFF (--dev)",
                engine.config.max_leads_per_request, engine.config.max_activities_per_lead,
                engine.config.max_body_bytes)
    _ENGINES[key] = engine
    return engine


def _bentoml_home() -> str:
    return os.environ.get("BENTOML_HOME") or str(Path.home() / "bentoml")


# ---------------------------------------------------------------------------
# Building the bento
# ---------------------------------------------------------------------------


@dataclass
class BuildResult:
    """What ``mqlscore build`` made."""

    model_uri: str
    model_name: str
    model_version: str
    bento_model_tag: str
    bento_tag: str
    bento_path: str
    seconds: float


def project_root() -> Path | None:
    """The source checkout holding ``pyproject.toml``, ``uv.lock`` and ``bento/`` (None when installed)."""
    here = Path(__file__).resolve().parent  # src/mqlscore
    for candidate in (here.parents[1], Path.cwd()):
        if (candidate / "bento" / "service.py").is_file() and (candidate / "pyproject.toml").is_file():
            return candidate
    return None


def pinned_requirements(root: Path | None = None) -> list[str]:
    """The runtime dependencies pinned from ``uv.lock`` (``uv export``), or, without uv
    or a checkout, from the installed distributions."""
    import shutil
    import subprocess

    root = root or project_root()
    uv = shutil.which("uv")
    if root is not None and (root / "uv.lock").is_file() and uv:
        cmd = [uv, "export", "--frozen", "--no-hashes", "--no-dev", "--no-emit-project", "--no-header",
               "--no-annotate", "--quiet"]
        done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            lines = [ln.strip() for ln in done.stdout.splitlines()]
            return [ln for ln in lines if ln and not ln.startswith(("#", "-e", ".", "-"))]
        logger.warning("uv export failed (%s); pinning from the installed packages", done.stderr.strip()[:200])
    return installed_requirements()


def installed_requirements(top: str = "mqlscore") -> list[str]:
    """``name==version`` of the installed closure of ``top``'s requirements."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement

    pinned: dict[str, str] = {}
    todo = [Requirement(r) for r in (distribution(top).requires or [])]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        key = req.name.lower().replace("_", "-")
        if key in pinned:
            continue
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:
            continue
        pinned[key] = dist.version
        todo += [Requirement(r) for r in (dist.requires or [])]
    return [f"{name}=={version}" for name, version in sorted(pinned.items())]


def build_bento(model_uri: str | None = None, settings: Settings | None = None,
                say: Callable[[str], None] = lambda _m: None) -> BuildResult:
    """Take a model from the MLflow registry into the BentoML model store and build
    a bento that serves it without MLflow (offline: requirements are pinned here,
    never resolved). Raises LookupError when the model is not in the registry."""
    import shutil
    import tempfile

    from mqlscore.config import Settings as _Settings
    from mqlscore.registry import load_scoring_model, tracking_uri

    t0 = time.perf_counter()
    settings = settings or _Settings()
    service = settings.service
    uri = model_uri or f"models:/{settings.train.model_name}@champion"
    root = project_root()
    if root is None:
        raise FileNotFoundError("cannot find the bento/ folder of the mqlscore source checkout "
                                "(run mqlscore build from the repository)")
    say(f"loading {uri} from {tracking_uri()}")
    scoring_model = load_scoring_model(uri)
    engine = ScoringEngine(scoring_model, service)  # refuse to package a model that cannot score
    engine.self_test()

    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    import bentoml

    labels = {"registered_model": engine.name, "registered_version": engine.version,
              "kind": scoring_model.kind}
    say("saving it into the BentoML model store")
    with bentoml.models.create(service.bento_name, labels=labels,
                               metadata={"model_uri": uri, "trained_at": str(scoring_model.metadata.get("trained_at"))}
                               ) as stored:
        scoring_model.save(Path(stored.path) / SCORING_MODEL_DIR)
        (Path(stored.path) / SERVICE_CONFIG_FILE).write_text(service.model_dump_json(indent=2))
    model_tag = str(stored.tag)

    say("building the bento (offline, dependencies pinned from uv.lock)")
    with tempfile.TemporaryDirectory(prefix="mqlscore-bento-") as tmp:
        ctx = Path(tmp)
        for name in ("service.py", "bentofile.yaml"):
            shutil.copy2(root / "bento" / name, ctx / name)
        shutil.copytree(Path(__file__).resolve().parent, ctx / "mqlscore",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "synthetic"))
        (ctx / "requirements.txt").write_text("\n".join(pinned_requirements(root)) + "\n")
        (ctx / MODEL_TAG_FILE).write_text(model_tag + "\n")  # the service loads exactly this model
        previous = os.environ.pop(MODEL_TAG_ENV, None)
        os.environ[BUILDING_ENV] = "1"
        try:
            bento = bentoml.bentos.build_bentofile(str(ctx / "bentofile.yaml"), build_ctx=str(ctx),
                                                   name=service.bento_name,
                                                   labels={**labels, "model_uri": uri})
        finally:
            os.environ.pop(BUILDING_ENV, None)
            if previous is not None:
                os.environ[MODEL_TAG_ENV] = previous
    return BuildResult(uri, engine.name, engine.version, model_tag, str(bento.tag), str(bento.path),
                       time.perf_counter() - t0)


# ---------------------------------------------------------------------------
# Serving
# ---------------------------------------------------------------------------

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve_command(bento: str | None, host: str, port: int, dev: bool, workers: int | None,
                  settings: Settings | None = None) -> list[str]:
    """Check that the service can start (key, built bento) and return the command
    line that runs it; raises StartupError with a plain message otherwise."""
    from mqlscore.config import Settings as _Settings

    settings = settings or _Settings()
    if dev and host not in LOOPBACK:
        raise StartupError(f"--dev turns authentication off; it only listens on 127.0.0.1, not {host}")
    env = dict(os.environ)
    if dev:
        env[DEV_ENV] = "1"
    ApiKeyAuth.from_env(env)
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    import bentoml
    from bentoml.exceptions import NotFound

    tag = bento or f"{settings.service.bento_name}:latest"
    try:
        found = bentoml.get(tag)
    except NotFound:
        raise StartupError(f"no bento {tag} in {_bentoml_home()}: run 'mqlscore build' first") from None
    return [sys.executable, "-m", "bentoml", "serve", str(found.tag), "--host", host, "--port", str(port)]


def serve_environment(dev: bool, workers: int | None, settings: Settings | None = None) -> dict[str, str]:
    """The environment of the server process."""
    env = dict(os.environ)
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    env.setdefault("BENTOML_DO_NOT_TRACK", "true")  # no usage analytics leave the machine
    env.setdefault("OMP_NUM_THREADS", "1")  # one scoring thread per worker: OpenMP's team costs ~8 ms a call
    if dev:
        env[DEV_ENV] = "1"
    else:
        env.pop(DEV_ENV, None)
    if workers is not None:
        env[WORKERS_ENV] = str(workers)
    elif settings is not None:
        env.setdefault(WORKERS_ENV, str(settings.service.workers))
    if settings is not None:
        env[SERVICE_CONFIG_ENV] = settings.service.model_dump_json()
    return env


def how_to_call(host: str, port: int, dev: bool) -> str:
    """A curl example for the start-up banner and the docs."""
    auth = "" if dev else ' -H "Authorization: Bearer $MQLSCORE_API_KEY"'
    body = json.dumps({"leads": [example_lead()]})
    sign_in = "" if dev else " (sign in with the API key)"
    return (f"curl -s http://{host}:{port}/score{auth} -H 'Content-Type: application/json' \\\n"
            f"     -d '{body}'\n"
            f"curl -s http://{host}:{port}/model{auth}\n"
            f"Lead card in a browser: http://{host}:{port}/ui{sign_in}")
