"""Typed configuration for every stage, passed as arguments.

Each stage reads only its own section. ``load_config`` reads a YAML file whose
top-level keys are the section names; anything left out keeps its default.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mqlscore.contract.schema import DEFAULT_MODEL_NAME, LEAD_SOURCES, ORG_TYPES


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


class _WorldChange(_Section):
    """A change of the synthetic world from a date on (``generator.changes``)."""

    at: date = Field(description="The change takes effect at 00:00 UTC of this date: on leads created, events "
                     "and outcomes happening, on or after it; the world before is untouched.")

    def spec(self) -> str:
        """The change in the compact form of ``mqlscore generate --change``."""
        name, value = self._name_value()
        return f"{self.at.isoformat()}:{self.kind}:{name}={value:g}"  # type: ignore[attr-defined]

    def _name_value(self) -> tuple[str, float]:  # pragma: no cover - every kind overrides it
        raise NotImplementedError


class ChannelVolumeChange(_WorldChange):
    """A lead source's inflow multiplied by ``factor`` (0: the channel dries up)."""

    kind: Literal["channel_volume"] = "channel_volume"
    channel: str = Field(description="A lead source (contract vocabulary), e.g. paid_search.")
    factor: float = Field(ge=0, le=20, description="Multiplier of the channel's new leads per day (0 to 20).")

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, value: str) -> str:
        if value not in LEAD_SOURCES:
            raise ValueError(f"unknown channel {value!r}; the lead sources are: {', '.join(LEAD_SOURCES)}")
        return value

    def _name_value(self) -> tuple[str, float]:
        return self.channel, self.factor


class SignalWeightChange(_WorldChange):
    """A signal's weight in the true SQL hazard multiplied by ``factor`` (0: it stops predicting).

    Signals are the generator's: activity types and ``page_<category>`` (the
    ``signals`` of the truth folder's ``truth.json``); ``mqlscore.synthetic``
    checks the name when the export is generated."""

    kind: Literal["signal_weight"] = "signal_weight"
    signal: str = Field(description="A signal of the generator, e.g. webinar_attended or page_pricing.")
    factor: float = Field(ge=-20, le=20, description="Multiplier of the signal's weight (0: stops predicting).")

    _finite_factor = field_validator("factor")(_finite)

    def _name_value(self) -> tuple[str, float]:
        return self.signal, self.factor


class OrgFitChange(_WorldChange):
    """An organisation type's fit: ``shift`` added to the true log-hazard of its leads."""

    kind: Literal["org_fit"] = "org_fit"
    org_type: str = Field(description="An org type (contract vocabulary), e.g. payer.")
    shift: float = Field(ge=-10, le=10, description="Added to the log-hazard of SQL (-1: about 2.7 times fewer "
                         "SQLs a day).")

    _finite_shift = field_validator("shift")(_finite)

    @field_validator("org_type")
    @classmethod
    def _known_org_type(cls, value: str) -> str:
        if value not in ORG_TYPES:
            raise ValueError(f"unknown org type {value!r}; the org types are: {', '.join(ORG_TYPES)}")
        return value

    def _name_value(self) -> tuple[str, float]:
        return self.org_type, self.shift


WorldChange = Annotated[Union[ChannelVolumeChange, SignalWeightChange, OrgFitChange], Field(discriminator="kind")]
CHANGE_KINDS: dict[str, type[_WorldChange]] = {
    "channel_volume": ChannelVolumeChange, "signal_weight": SignalWeightChange, "org_fit": OrgFitChange,
}
_CHANGE_VALUE = {"channel_volume": "factor", "signal_weight": "factor", "org_fit": "shift"}
_CHANGE_NAME = {"channel_volume": "channel", "signal_weight": "signal", "org_fit": "org_type"}
_CHANGE_SPEC = re.compile(r"^\s*(?P<at>[^:\s]+)\s*:\s*(?P<kind>[^:\s]+)\s*:\s*(?P<name>[^=\s]+)\s*=\s*"
                          r"(?P<value>\S+)\s*$")
CHANGE_SYNTAX = "DATE:KIND:NAME=VALUE, e.g. 2026-06-01:signal_weight:webinar_attended=0"


