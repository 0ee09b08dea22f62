"""The scoring service in-process: the BentoML class called directly and through
its ASGI app (``starlette.testclient``), with a model trained on the demo export.

``test_service_http.py`` runs the same service as a real ``bentoml serve``.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

# BentoML reads its home once: keep its stores in a temporary folder, set before it is
# imported, and removed when the test session ends.
os.environ["BENTOML_HOME"] = tempfile.mkdtemp(prefix="mqlscore-bentoml-")
atexit.register(shutil.rmtree, os.environ["BENTOML_HOME"], ignore_errors=True)
os.environ["BENTOML_DO_NOT_TRACK"] = "true"

from mqlscore.config import ServiceConfig  # noqa: E402
from mqlscore.contract import load_folder, validate_tables  # noqa: E402
from support import (AUTH, BAD_INPUTS, KEY, MODEL_NAME, WARNED_INPUTS, assert_same_scores, lead,  # noqa: E402
                     forget_bentoml_metrics, load_service, parity_case, trained_store)

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")]

# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, demo_export: Path) -> Path:
    return trained_store(tmp_path_factory, demo_export)


@pytest.fixture(scope="module")
def dataset(demo_export: Path):
    return load_folder(demo_export)


@pytest.fixture(scope="module")
def scoring_model(store: Path):
    from mqlscore.scoring import ScoringModel

    model = ScoringModel.load(store / "scoring_model")
    model.metadata.update(model_name=MODEL_NAME, model_version="1")
    return model


@pytest.fixture(scope="module")
def service_module(store: Path):
    """``bento/service.py`` imported with the model in a temporary BentoML store and a key set."""
    yield from load_service(store, ServiceConfig(max_leads_per_request=2_000, max_body_bytes=8 * 1024 * 1024))


@pytest.fixture(scope="module")
def client(service_module):
    from starlette.testclient import TestClient

    forget_bentoml_metrics()  # another module's app may have registered them
    with TestClient(service_module.MQLScore.to_asgi()) as test_client:
        yield test_client


def _post(client, body: Any, headers: dict[str, str] | None = None):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    headers = AUTH if headers is None else headers
    return client.post("/score", content=data, headers={"Content-Type": "application/json", **headers})


# ---------------------------------------------------------------------------
# The service class called directly
# ---------------------------------------------------------------------------


def test_direct_call_scores_and_refuses(service_module) -> None:
    from mqlscore.serving.schemas import LeadIn

    svc = service_module.MQLScore()
    out = asyncio.run(svc.score(leads=[LeadIn.model_validate(lead())], as_of="2026-02-01T00:00:00Z"))
    assert out.model_name == MODEL_NAME and out.model_version == "1" and out.as_of == "2026-02-01T00:00:00Z"
    (s,) = out.scores
    assert s.lead_id == "L-EXAMPLE" and 0 < s.probability < 1 and 0 <= s.score <= 100 and s.tier in "ABCD"
    assert s.reasons and {r.sign for r in s.reasons} <= {"+", "-"}
    bad = asyncio.run(svc.score(leads=[LeadIn.model_validate(lead(created_at="yesterday"))]))
    assert bad.status_code == 422
    assert json.loads(bad.body)["problems"][0]["field"] == "leads[0].created_at"


# ---------------------------------------------------------------------------
# Through the ASGI app
# ---------------------------------------------------------------------------


def test_scores_with_a_key_in_either_header(client) -> None:
    for headers in (AUTH, {"X-API-Key": KEY}, {"authorization": f"bearer {KEY}"}):
        r = _post(client, {"leads": [lead()], "as_of": "2026-02-01T00:00:00Z"}, headers)
        assert r.status_code == 200, r.text
        body = r.json()
        (s,) = body["scores"]
        assert set(s) >= {"lead_id", "probability", "score", "tier", "is_mql", "fit_points", "intent_points",
                          "reasons", "model_name", "model_version"}
        assert {"signal", "text", "points", "sign"} <= set(s["reasons"][0])
        assert r.headers["x-request-id"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-key-wrong-key-wrong"},
                                     {"Authorization": KEY}, {"X-API-Key": KEY[:-1]},
                                     {"Authorization": f"Basic {KEY}"}])
def test_401_without_a_valid_key(client, headers) -> None:
    r = _post(client, {"leads": [lead()]}, headers)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "API key" in r.json()["error"]
    assert client.get("/model", headers=headers).status_code == 401


def test_health_routes_stay_open(client) -> None:
    for path in ("/healthz", "/livez", "/readyz"):  # /metrics needs a real server (test_service_http.py)
        assert client.get(path).status_code == 200, path


def test_model_route(client, scoring_model) -> None:
    r = client.get("/model", headers=AUTH)
    assert r.status_code == 200
    info = r.json()
    assert info["name"] == MODEL_NAME and info["version"] == "1" and info["kind"] in ("lightgbm", "scorecard")
    assert info["trained_at"] and {"first", "last", "as_of"} <= set(info["data_window"])
    assert info["horizon_days"] == 90
    assert info["threshold"]["policy"] == "f1" and 0 < info["threshold"]["probability"] < 1
    assert {"roc_auc", "pr_auc", "log_loss", "brier"} <= set(info["validation_metrics"])
    assert [f["name"] for f in info["features"]] == scoring_model.builder.feature_names_
    assert {f["group"] for f in info["features"]} == {"fit", "intent", "account"}
    assert info["limits"]["max_leads_per_request"] == 2_000


@pytest.mark.parametrize("name,body,status,field", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_gets_a_4xx_naming_the_field(client, name, body, status, field) -> None:
    r = _post(client, body)
    assert r.status_code == status, (name, r.status_code, r.text)
    data = r.json()
    assert data["request_id"] == r.headers["x-request-id"]
    fields = [p["field"] for p in data["problems"]]
    assert field in fields, (name, fields)
    assert all(p["message"] for p in data["problems"])


@pytest.mark.parametrize("name,body,field", WARNED_INPUTS, ids=[w[0] for w in WARNED_INPUTS])
def test_what_has_not_happened_yet_is_set_aside_with_a_warning(client, name, body, field) -> None:
    r = _post(client, body)
    assert r.status_code == 200, (name, r.text)
    data = r.json()
    assert field in [w["field"] for w in data["warnings"]], (name, data["warnings"])
    assert all(w["message"] for w in data["warnings"])
    scored = {s["lead_id"] for s in data["scores"]}
    assert "L-LATER" not in scored and "L-EXAMPLE" in scored


def _invented_fields(leads: int, per_lead: int) -> dict[str, Any]:
    """Leads each carrying ``per_lead`` fields outside the contract with names of their own."""
    return {"leads": [lead(lead_id=f"L{i}", activities=[], **{f"x_{i}_{k}": f"value {k}" for k in range(per_lead)})
                      for i in range(leads)], "as_of": "2026-02-01T00:00:00Z"}


@pytest.mark.parametrize("leads,per_lead,setting", [(300, 300, "max_extra_fields_per_lead"),
                                                    (1, 200_000, "max_extra_fields_per_lead"),
                                                    (300, 40, "max_extra_fields_per_request")],
                         ids=["300 leads x 300 fields", "one lead x 200,000 fields", "12,000 distinct names"])
def test_invented_fields_are_refused_before_any_table_is_built(client, leads, per_lead, setting) -> None:
    """Issue 11, defect 1: every distinct name became a column of every lead (1,000 leads x 300
    names: 3 minutes and 6.5 GB; one lead x 200,000 fields: 26 s). Now a quick 422 naming the limit."""
    body = json.dumps(_invented_fields(leads, per_lead))
    start = time.perf_counter()
    r = _post(client, body)
    seconds = time.perf_counter() - start
    assert r.status_code == 422, (r.status_code, r.text[:300])
    data = r.json()
    assert setting in data["problems"][0]["message"] and data["problems"][0]["field"].startswith("leads[")
    assert len(data["problems"]) <= 50 and "problem(s)" in data["error"]
    assert seconds < 10, seconds


def test_a_request_at_every_extra_field_limit_is_scored_in_memory_bounded_by_its_body(service_module) -> None:
    """1,000 leads x 50 extra fields (200 distinct names, texts of 100 characters): scored,
    and laying it out as the contract's tables allocates a small multiple of its body."""
    import tracemalloc

    from mqlscore.serving.schemas import ScoreRequest

    engine = service_module.MQLScore().engine
    names = [f"crm_field_{k}" for k in range(200)]
    body = json.dumps({"leads": [lead(lead_id=f"L{i}", activities=[], **{names[(i + k * 7) % 200]: "t" * 100
                                                                           for k in range(50)})
                                 for i in range(1_000)], "as_of": "2026-02-01T00:00:00Z"})
    request = ScoreRequest.model_validate_json(body)
    tracemalloc.start()
    try:
        tables = engine.prepare(request.leads, request.as_of)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert tables.n_leads == 1_000 and len(tables.leads.columns) >= 200
    assert peak < 4 * len(body), (peak, len(body))
    response = engine.score(request.leads, request.as_of, reasons=False)
    assert len(response.scores) == 1_000


