"""Fuzzing the scoring service in process.

- schemathesis reads the service's own OpenAPI document (``GET /docs.json``) and
  sends bodies it generates from it, valid and invalid, with the API key: no answer
  is a 5xx, and every answer is one the document describes (status code, content
  type, headers, body schema); invalid bodies are refused with a 4xx.
- hypothesis feeds the request path (``ScoreRequest`` then ``ScoringEngine.score``)
  bodies that are anything JSON can carry, or leads whose fields hold odd values:
  each gives a response or a 4xx naming field paths, never an exception.

Both are bounded (a fixed number of examples, derandomized) to keep the suite
well under a minute.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# BentoML reads its home once: a temporary one, set before it is imported (as in test_service.py).
os.environ["BENTOML_HOME"] = tempfile.mkdtemp(prefix="mqlscore-bentoml-")
atexit.register(shutil.rmtree, os.environ["BENTOML_HOME"], ignore_errors=True)
os.environ["BENTOML_DO_NOT_TRACK"] = "true"

from mqlscore.config import ServiceConfig  # noqa: E402
from support import AUTH, MODEL_NAME, forget_bentoml_metrics, load_service, trained_store  # noqa: E402

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning")]

EXAMPLES = 80  # per generation mode: about 10 s each on 2 cores
BOUNDED = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                   suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, demo_export: Path) -> Path:
    return trained_store(tmp_path_factory, demo_export)


@pytest.fixture(scope="module")
def service_module(store: Path):
    yield from load_service(store, ServiceConfig())  # the default limits, as a built bento has them


@pytest.fixture(scope="module")
def api(service_module):
    """The service's ASGI app as schemathesis loads it from ``GET /docs.json``."""
    import schemathesis

    forget_bentoml_metrics()  # test_service.py's app registered them in this process
    return schemathesis.openapi.from_asgi("/docs.json", service_module.MQLScore.to_asgi())


def _checks(negative: bool) -> list[Any]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,
                                                   response_headers_conformance, response_schema_conformance,
                                                   status_code_conformance)

    found = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
             response_schema_conformance]
    return found + [negative_data_rejection] if negative else found


@pytest.mark.parametrize("negative", [False, True], ids=["valid bodies", "invalid bodies"])
def test_schemathesis_finds_no_5xx_and_no_answer_the_document_does_not_describe(api, negative) -> None:
    from schemathesis import GenerationMode

    operation = api["/score"]["POST"]
    mode = GenerationMode.NEGATIVE if negative else GenerationMode.POSITIVE
    checks = _checks(negative)
    statuses: list[int] = []

    @BOUNDED
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call_and_validate(headers=AUTH, checks=checks)
        statuses.append(response.status_code)

    run()
    assert statuses and max(statuses) < 500
    # Valid bodies reach the model (the others break the contract: a date-time out of range, a duplicate id);
    # invalid ones are refused (negative_data_rejection judged each).
    assert (200 in statuses) if not negative else any(400 <= s < 500 for s in statuses), statuses


def test_schemathesis_without_a_key_gets_the_documented_401(api) -> None:
    operation = api["/score"]["POST"]

    @settings(BOUNDED, max_examples=5)
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        response = case.call_and_validate(headers={"Authorization": "Bearer not-the-key-not-the-key"},
                                          checks=_checks(False))
        assert response.status_code == 401

    run()


# ---------------------------------------------------------------------------
# hypothesis over the request path
# ---------------------------------------------------------------------------

_TEXT = st.text(max_size=24)
_TIMES = st.one_of(st.sampled_from(["2026-01-05T15:00:00Z", "2026-01-05", "2026-01-05T15:00:00+14:00", "1700-01-01",
                                    "0001-01-01T00:00:00Z", "9999-12-31", "05/01/2026", "45000", "", " ", "2026-13-01",
                                    "2026-02-30T00:00:00Z", "now"]),
                   st.datetimes(min_value=datetime(1850, 1, 1), max_value=datetime(2250, 1, 1)).map(datetime.isoformat),
                   _TEXT)
_NUMBERS = st.one_of(st.integers(-10**30, 10**30), st.floats(allow_nan=False, allow_infinity=False))
_SCALARS = st.one_of(st.none(), st.booleans(), _NUMBERS, _TEXT)
_JSON = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(_TEXT, inner, max_size=3)), max_leaves=8)
_ODD = st.one_of(_SCALARS, _JSON)  # a value of any type