def parse_change(spec: str) -> ChannelVolumeChange | SignalWeightChange | OrgFitChange:
    """A change from its compact form ``DATE:KIND:NAME=VALUE`` (``mqlscore generate --change``).

    KIND is ``channel_volume`` (NAME a lead source, VALUE the factor on its
    inflow), ``signal_weight`` (NAME a generator signal, VALUE the factor on its
    weight) or ``org_fit`` (NAME an org type, VALUE added to its log-hazard).
    Raises ValueError saying what is wrong and what is expected.
    """
    match = _CHANGE_SPEC.match(spec)
    if match is None:
        raise ValueError(f"{spec!r} is not a change: expected {CHANGE_SYNTAX}")
    kind = match["kind"]
    if kind not in CHANGE_KINDS:
        raise ValueError(f"{spec!r}: unknown kind {kind!r}; the kinds are: {', '.join(CHANGE_KINDS)}")
    try:
        at = date.fromisoformat(match["at"])
    except ValueError:
        raise ValueError(f"{spec!r}: {match['at']!r} is not a date (YYYY-MM-DD)") from None
    try:
        value = float(match["value"])
    except ValueError:
        raise ValueError(f"{spec!r}: {match['value']!r} is not a number") from None
    from pydantic import ValidationError

    try:
        return CHANGE_KINDS[kind](at=at, **{_CHANGE_NAME[kind]: match["name"], _CHANGE_VALUE[kind]: value})
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                            for e in exc.errors())
        raise ValueError(f"{spec!r}: {reasons}") from None