def test_field_names_never_come_back_as_markup(client) -> None:
    """Issue 11, defect 11: unknown field names were echoed verbatim in 4xx answers."""
    markup = "<img src=x onerror=alert(1)>\n" + "z" * 100
    bodies = [{"leads": [lead()], markup: 1},  # 400: an unknown top-level key
              {"leads": [lead(**{markup: [1, 2]})]},  # 422: an extra field that is a list
              {"leads": [lead(activities=[{"occurred_at": "2026-01-02T00:00:00Z", "activity_type": "x",
                                           markup: {"a": 1}}])]},
              {"leads": [lead(**{markup: "v"})], "as_of": "2026-02-01T00:00:00Z"}]  # 422: the name is too long
    for body in bodies:
        r = _post(client, body)
        assert r.status_code in (400, 422), r.text
        for problem in r.json()["problems"]:
            field = problem["field"]
            assert "<" not in field and "\n" not in field and "z" * 41 not in field, field  # escaped and cut
            assert "<img" not in problem["message"]
        assert "<img" not in r.text and "onerror=alert(1)>" not in r.text


def test_body_too_large_gets_413(client) -> None:
    body = json.dumps({"leads": [lead(notes="x" * (9 * 1024 * 1024))]})
    r = _post(client, body)
    assert r.status_code == 413 and "larger than" in r.json()["error"]


