"""The lead card's routes in process (``starlette.testclient`` on the guard and
``model_routes``): sign-in and the session cookie, scored files (CSV and Parquet,
wrong files, 10,000 rows), and ``mqlscore serve --scores``; and, against the
session's real server (``conftest.py``), ``POST /ui/api/score`` answering exactly
like ``POST /score``.

``test_ui_browser.py`` drives the page itself in headless Chromium.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import io
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import httpx
import pytest

from support import AUTH, BAD_INPUTS, KEY, MODEL_NAME, lead

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")]

UI_POST = {"X-Requested-With": "mqlscore-ui"}
SESSION = "mqlscore_ui_session"


def _token(key: str) -> str:
    return hmac.new(key.encode(), b"mqlscore lead card session v1", hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------
# A light app: the guard in front of model_routes, with the scoring engine
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(service_store: Path):
    from mqlscore.config import ServiceConfig
    from mqlscore.scoring import ScoringModel
    from mqlscore.serving.engine import ScoringEngine

    model = ScoringModel.load(service_store / "scoring_model")
    model.metadata.update(model_name=MODEL_NAME, model_version="1")
    return ScoringEngine(model, ServiceConfig(max_body_bytes=4 * 1024 * 1024))


def _app(engine, key: str | None):
    from starlette.testclient import TestClient

    from mqlscore.serving.auth import ApiKeyAuth
    from mqlscore.serving.guard import GuardMiddleware
    from mqlscore.serving.routes import model_routes

    auth = ApiKeyAuth(key.encode() if key else None)
    return TestClient(GuardMiddleware(model_routes(lambda: engine), auth=auth, config=engine.config),
                      follow_redirects=False)


@pytest.fixture
def ui(engine):
    with _app(engine, KEY) as test_client:
        yield test_client


def _sign_in(ui) -> None:
    r = ui.post("/ui/login", data={"key": KEY})
    assert r.status_code == 303, r.text


# ---------------------------------------------------------------------------
# Sign-in and the session cookie
# ---------------------------------------------------------------------------


def test_page_needs_a_key_and_shows_a_sign_in_form(ui) -> None:
    r = ui.get("/ui")
    assert r.status_code == 401 and r.headers["content-type"].startswith("text/html")
    assert 'action="/ui/login"' in r.text and 'type="password"' in r.text
    assert "leadcard.js" not in r.text and "file-input" not in r.text  # not the page
    assert "nonce-" in r.headers["content-security-policy"] and r.headers["x-request-id"]
    for path in ("/ui/static/leadcard.js", "/ui/static/leadcard.css", "/ui/api/model", "/ui/api/scores"):
        r = ui.get(path)
        assert r.status_code == 401 and r.json()["error"].startswith("not signed in"), path
    assert ui.post("/ui/api/score", json={"leads": [lead()]}, headers=UI_POST).status_code == 401
    assert ui.post("/ui/api/scores", content=b"lead_id,score\n", headers=UI_POST).status_code == 401


def test_wrong_key_is_refused_with_a_message(ui) -> None:
    for key in ("not-the-key-not-the-key", "", KEY[:-1], KEY + "x"):
        r = ui.post("/ui/login", data={"key": key})
        assert r.status_code == 401 and "not the service" in r.text and "set-cookie" not in r.headers
        assert key not in r.text or not key
    many = "&".join(f"f{i}=1" for i in range(20)) + f"&key={KEY}"
    r = ui.post("/ui/login", content=many, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 401


def test_sign_in_sets_an_hmac_cookie_for_ui_only(ui) -> None:
    r = ui.post("/ui/login", data={"key": KEY})
    assert r.status_code == 303 and r.headers["location"] == "/ui"
    cookie = r.headers["set-cookie"]
    parts = [p.strip() for p in cookie.split(";")]
    assert parts[0] == f"{SESSION}={_token(KEY)}"  # an HMAC of a label under the key, never the key
    assert KEY not in cookie
    lowered = [p.lower() for p in parts]
    assert "httponly" in lowered and "samesite=strict" in lowered and "path=/ui" in lowered
    assert "secure" not in lowered  # plain http on 127.0.0.1; behind https it is set
    page = ui.get("/ui")
    assert page.status_code == 200 and "leadcard.js?v=" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store" and page.headers["x-frame-options"] == "DENY"
    js = ui.get(page.text.split('src="')[1].split('"')[0])
    assert js.status_code == 200 and "text/javascript" in js.headers["content-type"]
    assert ui.get("/ui/static/../service.py").status_code in (401, 404)
    assert ui.get("/ui/static/service.py").status_code == 404
    model = ui.get("/ui/api/model").json()
    assert model["name"] == MODEL_NAME and model["version"] == "1" and set(model["tiers"]) == {"A", "B", "C"}
    # The cookie never opens the API itself.
    cookies = {"Cookie": f"{SESSION}={_token(KEY)}"}
    assert ui.get("/model", headers=cookies).status_code == 401
    assert ui.post("/score", json={"leads": [lead()]}, headers={**cookies, **UI_POST}).status_code == 401
    # A POST with the cookie needs the page's header (a cross-site form cannot send it).
    body = {"leads": [lead()], "as_of": "2026-02-01T00:00:00Z"}
    assert ui.post("/ui/api/score", json=body).status_code == 401
    assert ui.post("/ui/api/score", json=body, headers=UI_POST).status_code == 200


def test_cookie_over_https_is_secure(engine) -> None:
    with _app(engine, KEY) as secure:
        r = secure.post("/ui/login", data={"key": KEY}, headers={"X-Forwarded-Proto": "https"})
        assert "secure" in [p.strip().lower() for p in r.headers["set-cookie"].split(";")]


def test_cookie_of_another_key_or_a_forged_one_is_refused(engine) -> None:
    with _app(engine, "another-key-0123456789-abcdefgh") as other:
        r = other.get("/ui", headers={"Cookie": f"{SESSION}={_token(KEY)}"})
        assert r.status_code == 401  # the key changed: sign in again
    with _app(engine, KEY) as client_:
        assert client_.get("/ui", headers={"Cookie": f"{SESSION}={_token(KEY)}"}).status_code == 200
        for forged in (KEY, _token(KEY)[:-1] + "0", "", hashlib.sha256(KEY.encode()).hexdigest()):
            assert client_.get("/ui", headers={"Cookie": f"{SESSION}={forged}"}).status_code == 401, forged


def test_sign_out_clears_the_cookie(ui) -> None:
    _sign_in(ui)
    assert ui.get("/ui").status_code == 200
    r = ui.post("/ui/logout")
    assert r.status_code == 303 and r.headers["location"] == "/ui"
    cleared = r.headers["set-cookie"].lower()
    assert cleared.startswith(f"{SESSION}=") and "max-age=0" in cleared and "path=/ui" in cleared
    assert ui.get("/ui").status_code == 401


def test_api_key_header_also_opens_the_ui(ui) -> None:
    assert ui.get("/ui", headers=AUTH).status_code == 200
    r = ui.post("/ui/api/score", json={"leads": [lead()], "as_of": "2026-02-01T00:00:00Z"}, headers=AUTH)
    assert r.status_code == 200


def test_dev_mode_serves_the_page_directly(engine) -> None:
    with _app(engine, None) as dev:
        assert dev.get("/ui").status_code == 200
        r = dev.post("/ui/login", data={"key": ""})
        assert r.status_code == 303 and "set-cookie" not in r.headers


# ---------------------------------------------------------------------------
# Scoring from the page: the same answers as POST /score
# ---------------------------------------------------------------------------


# Against the real service (the session's `bentoml serve` of the built bento, see
# conftest.py): there POST /score is BentoML's own route, validation and serialisation.


@pytest.fixture(scope="module")
def served(server):
    """An HTTP client of the real server, signed in to the lead card (its cookie jar keeps the session)."""
    with httpx.Client(base_url=server["url"], timeout=60, follow_redirects=False) as http:
        assert http.post("/ui/login", data={"key": KEY}).status_code == 303
        yield http


def test_score_route_answers_like_score_in_the_real_service(served) -> None:
    assert served.get("/ui").status_code == 200
    body = {"leads": [lead(), lead(lead_id="L-2", job_title="CMIO", account_id="ACC-2")],
            "as_of": "2026-02-01T00:00:00Z"}
    api = served.post("/score", json=body, headers=AUTH)
    ui = served.post("/ui/api/score", json=body, headers=UI_POST)
    assert api.status_code == ui.status_code == 200
    assert ui.json() == api.json()
    assert served.post("/score", json=body).status_code == 401  # the session cookie is not for the API
    assert served.get("/model").status_code == 401


@pytest.mark.parametrize("name,body,status,field", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_score_route_refuses_like_score(served, name, body, status, field) -> None:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    api = served.post("/score", content=data, headers={**AUTH, "Content-Type": "application/json"})
    ui = served.post("/ui/api/score", content=data, headers={**UI_POST, "Content-Type": "application/json"})
    assert ui.status_code == api.status_code == status, (name, ui.text)
    got, want = ui.json(), api.json()
    assert set(got) == {"error", "request_id", "problems"} and got["request_id"] == ui.headers["x-request-id"]
    assert [p["field"] for p in got["problems"]] == [p["field"] for p in want["problems"]]
    assert field in [p["field"] for p in got["problems"]]


def test_ui_log_lines_carry_no_personal_data(ui, caplog) -> None:
    _sign_in(ui)
    person = lead(email="ada.lovelace@example-hospital.org", first_name="Ada", job_title="Chief Nursing Officer")
    with caplog.at_level(logging.INFO, logger="mqlscore.service"):
        r = ui.post("/ui/api/score", json={"leads": [person], "as_of": "2026-02-01T00:00:00Z"},
                    headers={**UI_POST, "X-Request-ID": "ui-check-1"})
        bad = ui.post("/ui/login", data={"key": "wrong-key-wrong-key-1234"})
    assert r.status_code == 200 and bad.status_code == 401
    assert "ada.lovelace" not in r.text and "Chief Nursing" not in r.text  # only the lead_id comes back
    line = next(ln for ln in caplog.text.splitlines() if "request_id=ui-check-1" in ln)
    assert "path=/ui/api/score" in line and "leads=1" in line and "status=200" in line
    for secret in ("ada.lovelace", "Ada", "Chief Nursing", "wrong-key-wrong-key", KEY, _token(KEY)):
        assert secret not in caplog.text


# ---------------------------------------------------------------------------
# Scored files
# ---------------------------------------------------------------------------


def _scored_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """A scored file's columns, as ``mqlscore score`` writes them, for ``n`` made-up leads."""
    rng = np.random.default_rng(seed)
    score = np.round(rng.uniform(0, 100, n), 1)
    reasons = [json.dumps([{"signal": "act:baa_request", "group": "intent", "text": "Requested a BAA 6 days ago",
                            "points": 14.2, "sign": "+"},
                           {"signal": "org_type", "group": "fit", "text": "Health system", "points": -3.1,
                            "sign": "-"}])] * n
    return pd.DataFrame({
        "lead_id": [f"L{i:05d}" for i in range(n)], "as_of": "2026-02-01 00:00:00+00:00",
        "probability": rng.uniform(0, 1, n), "score": score, "tier": np.where(score >= 70, "A", "D"),
        "is_mql": score >= 70, "fit_points": 1.5, "intent_points": 2.5, "base_points": 30.0, "reasons_json": reasons,
        "reasons_text": "Requested a BAA 6 days ago (+14)", "model_name": MODEL_NAME, "model_version": "1",
    })