class GeneratorConfig(_Section):
    """How ``mqlscore generate`` builds a synthetic CRM export."""

    n_leads: int = Field(20_000, ge=10, description="Leads created up to the export time (approximate).")
    seed: int = 7
    export_at: datetime = Field(
        datetime(2026, 9, 30, tzinfo=timezone.utc), description="The export's as-of time."
    )
    history_days: int = Field(730, ge=120, description="Days of history before the export time.")
    horizon_days: int = Field(90, ge=7, description="Horizon of the oracle probabilities.")
    mc_sims: int = Field(50, ge=10, description="Monte Carlo paths per open lead for the oracle.")
    output_format: Literal["csv", "parquet"] = "csv"
    with_errors: bool = Field(False, description="Add a few invalid rows of each kind the contract names.")
    changes: tuple[WorldChange, ...] = Field(
        (), description="Changes of the world from a date on (drift): channel_volume, signal_weight, org_fit. "
        "The history before the first change is the same as without changes (same seed)."
    )
    also_export_at: tuple[date, ...] = Field(
        (), description="Also write the same CRM as exported at these earlier dates (00:00 UTC), each in "
        "OUT/earlier/DATE with its truth in TRUTH/earlier/DATE."
    )

    @field_validator("export_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    @property
    def history_start(self) -> datetime:
        """00:00 UTC of the first simulated day (``history_days`` before the export date)."""
        day = self.export_at.replace(hour=0, minute=0, second=0, microsecond=0)
        return day - timedelta(days=self.history_days)

    @model_validator(mode="after")
    def _dates_in_window(self) -> GeneratorConfig:
        start = self.history_start.date()
        export_day = self.export_at.date()
        end = export_day + timedelta(days=self.horizon_days)
        for change in self.changes:
            if not start < change.at < end:
                raise ValueError(f"change {change.spec()}: its date must lie after the first simulated day "
                                 f"({start}) and before the end of the horizon ({end})")
        for when in self.also_export_at:
            if not start < when < export_day:
                raise ValueError(f"also_export_at {when}: must lie after the first simulated day ({start}) and "
                                 f"before the export date ({export_day})")
        if len(set(self.also_export_at)) != len(self.also_export_at):
            raise ValueError("also_export_at: each date once")
        return self


DEFAULT_PAGE_RULES: tuple[tuple[str, str], ...] = (
    # Ordered: the first matching rule names a page view's category. Patterns are
    # regular expressions searched in the normalised path (lower case, no host,
    # no query string, no trailing slash).
    ("careers", r"(^|/)(careers?|jobs?|hiring|join-us|work-with-us)(/|-|$)"),
    ("pricing", r"(^|/)(pricing|prices?|plans?|quote|buy|packages)(/|-|$)"),
    ("roi", r"(^|/|-)(roi|calculator|savings|business-case|tco)(/|-|$)"),
    ("case_studies", r"(case-stud|customer|success-stor|testimonial|references?(/|$))"),
    ("security", r"(security|trust|hipaa|(^|/|-)baa(/|-|$)|soc-?2|hitrust|privacy|compliance|gdpr|pen-?test)"),
    ("integrations", r"(integration|(^|/|-)(ehr|emr|fhir|hl7|api|apis|sdk|smart-on-fhir)(/|-|$)|interop|"
                     r"developers?|epic|cerner|oracle-health|athena|meditech|sandbox)"),
    ("evidence", r"(evidence|research|outcomes|publications?|peer-reviewed|clinical-stud|(^|/|-)rct(/|-|$)|"
                 r"white-?papers?|validation)"),
    ("demo_contact", r"(^|/)(demo|contact|contact-us|contact-sales|talk-to|get-started|request)(/|-|$)"),
    ("blog", r"(^|/)(blog|news|articles?|insights|podcasts?|press|press-releases?|resources)(/|-|$)"),
    ("home", r"^/?$"),
)


class FeatureConfig(_Section):
    """How leads and activities become features (one definition everywhere)."""

    half_lives_days: tuple[float, ...] = Field(
        (7.0, 30.0, 90.0, 270.0), description="Half-lives of the decayed activity counts."
    )
    windows_days: tuple[int, ...] = Field((7, 30), description="Recent windows of plain activity counts.")
    committee_window_days: int = Field(30, ge=1, description="Window of 'active' for buying-committee features.")
    account_half_life_days: float = Field(30.0, gt=0, description="Half-life of the account's decayed intent.")
    page_rules: tuple[tuple[str, str], ...] = DEFAULT_PAGE_RULES
    min_category_count: int = Field(
        30, ge=1, description="Categorical values (and unknown activity types or page sections) seen fewer "
        "times than this in training are grouped into 'other'."
    )
    max_categories: int = Field(60, ge=2, description="At most this many levels per categorical feature.")
    exclude_columns: tuple[str, ...] = Field(
        (), description="Extra lead columns never to use as features (e.g. fields filled after qualification); "
        "names match ignoring case, spaces, '_' and '-', and a name that matches no column is warned about."
    )
    allow_columns: tuple[str, ...] = Field(
        (), description="Extra lead columns to keep although the leak guard says they look like they know the "
        "outcome (their evidence is still reported); matched like exclude_columns."
    )
    intent_columns: tuple[str, ...] = Field(
        (), description="Extra lead columns that are engagement (intent) signals rather than facts about the lead "
        "(e.g. time on site, page views, email clicks): their points count as intent; matched like "
        "exclude_columns. A lead column holds its value at export time, so a running total may include activity "
        "after an older snapshot: prefer an activity table where the CRM has one."
    )


class SnapshotConfig(_Section):
    """Which (lead, as-of time) rows make the training set."""

    horizon_days: int = Field(90, ge=1, description="A snapshot's label: SQL within this many days after it.")
    every_days: float = Field(14.0, gt=0, description="Periodic snapshots every N days from creation.")
    first_after_hours: float = Field(1.0, ge=0, description="The first snapshot, this long after creation.")
    after_activity: bool = Field(True, description="Also snapshot a lead one minute after its activity.")
    after_activity_min_gap_days: float = Field(
        14.0, gt=0, description="At most one activity-triggered snapshot per lead per this many days."
    )


class ScoringConfig(_Section):
    """How a probability becomes a 0-100 score, a tier and the MQL flag."""

    points_at_base_rate: float = Field(50.0, description="Score of a lead whose odds equal the base rate's.")
    points_to_double_odds: float = Field(10.0, gt=0, description="Points added per doubling of the odds.")
    tier_cutoffs: tuple[float, float, float] = Field(
        (70.0, 55.0, 40.0), description="Lowest score of tiers A, B and C; below C is D."
    )
    threshold_policy: Literal["f1", "capacity", "sql_rate"] = Field(
        "f1", description="How the MQL threshold is chosen on validation: best F1 (default), a sales capacity "
        "(mqls_per_week), or a target SQL rate among MQLs (target_sql_rate)."
    )
    mqls_per_week: float | None = Field(None, gt=0, description="Sales capacity for policy 'capacity'.")
    target_sql_rate: float | None = Field(None, gt=0, lt=1, description="Target for policy 'sql_rate'.")
    top_reasons: int = Field(5, ge=1, le=20, description="Reasons kept per lead.")


class TrainConfig(_Section):
    """How ``mqlscore train`` fits, compares and registers models."""

    model_name: str = Field(DEFAULT_MODEL_NAME, description="Registered model name in MLflow.")
    experiment: str = Field("mqlscore", description="MLflow experiment name.")
    validation_days: int = Field(90, ge=14, description="Most recent fully labelled period used to validate.")
    min_leads: int = Field(500, ge=10, description="Below this many leads training refuses (unless forced).")
    min_conversions: int = Field(50, ge=5, description="Below this many SQLs training refuses (unless forced).")
    min_validation_conversions: int = Field(
        20, ge=1, description="Below this many SQLs in the validation period training refuses (unless forced)."
    )
    gbm_min_conversions: int = Field(
        300, ge=10, description="Below this many SQLs in the fitting period only the scorecard is trained."
    )
    optuna_trials: int = Field(0, ge=0, description="LightGBM hyper-parameter search trials (0: defaults).")
    max_fit_rows: int = Field(
        500_000, ge=10_000, description="Fit on a random sample of at most this many snapshots (snapshots of one "
        "lead are strongly correlated, so a sample loses little and keeps large exports fast)."
    )
    estimate_half_lives: bool = Field(True, description="Estimate a half-life per signal family for the report.")
    refit: bool = Field(True, description="After the champion and its settings are chosen on the time split, "
                        "refit it on every labelled snapshot (validation period and purge gap included) with "
                        "calibration cross-fitted by time, and register that model; the reported validation "
                        "figures stay those of the model as chosen (`train --no-refit` skips it).")
    refit_folds: int = Field(2, ge=2, le=20, description="Time blocks of the validation period's buying groups "
                             "the refit's calibration is cross-fitted in (the refit costs this many fits plus one).")
    seed: int = 0


class MonitorConfig(_Section):
    """How ``mqlscore monitor`` judges a registered model on a newer export (docs/monitoring.md)."""

    recent_weeks: int = Field(8, ge=1, le=104, description="Drift compares the model's training window (its "
                              "validation period) with the last N weeks before the export's as-of time.")
    period: Literal["week", "month"] = Field("month", description="Realised performance is also shown per week "
                                             "or per calendar month of the snapshot time.")
    psi_bins: int = Field(10, ge=2, le=50, description="Quantile bins of a numeric feature or the score, cut on "
                          "the training window (plus one bin for missing values); categories are binned by level.")
    psi_watch: float = Field(0.1, gt=0, description="Population stability index from which a shift is worth "
                             "watching.")
    psi_retrain: float = Field(0.25, gt=0, description="Population stability index from which a shift of the "
                               "score, or of a signal whose points moved by min_points_shift, calls for "
                               "retraining.")
    min_importance: float = Field(0.02, ge=0, le=1, description="Share of the model's mean absolute points a "
                                  "signal must carry for its drift to be worth watching (below: listed only).")
    min_points_shift: float = Field(2.0, gt=0, description="A signal whose PSI reaches psi_retrain calls for "
                                    "retraining only when its mean points (on the score's scale: 10 points double "
                                    "the odds) moved by this much between the windows (else: watch).")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="Level of every confidence interval.")
    bootstrap: int = Field(200, ge=50, le=5000, description="Bootstrap resamples of leads (a lead's snapshots "
                           "stay together).")
    min_sqls: int = Field(20, ge=1, description="Realised figures judge the model only with at least this many "
                          "SQL snapshots (and as many non-SQL ones) with a completed horizon.")
    signal_active_days: int = Field(30, ge=1, description="A lead counts as showing an intent signal at a "
                                    "snapshot when it did it within this many days before.")
    signal_factor: float = Field(1.5, gt=1, description="A signal's (or fit level's) observed-to-expected SQL "
                                 "ratio that moved by this factor or more since the training window, its interval "
                                 "excluding no change, says the signal predicts differently: retrain.")
    signal_confidence: float = Field(0.95, gt=0.5, lt=1, description="Family-wide level of the signal checks' "
                                     "intervals: many signals are checked at once, so each interval is widened "
                                     "for their number (Bonferroni).")
    min_signal_sql_leads: int = Field(30, ge=1, description="A signal or level is checked only when at least "
                                      "this many distinct leads among its snapshots became SQLs in each window.")
    volume_factor: float = Field(2.0, gt=1, description="Weekly new leads (all, or of one channel or org type) "
                                 "or activities of one type that changed by this factor or more: watch.")
    min_weekly_count: float = Field(2.0, gt=0, description="Channels, org types and activity types below this "
                                    "many a week in both windows are not judged on volume.")
    max_rows_per_window: int = Field(150_000, ge=1_000, description="At most this many snapshots per window (a "
                                     "random sample beyond).")
    seed: int = 0

    @model_validator(mode="after")
    def _ordered(self) -> MonitorConfig:
        if self.psi_retrain <= self.psi_watch:
            raise ValueError("psi_retrain must be above psi_watch")
        return self


