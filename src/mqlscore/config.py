"""Typed configuration for every stage, passed as arguments.

Each stage reads only its own section. ``load_config`` reads a YAML file whose
top-level keys are the section names; anything left out keeps its default.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mqlscore.contract.schema import DEFAULT_MODEL_NAME


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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

    @field_validator("export_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


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
    seed: int = 0


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


class Settings(_Section):
    """All sections together, as read from a ``--config`` YAML file."""

    generator: GeneratorConfig = GeneratorConfig()
    features: FeatureConfig = FeatureConfig()
    snapshots: SnapshotConfig = SnapshotConfig()
    scoring: ScoringConfig = ScoringConfig()
    train: TrainConfig = TrainConfig()
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