def _upload(ui, data: bytes, name: str = "scores.csv", **headers: str):
    return ui.post(f"/ui/api/scores?name={name}", content=data,
                   headers={**UI_POST, "Content-Type": "application/octet-stream", **headers})


def test_reads_the_score_files_mqlscore_writes(scored_files: dict[str, Path]) -> None:
    from mqlscore.serving.leadcard import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, ScoresTable

    csv = ScoresTable.from_bytes(scored_files["csv"].read_bytes(), "test-scores.csv")
    parquet = ScoresTable.from_bytes(scored_files["parquet"].read_bytes(), "test-scores.parquet")
    frame = pd.read_csv(scored_files["csv"], dtype={"lead_id": str})
    assert set(frame.columns) - {"reasons_text"} == set(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
    assert len(csv.rows) == len(parquet.rows) == len(frame) > 100
    assert [r["score"] for r in csv.rows] == sorted(frame["score"], reverse=True)
    by_id = frame.set_index("lead_id")
    for row, other in zip(csv.rows[:50], parquet.rows[:50]):
        assert row["lead_id"] == other["lead_id"] and row["tier"] == other["tier"]
        assert row["probability"] == pytest.approx(other["probability"], rel=1e-12)
        want = by_id.loc[row["lead_id"]]
        assert row["score"] == want["score"] and row["is_mql"] == bool(want["is_mql"])
        assert row["reasons"] == json.loads(want["reasons_json"]) == other["reasons"]
        assert row["model_name"] == MODEL_NAME and row["model_version"] == "1"


def test_upload_csv_and_parquet(ui) -> None:
    _sign_in(ui)
    frame = _scored_frame(120)
    for name, data in (("s.csv", frame.to_csv(index=False).encode()), ("s.parquet", frame.to_parquet(index=False))):
        r = _upload(ui, data, name)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["source"] == name and body["total"] == 120 and len(body["rows"]) == 120
        top = body["rows"][0]
        assert top["score"] == frame["score"].max() and top["reasons"][0]["points"] == 14.2
        assert top["reasons"][1] == {"signal": "org_type", "group": "fit", "text": "Health system", "points": -3.1,
                                     "sign": "-"}


def test_extra_columns_never_reach_the_page(ui) -> None:
    _sign_in(ui)
    frame = _scored_frame(5).assign(email="grace@hospital.example", first_name="Grace")
    r = _upload(ui, frame.to_csv(index=False).encode())
    assert r.status_code == 200 and "grace" not in r.text.lower()


@pytest.mark.parametrize("data,words", [
    (b"lead_id,probability,tier,is_mql\nL1,0.5,A,True\n", "no column 'score'"),
    (b"name,email\nAda,ada@example.org\n", "no column 'lead_id', 'probability', 'score', 'tier', 'is_mql'"),
    (b"", "is empty"),
    (b"PAR1 this is not really parquet", "neither a CSV nor a Parquet"),
    (b"lead_id,probability,score,tier,is_mql\nL1,0.5,,A,True\n", "no row with both a lead_id and a score"),
], ids=["no-score-column", "not-scores", "empty", "broken-parquet", "no-scores"])
def test_not_a_scored_file_gets_a_422_naming_what_is_missing(ui, data, words) -> None:
    _sign_in(ui)
    r = _upload(ui, data, "mine.csv")
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "not a scored file" and words in body["problems"][0]["message"]
    assert body["problems"][0]["field"] == "file" and "ada@example.org" not in r.text


def test_upload_larger_than_the_limit_gets_413(ui) -> None:
    _sign_in(ui)
    r = _upload(ui, b"x" * (4 * 1024 * 1024 + 1))
    assert r.status_code == 413


def test_ten_thousand_rows_are_paged_and_uploads_gzipped(ui, tmp_path: Path, monkeypatch) -> None:
    from mqlscore.serving.leadcard import UI_SCORES_ENV

    _sign_in(ui)
    frame = _scored_frame(10_000, seed=3)
    path = tmp_path / "big.parquet"
    frame.to_parquet(path, index=False)
    monkeypatch.setenv(UI_SCORES_ENV, str(path))
    r = ui.get("/ui/api/scores")
    assert r.status_code == 200
    page = r.json()
    assert page["source"] == "big.parquet" and page["total"] == page["matched"] == 10_000
    assert len(page["rows"]) == 50 and page["rows"][0]["score"] == frame["score"].max()
    scores = [row["score"] for row in page["rows"]]
    assert scores == sorted(scores, reverse=True)
    nxt = ui.get("/ui/api/scores", params={"offset": 50, "limit": 50}).json()
    assert nxt["rows"][0]["score"] <= scores[-1] and nxt["offset"] == 50
    asc = ui.get("/ui/api/scores", params={"order": "asc", "limit": 5}).json()
    assert asc["rows"][0]["score"] == frame["score"].min()
    found = ui.get("/ui/api/scores", params={"q": "l0012"}).json()  # any case, part of the id
    assert found["matched"] == 10 and {r["lead_id"] for r in found["rows"]} == {f"L0012{i}" for i in range(10)}
    assert ui.get("/ui/api/scores", params={"limit": "many"}).status_code == 422
    end = ui.get("/ui/api/scores", params={"offset": 10_000_000, "limit": 50}).json()  # past the end: the last page
    assert end["offset"] == 9_950 and len(end["rows"]) == 50
    # Uploaded, the same file comes back whole (the page pages it), gzipped.
    up = _upload(ui, path.read_bytes(), "big.parquet", **{"Accept-Encoding": "gzip"})
    assert up.status_code == 200 and up.headers["content-encoding"] == "gzip" and up.json()["total"] == 10_000
    assert len(gzip.compress(up.content)) < len(up.content)  # httpx already decoded it


def test_preloaded_file_absent_or_broken(ui, tmp_path: Path, monkeypatch) -> None:
    from mqlscore.serving.leadcard import UI_SCORES_ENV

    _sign_in(ui)
    monkeypatch.delenv(UI_SCORES_ENV, raising=False)
    assert ui.get("/ui/api/scores").json() == {"source": None, "total": 0, "matched": 0, "offset": 0, "limit": 50,
                                               "rows": []}
    monkeypatch.setenv(UI_SCORES_ENV, str(tmp_path / "gone.csv"))
    r = ui.get("/ui/api/scores")
    assert r.status_code == 422 and "gone.csv" in r.json()["problems"][0]["message"]


# ---------------------------------------------------------------------------
# mqlscore serve --scores
# ---------------------------------------------------------------------------


def test_serve_checks_the_scored_file_before_starting(tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from mqlscore.cli import app

    bad = tmp_path / "leads.csv"
    bad.write_text("lead_id,created_at\nL1,2026-01-01\n")
    env = {"MQLSCORE_API_KEY": KEY, "MQLSCORE_DEV": ""}
    monkeypatch.setattr("mqlscore.serving.packaging.serve_command", lambda *a, **k: ["python", "-m", "bentoml", "serve",
                                                                            "mqlscore-service:x"])
    result = CliRunner().invoke(app, ["serve", "--scores", str(bad)], env=env)
    assert result.exit_code == 1 and "is not a scored file" in result.output and "'score'" in result.output
    result = CliRunner().invoke(app, ["serve", "--scores", str(tmp_path / "missing.csv")], env=env)
    assert result.exit_code == 1 and "cannot read the scored file" in result.output


def test_how_to_call_names_the_lead_card() -> None:
    from mqlscore.serving.packaging import how_to_call

    assert "http://127.0.0.1:3000/ui (sign in with the API key)" in how_to_call("127.0.0.1", 3000, False)
    assert how_to_call("127.0.0.1", 3000, True).endswith("http://127.0.0.1:3000/ui")


def test_page_assets_ship_with_the_package() -> None:
    from importlib import resources

    static = resources.files("mqlscore").joinpath("static")
    for name in ("leadcard.html", "leadcard.css", "leadcard.js"):
        text = static.joinpath(name).read_text(encoding="utf-8")
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text, name
    assert ".innerHTML" not in static.joinpath("leadcard.js").read_text(encoding="utf-8")


def test_scores_file_reader_keeps_lead_ids_as_written() -> None:
    from mqlscore.serving.leadcard import read_scores

    data = b"lead_id,probability,score,tier,is_mql\n007,0.5,50,B,True\nNA,0.1,10,D,false\n"
    frame = read_scores(data)
    assert frame["lead_id"].tolist() == ["007", "NA"] and frame["is_mql"].tolist() == [True, False]
    assert read_scores(io.BytesIO(data).getvalue())["score"].tolist() == [50.0, 10.0]