# A step between backtest origins: a positive whole number of days, weeks or calendar months.
EVERY_PATTERN = re.compile(r"^\s*(\d+)\s*([dwm])\s*$", re.IGNORECASE)


class BacktestConfig(_Section):
    """Which origins ``mqlscore backtest`` trains at when the command line does not say (docs/monitoring.md, Backtests)."""

    every: str = Field("30d", description="Step between origins: N days, weeks or calendar months (30d, 4w, 1m).")
    origins: int = Field(6, ge=1, le=120, description="Origins when --from is not given: the last at the export's "
                         "as-of time minus the horizon, the others a step apart before it.")

    @field_validator("every")
    @classmethod
    def _step(cls, value: str) -> str:
        match = EVERY_PATTERN.match(value)
        if not match or int(match.group(1)) < 1:
            raise ValueError(f"{value!r} is not a step between origins: write a positive whole number followed by "
                             "d (days), w (weeks) or m (calendar months), e.g. 30d, 4w or 1m")
        return value.strip().lower()


class LeadCardConfig(_Section):
    """The lead card's sessions, sign-in brake and upload bounds (``service.lead_card``)."""

    session_idle_hours: float = Field(8.0, gt=0, description="A session unused this long ends.")
    session_max_hours: float = Field(24.0, gt=0, description="A session ends this long after sign-in.")
    sign_in_attempts: int = Field(5, ge=1, description="Wrong keys from one address within the window before "
                                  "sign-in from it is refused (429) for the rest of the window.")
    sign_in_window_seconds: int = Field(60, ge=1, description="The window of sign_in_attempts.")
    upload_max_rows: int = Field(200_000, ge=1, description="Rows of a scored file opened in the page; more: 413.")
    upload_max_decoded_bytes: int = Field(64 * 1024 * 1024, ge=1024, description="Bytes of a scored file's "
                                          "columns once decompressed (Parquet); more: 413.")