def test_unknown_categories_and_activity_types_score_normally(client) -> None:
    odd = lead(org_type="space_agency", ehr_vendor="homegrown", lead_source="carrier pigeon", country="XX",
                product_interest="teleporters", activities=[
                    {"occurred_at": "2026-01-20T00:00:00Z", "activity_type": "g2_intent_surge", "detail": None},
                    {"occurred_at": "2026-01-21T00:00:00Z", "activity_type": "page_view",
                     "detail": "/never/seen/before"},
                    {"occurred_at": "2026-01-22T00:00:00Z", "activity_type": "Demo_Request ", "detail": ""}])
    r = _post(client, {"leads": [odd], "as_of": "2026-02-01T00:00:00Z"})
    assert r.status_code == 200, r.text
    s = r.json()["scores"][0]
    assert 0 <= s["score"] <= 100 and s["reasons"]


def test_as_of_defaults_to_now_so_decay_is_continuous(client) -> None:
    before = pd.Timestamp.now(tz="UTC")
    r = _post(client, {"leads": [lead()]})
    after = pd.Timestamp.now(tz="UTC")
    assert r.status_code == 200
    assert before <= pd.Timestamp(r.json()["as_of"]) <= after


def test_reasons_can_be_skipped(client) -> None:
    with_reasons = _post(client, {"leads": [lead()], "as_of": "2026-02-01T00:00:00Z"}).json()["scores"][0]
    without = _post(client, {"leads": [lead()], "as_of": "2026-02-01T00:00:00Z", "reasons": False}).json()
    s = without["scores"][0]
    assert s["reasons"] is None and s["probability"] == with_reasons["probability"]
    assert s["score"] == with_reasons["score"]


