"""One contract path: the service, batch scoring and the MLflow model treat every
input the same way.

The same leads go in three ways: as a ``POST /score`` body to the service's
engine, as a CRM export folder to batch scoring (``load_folder`` and
``score_open_leads``, what ``mqlscore score`` runs) and as a request frame to the
registered MLflow model. Each bad input is refused by all three, naming the same
table and column; each input the contract only notices (something dated after
the as-of time, a value outside a known list) is scored by all three, with the
same numbers and the same warning.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mqlscore.contract import ContractError, ContractWarning, load_folder
from mqlscore.contract.schema import ACTIVITY_COLUMNS, LEAD_COLUMNS
from support import MODEL_NAME, lead

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

AS_OF = "2026-02-01T00:00:00Z"
ACTIVITY = {"occurred_at": "2026-01-20T16:30:00Z", "activity_type": "page_view", "detail": "/pricing"}


def _with_activity(**changes: Any) -> dict[str, Any]:
    return lead(activities=[ACTIVITY, {**ACTIVITY, **changes}])


# (name, leads, as_of, what every way in must say: table.column locations)
REFUSED = [
    ("unparsable created_at", [lead(created_at="05/01/2026")], AS_OF, {"leads.created_at"}),
    ("created_at before 1900", [lead(created_at="1700-01-01T00:00:00Z")], AS_OF, {"leads.created_at"}),
    ("unparsable occurred_at", [_with_activity(occurred_at="last tuesday")], AS_OF, {"activities.occurred_at"}),
    ("occurred_at in year 1", [_with_activity(occurred_at="0001-01-01T00:00:00Z")], AS_OF,
     {"activities.occurred_at"}),
    ("empty activity_type", [_with_activity(activity_type=" ")], AS_OF, {"activities.activity_type"}),
    ("negative count", [lead(bed_count=-3)], AS_OF, {"leads.bed_count"}),
    ("fractional count", [lead(employee_count=10.5)], AS_OF, {"leads.employee_count"}),
    ("duplicate lead_id", [lead(), lead()], AS_OF, {"leads.lead_id"}),
]

# (name, leads, as_of, the warning's table.column, the leads scored)
NOTICED = [
    ("activity after as_of", [lead()], "2026-01-21T00:00:00Z", "activities.occurred_at", {"L-EXAMPLE"}),
    ("lead created after as_of", [lead(), lead(lead_id="L-LATER", created_at="2026-03-01T00:00:00Z",
                                                account_id=None)], AS_OF, "leads.created_at", {"L-EXAMPLE"}),
    ("unknown org_type", [lead(org_type="space_agency")], AS_OF, "leads.org_type", {"L-EXAMPLE"}),
    ("exact duplicate activity", [lead(activities=[ACTIVITY, ACTIVITY])], AS_OF, "activities", {"L-EXAMPLE"}),
]


# ---------------------------------------------------------------------------
# The three ways in
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(service_store: Path):
    from mqlscore.scoring import ScoringModel
    from mqlscore.serving.engine import ScoringEngine

    model = ScoringModel.load(service_store / "scoring_model")
    model.metadata.update(model_name=MODEL_NAME, model_version="1")
    return ScoringEngine(model)


@pytest.fixture(scope="module")
def pyfunc(service_store: Path):
    """The registered champion as MLflow serves it (``mlflow.pyfunc``)."""
    from mqlscore.contract.schema import champion_uri

    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{service_store / 'mlflow.db'}"
    try:
        from mqlscore.registry import configure

        yield configure().pyfunc.load_model(champion_uri(MODEL_NAME))
    finally:
        if old is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old


def _by_service(engine, leads: list[dict[str, Any]], as_of: str) -> dict[str, Any]:
    from mqlscore.serving.errors import RequestRejected
    from mqlscore.serving.schemas import ScoreRequest

    request = ScoreRequest.model_validate({"leads": leads, "as_of": as_of})
    try:
        response = engine.score(request.leads, request.as_of)
    except RequestRejected as exc:
        return {"refused": {_location(p.field) for p in exc.problems}}
    return {"scores": {s.lead_id: s.probability for s in response.scores},
            "warnings": {_location(w.field) for w in response.warnings}}


def _by_batch(folder: Path, engine, leads: list[dict[str, Any]], as_of: str) -> dict[str, Any]:
    """As ``mqlscore score`` does it: a folder of CSV files, read as text."""
    from mqlscore.batch import score_open_leads

    folder.mkdir()
    rows = [{c: x.get(c) for c in LEAD_COLUMNS} for x in leads]
    acts = [{"lead_id": x["lead_id"], **{c: a.get(c) for c in ACTIVITY_COLUMNS if c != "lead_id"}}
            for x in leads for a in x.get("activities", [])]
    pd.DataFrame(rows, columns=list(LEAD_COLUMNS)).to_csv(folder / "leads.csv", index=False)
    pd.DataFrame(acts, columns=list(ACTIVITY_COLUMNS)).to_csv(folder / "activities.csv", index=False)
    try:
        dataset = load_folder(folder, as_of=as_of)
    except ContractError as exc:
        return {"refused": {p.location for p in exc.report.errors}}
    scored = score_open_leads(engine.model, dataset)
    return {"scores": dict(zip(scored["lead_id"], scored["probability"])),
            "warnings": {p.location for p in dataset.report.warnings}}


def _by_pyfunc(pyfunc, leads: list[dict[str, Any]], as_of: str) -> dict[str, Any]:
    frame = pd.DataFrame([{**{c: x.get(c) for c in LEAD_COLUMNS}, "activities": json.dumps(x.get("activities", []))}
                          for x in leads])
    for column in ("employee_count", "bed_count", "covered_lives"):
        frame[column] = frame[column].astype("float64")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = pyfunc.predict(frame, params={"as_of": as_of})
        except Exception as exc:  # noqa: BLE001 - MLflow may wrap the model's own error
            return {"refused": set(re.findall(r"\b((?:leads|activities)(?:\.[a-z_]+)?): ", str(exc)))}
    noticed = {str(w.message).split(":", 1)[0] for w in caught if issubclass(w.category, ContractWarning)}
    return {"scores": dict(zip(out["lead_id"], out["probability"])), "warnings": noticed}


def _location(field: str) -> str:
    """``leads[0].activities[2].occurred_at`` -> ``activities.occurred_at``; ``leads[1].bed_count`` -> ``leads.bed_count``."""
    parts = re.sub(r"\[\d+\]", "", field).split(".")
    if "activities" in parts:
        rest = parts[parts.index("activities") + 1:]
        return "activities" + (f".{rest[0]}" if rest else "")
    return "leads" + (f".{parts[1]}" if len(parts) > 1 else "")


# ---------------------------------------------------------------------------
# The same answer from each
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name,leads,as_of,where", REFUSED, ids=[c[0] for c in REFUSED])
def test_every_way_in_refuses_the_same_input(engine, pyfunc, tmp_path, name, leads, as_of, where) -> None:
    service = _by_service(engine, leads, as_of)
    batch = _by_batch(tmp_path / "export", engine, leads, as_of)
    mlflow_model = _by_pyfunc(pyfunc, leads, as_of)
    for way, result in (("service", service), ("batch", batch), ("pyfunc", mlflow_model)):
        assert "refused" in result, (name, way, result)
        assert where <= result["refused"], (name, way, result["refused"])


@pytest.mark.parametrize("name,leads,as_of,where,scored", NOTICED, ids=[c[0] for c in NOTICED])
def test_every_way_in_scores_and_warns_alike(engine, pyfunc, tmp_path, name, leads, as_of, where, scored) -> None:
    service = _by_service(engine, leads, as_of)
    batch = _by_batch(tmp_path / "export", engine, leads, as_of)
    mlflow_model = _by_pyfunc(pyfunc, leads, as_of)
    for way, result in (("service", service), ("batch", batch), ("pyfunc", mlflow_model)):
        assert "scores" in result, (name, way, result)
        assert set(result["scores"]) == scored, (name, way)
        assert where in result["warnings"], (name, way, result["warnings"])
        for lead_id in scored:
            assert result["scores"][lead_id] == pytest.approx(service["scores"][lead_id], abs=1e-12), (name, way)