class StoreConfig(_Section):
    """The lead store behind the service: events in, scores kept up to date, MQL hand-offs out."""

    url: str = Field("", description="Where the store is: sqlite:///PATH or postgresql://USER@HOST:PORT/DB. "
                     "Empty: no store (the service scores requests only), unless MQLSCORE_STORE is set.")
    max_events_per_request: int = Field(1_000, ge=1, description="More events in one POST /events: 422.")
    max_event_id_chars: int = Field(200, ge=8, description="A longer event_id: 422.")
    max_extra_fields_per_lead: int = Field(50, ge=0, description="More fields outside the contract on one event.")
    max_field_name_chars: int = Field(64, ge=1, description="A longer field name on an event: 422.")
    max_text_chars: int = Field(2_000, ge=16, description="A longer string value on an event: 422.")
    group_linger_ms: float = Field(20.0, ge=0, le=1_000, description="When POST /events requests come "
                                   "concurrently (one arrives while another is in flight), a worker's group commit "
                                   "waits up to this long after the oldest for more, so that they share the "
                                   "contract's check and one transaction. A lone request, or a sender's next request "
                                   "after its last answer, never waits. A sender waiting for each answer on c "
                                   "connections gets at most about c / (this + the write) requests per second. "
                                   "0: never wait.")
    group_target_events: int = Field(50, ge=1, description="A group commit waiting for more requests is written as "
                                     "soon as it holds this many events.")
    max_group_leads: int = Field(2_000, ge=1, description="Colleagues read with a lead to score it (its account's "
                                 "most recently created leads; more are left out of the account features).")
    lookahead_days: int = Field(365, ge=1, le=3650, description="How far ahead mql_until is looked for: an MQL "
                                "still above the threshold then has mql_until null.")
    scan_seconds: float = Field(1.0, gt=0, description="How often each worker looks for changed leads and for "
                                "MQLs whose decay has run out.")
    score_batch: int = Field(500, ge=1, description="Changed leads scored together in one model call.")
    scorer: Literal["process", "thread", "off"] = Field(
        "process", description="Where `mqlscore serve` scores the store: 'process' (one scorer process beside the "
        "workers, at a lower CPU priority, so acknowledgements never wait behind scoring), 'thread' (in each "
        "worker) or 'off' (another service scores this store). MQLSCORE_STORE_SCORER overrides it.")
    scorer_nice: int = Field(10, ge=0, le=19, description="0: the scorer process runs at the workers' CPU "
                             "priority; above 0: in Linux's idle class (it runs only on a core nothing else wants), "
                             "or with this nice level where that class is missing.")
    lease_seconds: float = Field(60.0, gt=0, description="How long a worker holds leads it is scoring, or the "
                                 "webhook, before another may take over (a killed worker's work is picked up).")
    webhook_url: str = Field("", description="POST each hand-off here (JSON, signed with HMAC-SHA256 in "
                             "X-MQLScore-Signature); empty: no webhook. The secret comes from "
                             "MQLSCORE_WEBHOOK_SECRET.")
    webhook_timeout_seconds: float = Field(10.0, gt=0)
    webhook_max_backoff_seconds: float = Field(300.0, gt=0, description="Retries wait 1 s, 2 s, 4 s, ... up to this.")