def _mostly(good: st.SearchStrategy) -> st.SearchStrategy:
    """``good`` values, and one time in eight anything at all (so that most bodies get past the schema)."""
    return st.integers(0, 7).flatmap(lambda k: _ODD if k == 5 else good)  # not 0: hypothesis favours it


_ACTIVITY = st.fixed_dictionaries(
    {"occurred_at": _mostly(_TIMES), "activity_type": _mostly(
        st.sampled_from(["page_view", "demo_request", "baa_request", " Page_View ", "webinar", ""]))},
    optional={"detail": _mostly(st.one_of(st.none(), st.sampled_from(["/pricing", "/blog/x"]), _TEXT)),
              "utm_source": _SCALARS, "<b>x</b>": _ODD})
_LEAD = st.fixed_dictionaries(
    {"lead_id": _mostly(st.one_of(st.sampled_from(["L-1", "L-2", "7", " "]), st.integers(0, 9),
                                  st.text(min_size=1, max_size=24))),
     "created_at": _mostly(_TIMES)},
    optional={"account_id": _mostly(st.sampled_from(["ACC-1", "ACC-2", ""])),
              "job_title": _mostly(st.sampled_from(["CMIO", "VP Digital Innovation", "Student"])),
              "email": _mostly(st.sampled_from(["a@gmail.com", "b@hospital.org", "@", "x"])),
              "org_type": _mostly(st.sampled_from(["health_system", " Payer ", "space_agency"])),
              "employee_count": _mostly(st.one_of(_NUMBERS, st.sampled_from([1e308, -1, 0.5, 12000]))),
              "country": _mostly(st.sampled_from(["US", "us", "XX"])),
              "activities": _mostly(st.lists(_ACTIVITY, max_size=4)),
              "product_interest": _SCALARS, "crm\n<script>": _ODD})
_BODY = _mostly(st.fixed_dictionaries({"leads": st.lists(_LEAD, min_size=1, max_size=4)},
                                      optional={"as_of": _mostly(st.one_of(st.none(), _TIMES)),
                                                "reasons": _mostly(st.booleans())}))


@pytest.fixture(scope="module")
def engine(store: Path):
    from mqlscore.scoring import ScoringModel
    from mqlscore.serving.engine import ScoringEngine

    model = ScoringModel.load(store / "scoring_model")
    model.metadata.update(model_name=MODEL_NAME, model_version="1")
    return ScoringEngine(model)


def test_any_body_gets_scores_or_a_4xx_naming_fields(engine) -> None:
    """Issue 11, defect 7 (the request path): never an exception, whatever the body."""
    from pydantic import ValidationError

    from mqlscore.serving.errors import RequestRejected, schema_rejection
    from mqlscore.serving.schemas import ErrorBody, ScoreRequest, ScoreResponse

    seen = {"scored": 0, "400": 0, "422": 0}

    @settings(BOUNDED, max_examples=300)
    @given(body=_BODY)
    def run(body: Any) -> None:
        data = json.dumps(body).encode()
        try:
            request = ScoreRequest.model_validate_json(data)
        except ValidationError as exc:
            refusal = schema_rejection(exc.errors(include_context=False, include_input=False, include_url=False))
            _check_refusal(refusal, ErrorBody, 400)
            seen["400"] += 1
            return
        try:
            response = engine.score(request.leads, request.as_of, request.reasons)
        except RequestRejected as refusal:
            _check_refusal(refusal, ErrorBody, refusal.status)
            seen["422"] += 1
            return
        ScoreResponse.model_validate_json(response.model_dump_json())  # what is sent is what is documented
        assert len(response.scores) <= len(request.leads)
        seen["scored"] += 1

    run()
    assert all(seen.values()), seen  # the strategy reaches all three outcomes


def _check_refusal(refusal: Any, model: Any, status: int) -> None:
    assert refusal.status == status and 400 <= status < 500
    body = model.model_validate(refusal.body("test"))
    assert body.problems and all(p.field and p.message for p in body.problems) and len(body.problems) <= 50
    for problem in body.problems:
        assert "<" not in problem.field and "\n" not in problem.field, problem.field
