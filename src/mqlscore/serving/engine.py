"""The scoring engine: a loaded ``ScoringModel`` behind the service's rules.

A request becomes the contract's tables (:mod:`mqlscore.serving.tables`), then
one ``ScoringModel.score`` call scores it — the same code as batch scoring.
Several requests can share one model call (:meth:`ScoringEngine.score_many`,
used by the batcher); each keeps its own as-of time, buying groups and errors.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mqlscore.config import ServiceConfig
from mqlscore.contract import parse_as_of
from mqlscore.contract.schema import (DEFAULT_MODEL_NAME, EARLIEST, LATEST, OUT_OF_RANGE, POINTS_FIELDS,
                                      REASON_FIELDS, SCORE_FIELDS, TIERS, example_lead)
from mqlscore.serving import context
from mqlscore.serving.errors import FieldProblem, RequestRejected, StartupError
from mqlscore.serving.schemas import AccountSummary, LeadIn, LeadScore, Notice, ScoreResponse
from mqlscore.serving.tables import RequestTables, request_tables, stack_tables

if TYPE_CHECKING:
    from mqlscore.scoring import ScoringModel

SCORING_MODEL_DIR = "scoring_model"  # inside the BentoML model folder
SERVICE_CONFIG_FILE = "service_config.json"  # inside the BentoML model folder
SERVICE_CONFIG_ENV = "MQLSCORE_SERVICE_CONFIG"  # JSON of ServiceConfig, overrides the one built into the bento
SELF_TEST_AS_OF = "2026-02-01T00:00:00Z"
# The service settings that bound a request (shown by GET /model and in the OpenAPI document).
LIMITS = ("max_leads_per_request", "max_activities_per_lead", "max_body_bytes", "max_extra_fields_per_lead",
          "max_extra_fields_per_request", "max_field_name_chars", "max_text_chars")


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


def _as_list(values: Any) -> list[Any]:
    """A score column (an array or a list) as a list of plain Python values."""
    return values.tolist() if hasattr(values, "tolist") else list(values)


def _summary_fields(row: dict[str, Any]) -> dict[str, Any]:
    """An account row of ``mqlscore.accounts.account_records`` as ``AccountSummary``'s fields:
    its members are the summary's leads; its as-of time is the response's."""
    fields = {k: v for k, v in row.items() if k not in ("as_of", "members")}
    fields["leads"] = row["members"]
    return fields


def iso_utc(ts: pd.Timestamp) -> str:
    """A moment as ISO-8601 UTC text with ``Z``."""
    return ts.tz_convert("UTC").isoformat().replace("+00:00", "Z")


class ScoringEngine:
    """A loaded ``ScoringModel`` behind the service's rules (limits, the contract)."""

    def __init__(self, model: ScoringModel, config: ServiceConfig | None = None,
                 source: dict[str, Any] | None = None) -> None:
        self.model = model
        self.config = config or ServiceConfig()
        self.source = source or {}
        self.folder: Path | None = None  # the model folder, when loaded from one (from_folder)
        self.name = str(model.metadata.get("model_name", DEFAULT_MODEL_NAME))
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
        engine.folder = folder
        engine.self_test()
        return engine

    def self_test(self) -> None:
        """Score a made-up lead; a model that cannot, or that gives nonsense, stops start-up."""
        try:
            lead = LeadIn.model_validate(example_lead())
            response = self.score([lead], as_of=SELF_TEST_AS_OF)
        except Exception as exc:  # noqa: BLE001
            raise StartupError(f"the scoring model fails its self-test: {exc}") from exc
        s = response.scores[0]
        if not (0.0 <= s.probability <= 1.0 and math.isfinite(s.probability) and 0.0 <= s.score <= 100.0):
            raise StartupError(f"the scoring model fails its self-test: probability {s.probability}, "
                               f"score {s.score}")

    # -- scoring -------------------------------------------------------------
    def resolve_as_of(self, as_of: str | None, now: pd.Timestamp | None = None) -> pd.Timestamp:
        """The given as-of time (ISO-8601) or the request's moment, in UTC microseconds."""
        if as_of is None or not str(as_of).strip():
            when = now if now is not None else pd.Timestamp.now(tz="UTC")
            return pd.Timestamp(when).tz_convert("UTC").as_unit("us")
        if len(str(as_of)) > self.config.max_text_chars:
            raise RequestRejected(422, "as_of is not a timestamp", [FieldProblem(
                "as_of", f"text of {len(str(as_of)):,} characters; at most {self.config.max_text_chars:,} "
                         "(max_text_chars)")])
        try:
            when = parse_as_of(as_of)
        except (ValueError, OverflowError):
            raise RequestRejected(422, "as_of is not a timestamp", [FieldProblem(
                "as_of", "not an ISO-8601 timestamp (e.g. 2026-06-01T12:00:00Z); leave it out to score now")])
        if not EARLIEST <= when < LATEST:
            raise RequestRejected(422, "as_of is out of range", [FieldProblem("as_of", OUT_OF_RANGE)])
        return when

    def prepare(self, leads: Sequence[LeadIn], as_of: str | None = None,
                now: pd.Timestamp | None = None) -> RequestTables:
        """A request as the contract's tables; RequestRejected on bad input."""
        return request_tables(leads, self.resolve_as_of(as_of, now), self.config)

    def score(self, leads: Sequence[LeadIn], as_of: str | None = None, reasons: bool = True,
              now: pd.Timestamp | None = None) -> ScoreResponse:
        """Score the request's leads at ``as_of``; RequestRejected on bad input."""
        request = self.prepare(leads, as_of, now)
        context.count(leads=len(leads), activities=request.n_activities, reasons=reasons)
        return self.score_requests([(request, reasons)])[0]

    def score_tables(self, request: RequestTables, reasons: bool = True,
                     lead_ids: Sequence[str] | None = None) -> ScoreResponse:
        """Score clean tables already through the contract (the lead store's history):
        the response ``POST /score`` gives for the same leads and activities. With
        ``lead_ids``, only those leads are scored (their colleagues still count in
        their account features) and answered, in that order."""
        if lead_ids is None:
            return self.score_requests([(request, reasons)])[0]
        ids = [str(i) for i in lead_ids]
        snapshots = pd.DataFrame({"lead_id": ids, "as_of": pd.DatetimeIndex([request.as_of] * len(ids))})
        scored = self.model.score_columns(request.leads, request.activities, snapshots, reasons=reasons)
        names = SCORE_FIELDS[1:] + ((*POINTS_FIELDS, *REASON_FIELDS) if reasons else ())
        columns = {c: _as_list(scored[c]) for c in names}
        columns["lead_id"] = ids
        return self._response(columns, request, reasons, n_leads=len(ids))

    def score_many(self, jobs: Sequence[Job]) -> list[Outcome]:
        """Score several requests with one model call; each keeps its own as-of time,
        buying groups and errors (a bad request never fails the others)."""
        ready: list[tuple[int, RequestTables, bool]] = []
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

    def score_requests(self, items: Sequence[tuple[RequestTables, bool]]) -> list[ScoreResponse]:
        """One ``ScoringModel.score`` call for one or more requests' tables.

        Features see only a lead's own activities and its account's leads, so the
        numbers are exactly those of scoring each request alone (tested), each at
        its own as-of time.
        """
        parts = [request for request, _ in items]
        leads, activities = stack_tables(parts)
        sizes = [p.n_leads for p in parts]
        as_of = pd.DatetimeIndex([p.as_of for p in parts]).repeat(sizes)
        snapshots = pd.DataFrame({"lead_id": leads["lead_id"].to_numpy(), "as_of": as_of})
        any_reasons = any(reasons for _, reasons in items)
        with_accounts = self.model.accounts is not None
        scored = self.model.score_columns(leads, activities, snapshots, reasons=any_reasons, alone=with_accounts)
        names = SCORE_FIELDS[1:] + ((*POINTS_FIELDS, *REASON_FIELDS) if any_reasons else ())
        names += ("log_odds", "alone_log_odds") if with_accounts else ()  # what the account scores read
        columns = {c: _as_list(scored[c]) for c in names}
        out, start = [], 0
        for (request, reasons), size in zip(items, sizes):
            rows = {c: v[start:start + size] for c, v in columns.items()}
            rows["lead_id"] = request.leads["lead_id"].tolist()  # as given (the stacked ones carry a prefix)
            out.append(self._response(rows, request, reasons, self._accounts(rows, request, reasons)))
            start += size
        return out

    def _accounts(self, columns: dict[str, list[Any]], request: RequestTables, reasons: bool) -> list[AccountSummary]:
        """Each account of one request scored from its leads' scores (``mqlscore.accounts``);
        none when the model has no account scores."""
        if self.model.accounts is None:
            return []
        from mqlscore.accounts import account_records

        # columns, not a frame: for a request's few leads a frame costs more than the scoring
        lead_scores = {"lead_id": columns["lead_id"], "as_of": pd.DatetimeIndex([request.as_of] * request.n_leads),
                       **{c: columns[c] for c in ("score", "log_odds", "alone_log_odds")}}
        # validated, not constructed: pydantic builds the nested models (coverage, leads, reasons)
        # in its compiled core, a third of the time model_construct takes for each in Python; the
        # values are the ones given, and they pass (tested)
        return [AccountSummary.model_validate(_summary_fields(row))
                for row in account_records(self.model, request.leads, request.activities, lead_scores, reasons=reasons)]

    def _response(self, columns: dict[str, list[Any]], request: RequestTables, reasons: bool,
                  accounts: list[AccountSummary] | None = None, n_leads: int | None = None) -> ScoreResponse:
        """The response for one request's scored leads given as column lists (and its accounts):
        its ``n_leads`` leads (default: all of the request's)."""
        cols = {c: columns[c] for c in SCORE_FIELDS + ((*POINTS_FIELDS, *REASON_FIELDS) if reasons else ())}
        name, version = self.name, self.version
        # validated, not constructed: pydantic builds each score and its reasons in its compiled
        # core, far cheaper than model_construct in Python (the values pass as they are: tested)
        scores = [LeadScore.model_validate({**{c: v[k] for c, v in cols.items()}, "model_name": name,
                                            "model_version": version})
                  for k in range(request.n_leads if n_leads is None else n_leads)]
        warnings = [Notice.model_construct(field=w.field, message=w.message) for w in request.warnings]
        return ScoreResponse.model_construct(as_of=iso_utc(request.as_of), model_name=name, model_version=version,
                                             scores=scores, warnings=warnings, accounts=list(accounts or []))

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
            "tiers": dict(zip(TIERS, m.config.tier_cutoffs)),
            "score_scale": {"base_rate": scale.base_rate, "points_at_base_rate": scale.points_at_base_rate,
                            "points_to_double_odds": scale.points_to_double_odds},
            "validation_metrics": meta.get("validation_metrics"),
            "n_features": len(m.builder.specs_),
            "features": [{"name": s.name, "group": s.group, "signal": s.signal, "kind": s.kind,
                          "description": s.description} for s in m.builder.specs_],
            "limits": {name: getattr(self.config, name) for name in LIMITS},
            "source": self.source,
            "accounts": self._account_info(),
        }

    def _account_info(self) -> dict[str, Any] | None:
        """The account scores' method, scale, tiers and MQA threshold (None: the model has none)."""
        accounts = self.model.accounts
        if accounts is None:
            return None
        meta, scale = accounts.metadata, accounts.scale
        return {"method": meta.get("method"), "chosen_because": meta.get("chosen_because"), "threshold": {**(meta.get("threshold") or {}),
                                                            "probability": accounts.threshold},
                "tiers": dict(zip(TIERS, self.model.config.tier_cutoffs)),
                "score_scale": {"base_rate": scale.base_rate, "points_at_base_rate": scale.points_at_base_rate,
                                "points_to_double_odds": scale.points_to_double_odds},
                "validation_metrics": meta.get("validation_metrics")}