def test_buying_group_is_the_leads_sharing_an_account(client) -> None:
    champion = lead(lead_id="L-CMIO", job_title="CMIO", activities=[
        {"occurred_at": "2026-01-25T00:00:00Z", "activity_type": "demo_request"},
        {"occurred_at": "2026-01-26T00:00:00Z", "activity_type": "baa_request"}])
    alone = _post(client, {"leads": [lead()], "as_of": "2026-02-01T00:00:00Z"}).json()["scores"][0]
    grouped = _post(client, {"leads": [lead(), champion], "as_of": "2026-02-01T00:00:00Z"}).json()["scores"]
    other_account = _post(client, {"leads": [lead(), {**champion, "account_id": "ACC-OTHER"}],
                                   "as_of": "2026-02-01T00:00:00Z"}).json()["scores"]
    assert other_account[0]["probability"] == alone["probability"]
    assert grouped[0]["probability"] != alone["probability"]


def test_same_numbers_as_batch_scoring(client, scoring_model, dataset) -> None:
    rows, leads = parity_case(dataset, n=300)
    assert len(leads) <= 2_000
    r = _post(client, {"leads": leads, "as_of": dataset.as_of.isoformat()})
    assert r.status_code == 200, r.text[:500]
    batch = scoring_model.score(dataset.leads, dataset.activities, rows)
    assert_same_scores(r.json()["scores"], batch)


def test_request_tables_are_the_contracts_tables(dataset) -> None:
    """A request goes through the contract's own validation: its tables are exactly
    what validate_tables makes of the same rows, and what the contract noticed comes
    back as warnings by field path."""
    from mqlscore.serving.schemas import ScoreRequest
    from mqlscore.serving.tables import request_tables

    _, payload = parity_case(dataset, n=40, seed=3)
    payload[0] = {**payload[0], "org_type": " Health_System ", "country": "us", "state": " ma", "ehr_vendor": "EPIC",
                  "lead_source": "", "employee_count": 250}
    payload[0]["activities"] = payload[0]["activities"] + [
        {"occurred_at": "2025-05-01T10:00:00+02:00", "activity_type": " Page_View ", "detail": " /Pricing "},
        {"occurred_at": "2025-05-01T08:00:00Z", "activity_type": "page_view", "detail": "/Pricing"},
        {"occurred_at": "2025-05-01T08:00:00Z", "activity_type": "page_view", "detail": "/Pricing"}]
    request = ScoreRequest.model_validate({"leads": payload})
    when = pd.Timestamp(dataset.as_of)
    tables = request_tables(request.leads, when, ServiceConfig())
    leads = pd.DataFrame([{k: v for k, v in p.items() if k != "activities"} for p in payload])
    acts = pd.DataFrame([{**a, "lead_id": p["lead_id"]} for p in payload for a in p["activities"]])
    expected = validate_tables({"leads": leads, "activities": acts[["lead_id", "occurred_at", "activity_type",
                                                                     "detail"]]}, as_of=when)
    pd.testing.assert_frame_equal(tables.leads, expected.leads[list(tables.leads.columns)])
    key = ["lead_id", "occurred_at", "activity_type", "detail"]
    pd.testing.assert_frame_equal(tables.activities.sort_values(key).reset_index(drop=True),
                                  expected.activities.sort_values(key).reset_index(drop=True))
    n = len(payload[0]["activities"])
    duplicates = [w.field for w in tables.warnings if "duplicate" in w.message]
    assert duplicates == [f"leads[0].activities[{n - 2}]", f"leads[0].activities[{n - 1}]"]


def test_logs_carry_request_id_latency_counts_and_no_personal_data(client, caplog) -> None:
    person = lead(email="ada.lovelace@example-hospital.org", first_name="Ada", last_name="Lovelace",
                 job_title="Chief Nursing Informatics Officer", company_name="Example Hospital")
    with caplog.at_level(logging.INFO):
        ok = _post(client, {"leads": [person], "as_of": "2026-02-01T00:00:00Z"},
                   {**AUTH, "X-Request-ID": "crm-flow-42"})
        bad = _post(client, {"leads": [{**person, "created_at": "not a date", "employee_count": "lots"}]})
        bad2 = _post(client, {"leads": [{**person, "created_at": "not a date"}]})
    assert ok.headers["x-request-id"] == "crm-flow-42"
    assert bad.status_code == 400 and bad2.status_code == 422
    text = caplog.text
    assert "request_id=crm-flow-42" in text and "status=200" in text and "leads=1" in text and "activities=3" in text
    assert "ms=" in text and "status=400" in text and "status=422" in text
    for secret in ("ada.lovelace", "Lovelace", "Nursing Informatics", "Example Hospital", "not a date", "lots"):
        assert secret not in text
        assert secret not in bad.text and secret not in bad2.text