class ServiceConfig(_Section):
    """How the scoring service (``mqlscore build`` / ``mqlscore serve``) bounds and runs requests."""

    max_leads_per_request: int = Field(1_000, ge=1, description="More leads in one request: 422.")
    max_activities_per_lead: int = Field(1_000, ge=1, description="More activities on one lead: 422.")
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="A larger request body: 413.")
    # Fields outside the contract are kept as candidate features; unbounded, 1,000 leads with 300 distinct
    # ones took a worker to 6.5 GB and 3 minutes (every name becomes a column of every lead).
    max_extra_fields_per_lead: int = Field(50, ge=0, le=10_000, description="More fields outside the contract "
                                           "on one lead, or on one activity: 422.")
    max_extra_fields_per_request: int = Field(200, ge=0, le=10_000, description="More distinct names of fields "
                                              "outside the contract in one request: 422.")
    max_field_name_chars: int = Field(64, ge=1, le=10_000, description="A longer name of a field outside the "
                                      "contract: 422.")
    max_text_chars: int = Field(2_000, ge=16, le=1_000_000, description="A longer string value in any field "
                                "(an id, a timestamp, a title, an extra field): 422.")
    batch_max_leads: int = Field(500, ge=1, description="Requests waiting while a worker is busy are scored "
                                 "together, up to this many leads per model call (1: no batching).")
    workers: int = Field(2, ge=1, le=64, description="Worker processes of `mqlscore serve` (one scoring thread "
                         "each; one per core is best).")
    bento_name: str = Field("mqlscore-service", pattern=r"^[a-z0-9][a-z0-9_.-]*$",
                            description="Name of the bento and of its model in the BentoML store (not "
                            "\"mqlscore\": `bentoml serve mqlscore:TAG` would import the package of that name).")
    lead_card: LeadCardConfig = LeadCardConfig()
    store: StoreConfig = StoreConfig()


class Settings(_Section):
    """All sections together, as read from a ``--config`` YAML file."""

    generator: GeneratorConfig = GeneratorConfig()
    features: FeatureConfig = FeatureConfig()
    snapshots: SnapshotConfig = SnapshotConfig()
    scoring: ScoringConfig = ScoringConfig()
    train: TrainConfig = TrainConfig()
    monitor: MonitorConfig = MonitorConfig()
    backtest: BacktestConfig = BacktestConfig()
    service: ServiceConfig = ServiceConfig()


def load_config(path: Path | None) -> Settings:
    """Read a YAML config file into typed settings (defaults when ``path`` is None)."""
    if path is None:
        return Settings()
    import yaml

    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: the config file must hold a mapping of sections, got {type(raw).__name__}")
    return Settings.model_validate(raw)
