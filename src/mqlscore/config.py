"""Typed configuration for every stage, passed as arguments.

Each stage reads only its own section. ``load_config`` reads a YAML file whose
top-level keys are the section names; anything left out keeps its default.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


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


class Settings(_Section):
    """All sections together, as read from a ``--config`` YAML file."""

    generator: GeneratorConfig = GeneratorConfig()


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