def test_api_key_sources_and_refusals(tmp_path: Path) -> None:
    from mqlscore.serving.auth import ApiKeyAuth
    from mqlscore.serving.errors import StartupError

    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    auth = ApiKeyAuth.from_env({"MQLSCORE_API_KEY_FILE": str(key_file)})
    assert auth.allows([(b"x-api-key", KEY.encode())]) and not auth.allows([(b"x-api-key", b"nope")])
    assert ApiKeyAuth.from_env({"MQLSCORE_API_KEY": KEY}).allows([(b"authorization", f"Bearer {KEY}".encode())])
    assert not ApiKeyAuth.from_env({"MQLSCORE_DEV": "1"}).enabled
    for env, words in (({}, "no API key"), ({"MQLSCORE_API_KEY": "short"}, "at least 16"),
                       ({"MQLSCORE_API_KEY_FILE": str(tmp_path / "missing")}, "cannot read")):
        with pytest.raises(StartupError, match=words):
            ApiKeyAuth.from_env(env)


def test_missing_or_corrupt_model_fails_start_up(store: Path, tmp_path: Path, monkeypatch) -> None:
    import shutil

    import bentoml

    from mqlscore.serving.auth import API_KEY_ENV, API_KEY_FILE_ENV
    from mqlscore.serving.engine import ScoringEngine
    from mqlscore.serving.errors import StartupError
    from mqlscore.serving.startup import start_engine

    monkeypatch.setenv(API_KEY_ENV, KEY)
    with pytest.raises(StartupError, match="not in the BentoML model store"):
        start_engine(bentoml.models.BentoModel("mqlscore-service:doesnotexist"))
    with pytest.raises(StartupError, match="cannot load"):
        ScoringEngine.from_folder(tmp_path / "empty")
    corrupt = tmp_path / "corrupt"
    shutil.copytree(store / "scoring_model", corrupt)
    (corrupt / "model.json").write_text('{"booster": "tree\\nnonsense", "best_iteration": 1}')
    with pytest.raises(StartupError):
        ScoringEngine.from_folder(corrupt)
    monkeypatch.delenv(API_KEY_ENV)
    monkeypatch.delenv(API_KEY_FILE_ENV, raising=False)
    with pytest.raises(StartupError, match="no API key"):
        start_engine(bentoml.models.BentoModel("mqlscore-service:whatever"))


def test_single_lead_latency_in_process(client) -> None:
    """A guard against regressions only (the HTTP figures are in benchmarks/)."""
    body = {"leads": [lead()], "as_of": "2026-02-01T00:00:00Z"}
    times = []
    for _ in range(10):
        t = time.perf_counter()
        assert _post(client, body).status_code == 200
        times.append(time.perf_counter() - t)
    assert np.median(times) < 1.0


def test_requests_batched_together_get_the_numbers_they_get_alone(service_module, dataset) -> None:
    """Concurrent requests share one model call (adaptive batching) without mixing
    buying groups, as-of times, reasons flags or errors."""
    from mqlscore.serving.batching import Batcher
    from mqlscore.serving.engine import Job
    from mqlscore.serving.schemas import LeadIn

    svc = service_module.MQLScore()
    _, group_a = parity_case(dataset, n=3, seed=11)
    _, group_b = parity_case(dataset, n=3, seed=12)
    shared = [{**lead, "account_id": "ACC-SHARED"} for lead in group_b]  # same account id in two requests
    as_of = dataset.as_of.isoformat()
    requests = [
        ([LeadIn.model_validate(x) for x in group_a], as_of, True),
        ([LeadIn.model_validate({**x, "account_id": "ACC-SHARED"}) for x in group_a],
         (dataset.as_of + pd.Timedelta(days=20)).isoformat(), False),
        ([LeadIn.model_validate(x) for x in shared], as_of, True),
        ([LeadIn.model_validate(lead(created_at="not a time"))], None, True),
    ]
    alone = [svc.engine.score(*r) if k != 3 else None for k, r in enumerate(requests)]
    batcher = Batcher(svc.engine, max_leads=1_000)

    async def together():
        return await asyncio.gather(*(batcher.score(*r) for r in requests))

    outcomes = svc.engine.score_many([Job(r[0], r[1], r[2], pd.Timestamp.now(tz="UTC")) for r in requests])
    assert [o.batch for o in outcomes] == [3, 3, 3, 0] and outcomes[3].error.status == 422
    replies = asyncio.run(together())
    for k in range(3):
        assert replies[k].model_dump() == alone[k].model_dump(), k
    assert replies[1].scores[0].reasons is None and replies[0].scores[0].reasons
    assert replies[3].status_code == 422


def test_a_server_fault_in_a_batch_fails_only_its_own_request() -> None:
    from mqlscore.serving.batching import Batcher
    from mqlscore.serving.engine import Outcome

    class Engine:
        config = ServiceConfig()

        def score_many(self, jobs):
            if any(job.leads == ["boom"] for job in jobs):
                raise RuntimeError("model failure")
            return [Outcome(response=f"ok {job.leads[0]}") for job in jobs]

    batcher = Batcher(Engine())

    async def together():
        return await asyncio.gather(*(batcher.score([x], None, True) for x in ("a", "boom", "c")),
                                    return_exceptions=True)

    a, boom, c = asyncio.run(together())
    assert a == "ok a" and c == "ok c" and isinstance(boom, RuntimeError)


def test_openapi_document_states_the_errors_limits_and_keys(client) -> None:
    """Issue 11, defect 12: /docs.json lacked the 401/413/422 answers and minLength on ids."""
    r = client.get("/docs.json")
    assert r.status_code == 200
    doc = r.json()
    operation = doc["paths"]["/score"]["post"]
    answers = operation["responses"]
    assert {"200", "400", "401", "413", "422", "500"} == set(answers)
    for status in ("400", "401", "413", "422"):
        assert answers[status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert answers["401"]["headers"]["WWW-Authenticate"]["schema"]["enum"] == ["Bearer"]
    schemas = doc["components"]["schemas"]
    assert set(schemas["ErrorBody"]["properties"]) == {"error", "request_id", "problems"}
    lead_id = schemas["LeadIn"]["properties"]["lead_id"]
    assert {"type": "string", "minLength": 1, "maxLength": 2_000} in lead_id["anyOf"]
    assert schemas["LeadScore"]["properties"]["lead_id"]["minLength"] == 1
    assert schemas["ScoreRequest"]["properties"]["leads"]["maxItems"] == 2_000  # this service's setting
    assert schemas["ScoreRequest"]["properties"]["reasons"]["type"] == "boolean"
    assert schemas["LeadIn"]["properties"]["activities"]["maxItems"] == 1_000
    assert {"bearer", "apiKey"} == set(doc["components"]["securitySchemes"])
    assert '{"type": "null"}' not in json.dumps(doc)  # OpenAPI 3.0 writes nullable: true
    # What the service answers matches what the document says.
    import jsonschema

    def resolved(schema: Any) -> Any:
        if isinstance(schema, dict):
            if "$ref" in schema:
                return resolved(schemas[schema["$ref"].rsplit("/", 1)[1]])
            return {k: resolved(v) for k, v in schema.items() if k != "nullable"}
        return [resolved(v) for v in schema] if isinstance(schema, list) else schema

    error_schema = resolved(schemas["ErrorBody"])
    for body, headers in (({"leads": []}, AUTH), ({"leads": [lead(created_at="soon")]}, AUTH),
                          ({"leads": [lead()]}, {})):
        refusal = _post(client, body, headers)
        jsonschema.validate(refusal.json(), error_schema)
        assert str(refusal.status_code) in answers
