"""The lead card's routes in process (``starlette.testclient`` on the guard and
``model_routes``): sign-in, sessions (random, expiring, signed out on every
worker, wrong keys throttled), scored files (CSV and Parquet, wrong files, 10,000
rows, files over the bounds), and ``mqlscore serve --scores``; and, against the
session's real server (``conftest.py``), ``POST /ui/api/score`` answering exactly
like ``POST /score``, sign-out and an oversized upload.

``test_ui_browser.py`` drives the page itself in headless Chromium.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import subprocess
import sys
import time
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
HOUR = 3600.0


class Clock:
    """A clock the tests move (epoch seconds)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


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


def _app(engine, key: str | None, store: Path | None = None, clock: Clock | None = None,
         address: str = "testclient", lead_store=None):
    """The guard and the lead card's routes, as one worker of the service: its sessions
    kept in the SQLite file ``store`` (shared by every "worker" given the same file),
    its lead store ``lead_store`` (a ``StoreService``; None: none)."""
    from starlette.testclient import TestClient

    from mqlscore.serving.auth import ApiKeyAuth
    from mqlscore.serving.guard import GuardMiddleware
    from mqlscore.serving.routes import model_routes
    from mqlscore.serving.sessions import LeadCardSessions, SessionStore

    auth = ApiKeyAuth(key.encode() if key else None)
    sessions = None
    if key and store is not None:
        sessions = LeadCardSessions(auth.key, SessionStore(store), clock=clock or Clock())
    guard = GuardMiddleware(model_routes(lambda: engine, lambda: lead_store), auth=auth, config=engine.config,
                            sessions=sessions)
    return TestClient(guard, follow_redirects=False, client=(address, 50000))


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "sessions.sqlite"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ui(engine, store, clock):
    with _app(engine, KEY, store, clock) as test_client:
        yield test_client


def _sign_in(ui) -> str:
    """Sign in; the session cookie's value."""
    r = ui.post("/ui/login", data={"key": KEY})
    assert r.status_code == 303, r.text
    return r.headers["set-cookie"].split(";")[0].split("=", 1)[1]


def _with(cookie: str, **headers: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION}={cookie}", **headers}


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


def test_sign_in_sets_a_session_cookie_for_ui_only(ui) -> None:
    r = ui.post("/ui/login", data={"key": KEY})
    assert r.status_code == 303 and r.headers["location"] == "/ui"
    cookie = r.headers["set-cookie"]
    parts = [p.strip() for p in cookie.split(";")]
    name, _, value = parts[0].partition("=")
    assert name == SESSION and KEY not in cookie and len(value) > 40  # a signed session, never the key
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
    ui.cookies.clear()
    assert ui.get("/model", headers=_with(value)).status_code == 401
    assert ui.post("/score", json={"leads": [lead()]}, headers=_with(value, **UI_POST)).status_code == 401
    # A POST with the cookie needs the page's header (a cross-site form cannot send it).
    body = {"leads": [lead()], "as_of": "2026-02-01T00:00:00Z"}
    assert ui.post("/ui/api/score", json=body, headers=_with(value)).status_code == 401
    assert ui.post("/ui/api/score", json=body, headers=_with(value, **UI_POST)).status_code == 200


def test_cookie_over_https_is_secure(engine, store) -> None:
    with _app(engine, KEY, store) as secure:
        r = secure.post("/ui/login", data={"key": KEY}, headers={"X-Forwarded-Proto": "https"})
        assert "secure" in [p.strip().lower() for p in r.headers["set-cookie"].split(";")]


def test_two_sign_ins_give_different_sessions(ui) -> None:
    first, second = _sign_in(ui), _sign_in(ui)
    assert first != second  # a random session id each time, not a fixed function of the key
    ui.cookies.clear()
    for cookie in (first, second):
        assert ui.get("/ui", headers=_with(cookie)).status_code == 200


def test_cookie_of_another_key_or_a_forged_one_is_refused(engine, store) -> None:
    with _app(engine, KEY, store) as client_:
        cookie = _sign_in(client_)
        client_.cookies.clear()
        assert client_.get("/ui", headers=_with(cookie)).status_code == 200
        body, _, mac = cookie.rpartition(".")
        version, sid, issued, seen = body.split(".")
        forged = [KEY, cookie[:-1] + ("A" if cookie[-1] != "A" else "B"), "", "s1.x.1.1.y",
                  f"{version}.{sid}.{int(issued) + 3600}.{int(seen) + 3600}.{mac}",  # a later time, same MAC
                  f"{version}.{sid[:-1]}A.{issued}.{seen}.{mac}"]
        for value in forged:
            assert client_.get("/ui", headers=_with(value)).status_code == 401, value
    with _app(engine, "another-key-0123456789-abcdefgh", store) as other:
        assert other.get("/ui", headers=_with(cookie)).status_code == 401  # the key changed: sign in again


def test_sessions_expire_when_idle_and_after_the_maximum(ui, clock) -> None:
    from mqlscore.serving.sessions import LeadCardConfig

    config = LeadCardConfig()
    assert (config.session_idle_hours, config.session_max_hours) == (8.0, 24.0)
    cookie = _sign_in(ui)
    ui.cookies.clear()
    clock.now += 7 * HOUR  # used within the idle time: still valid, and renewed
    r = ui.get("/ui", headers=_with(cookie))
    assert r.status_code == 200
    renewed = r.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    assert renewed != cookie and "path=/ui" in r.headers["set-cookie"].lower()
    clock.now += 2 * HOUR  # 9 h after sign-in, 2 h after the last request
    assert ui.get("/ui", headers=_with(cookie)).status_code == 401  # the old cookie: idle for 9 h
    assert ui.get("/ui", headers=_with(renewed)).status_code == 200
    for _ in range(3):  # in use every 5 h: never idle, yet over 24 h after sign-in it ends
        clock.now += 5 * HOUR
        r = ui.get("/ui", headers=_with(renewed))
        if r.status_code == 200 and "set-cookie" in r.headers:
            renewed = r.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    assert clock.now - 1_800_000_000.0 == 24 * HOUR
    assert ui.get("/ui", headers=_with(renewed)).status_code == 200
    clock.now += 60
    r = ui.get("/ui", headers=_with(renewed))
    assert r.status_code == 401 and 'action="/ui/login"' in r.text


def test_sign_out_ends_the_session_on_every_worker(engine, store, clock) -> None:
    with _app(engine, KEY, store, clock) as worker_1, _app(engine, KEY, store, clock) as worker_2:
        cookie = _sign_in(worker_1)
        worker_1.cookies.clear()
        assert worker_2.get("/ui", headers=_with(cookie)).status_code == 200  # stateless: any worker checks it
        r = worker_2.post("/ui/logout", headers=_with(cookie))
        assert r.status_code == 303 and r.headers["location"] == "/ui"
        cleared = r.headers["set-cookie"].lower()
        assert cleared.startswith(f"{SESSION}=") and "max-age=0" in cleared and "path=/ui" in cleared
        # A copy of the cookie kept after sign-out is refused, on the other worker too.
        assert worker_1.get("/ui", headers=_with(cookie)).status_code == 401
        assert worker_1.post("/ui/api/score", json={"leads": [lead()]},
                             headers=_with(cookie, **UI_POST)).status_code == 401
        other = _sign_in(worker_1)  # other sessions live on
        worker_1.cookies.clear()
        assert worker_2.get("/ui", headers=_with(other)).status_code == 200


def test_sign_out_clears_the_cookie(ui) -> None:
    _sign_in(ui)
    assert ui.get("/ui").status_code == 200
    r = ui.post("/ui/logout")
    assert r.status_code == 303 and r.headers["location"] == "/ui"
    assert ui.get("/ui").status_code == 401


def test_wrong_keys_are_throttled_per_address_and_the_brake_resets(engine, store, clock) -> None:
    from mqlscore.serving.sessions import LeadCardConfig

    attempts, window = LeadCardConfig().sign_in_attempts, LeadCardConfig().sign_in_window_seconds
    assert (attempts, window) == (5, 60)
    with _app(engine, KEY, store, clock, address="203.0.113.7") as attacker, \
            _app(engine, KEY, store, clock, address="203.0.113.7") as same_address_other_worker, \
            _app(engine, KEY, store, clock, address="198.51.100.2") as colleague:
        for i in range(attempts):
            clock.now += 5
            worker = attacker if i % 2 else same_address_other_worker  # counted across workers
            assert worker.post("/ui/login", data={"key": f"guess-{i}-0123456789abcdef"}).status_code == 401
        refused = attacker.post("/ui/login", data={"key": KEY})  # even the right key, while braked
        assert refused.status_code == 429 and "set-cookie" not in refused.headers
        retry = int(refused.headers["retry-after"])
        assert 0 < retry <= window and "try again" in refused.text
        assert colleague.post("/ui/login", data={"key": KEY}).status_code == 303  # another address is not braked
        clock.now += retry
        assert attacker.post("/ui/login", data={"key": KEY}).status_code == 303  # the brake resets
        for i in range(attempts - 1):  # and a right key cleared the count
            assert attacker.post("/ui/login", data={"key": f"again-{i}-0123456789abcdef"}).status_code == 401
        assert attacker.post("/ui/login", data={"key": KEY}).status_code == 303


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


def test_sign_out_ends_the_session_in_the_real_service(server) -> None:
    with httpx.Client(base_url=server["url"], timeout=30, follow_redirects=False) as browser:
        first = browser.post("/ui/login", data={"key": KEY})
        second = browser.post("/ui/login", data={"key": KEY})
        assert first.status_code == second.status_code == 303
        assert first.cookies[SESSION] != second.cookies[SESSION]
        kept = browser.cookies[SESSION]
        assert browser.get("/ui").status_code == 200
        assert browser.post("/ui/logout").status_code == 303
    with httpx.Client(base_url=server["url"], timeout=30, follow_redirects=False) as replay:
        assert replay.get("/ui", headers=_with(kept)).status_code == 401  # a copy kept after sign-out is refused


def test_a_small_file_of_two_million_rows_is_refused_by_the_real_service(served) -> None:
    data = _bomb()
    t0 = time.perf_counter()
    r = served.post("/ui/api/scores", params={"name": "bomb.parquet"}, content=data,
                    headers={**UI_POST, "Content-Type": "application/octet-stream"})
    assert r.status_code == 413 and time.perf_counter() - t0 < 5, r.text[:300]
    assert "at most 200,000" in r.json()["problems"][0]["message"]
    assert served.get("/readyz").status_code == 200


def test_ui_log_lines_carry_no_personal_data(ui, caplog) -> None:
    cookie = _sign_in(ui)
    person = lead(email="ada.lovelace@example-hospital.org", first_name="Ada", job_title="Chief Nursing Officer")
    with caplog.at_level(logging.INFO, logger="mqlscore.service"):
        r = ui.post("/ui/api/score", json={"leads": [person], "as_of": "2026-02-01T00:00:00Z"},
                    headers={**UI_POST, "X-Request-ID": "ui-check-1"})
        bad = ui.post("/ui/login", data={"key": "wrong-key-wrong-key-1234"})
    assert r.status_code == 200 and bad.status_code == 401
    assert "ada.lovelace" not in r.text and "Chief Nursing" not in r.text  # only the lead_id comes back
    line = next(ln for ln in caplog.text.splitlines() if "request_id=ui-check-1" in ln)
    assert "path=/ui/api/score" in line and "leads=1" in line and "status=200" in line
    for secret in ("ada.lovelace", "Ada", "Chief Nursing", "wrong-key-wrong-key", KEY, cookie):
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


def _upload(ui, data: bytes, name: str = "scores.csv", params: dict | None = None, **headers: str):
    return ui.post("/ui/api/scores", params={"name": name, **(params or {})}, content=data,
                   headers={**UI_POST, "Content-Type": "application/octet-stream", **headers})


def test_reads_the_score_files_mqlscore_writes(scored_files: dict[str, Path]) -> None:
    from mqlscore.serving.leadcard import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, ScoresTable

    csv = ScoresTable.from_bytes(scored_files["csv"].read_bytes(), "test-scores.csv")
    parquet = ScoresTable.from_bytes(scored_files["parquet"].read_bytes(), "test-scores.parquet")
    frame = pd.read_csv(scored_files["csv"], dtype={"lead_id": str})
    assert set(frame.columns) - {"reasons_text"} == set(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
    assert csv.total == parquet.total == len(frame) > 100
    scores = [r["score"] for k in range(0, len(frame), 200) for r in csv.page(offset=k, limit=200)["rows"]]
    assert scores == sorted(frame["score"], reverse=True)
    by_id = frame.set_index("lead_id")
    for row, other in zip(csv.page(limit=50)["rows"], parquet.page(limit=50)["rows"]):
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
        assert body["source"] == name and body["total"] == body["matched"] == 120 and len(body["rows"]) == 50
        top = body["rows"][0]
        assert top["score"] == frame["score"].max() and top["reasons"][0]["points"] == 14.2
        assert top["reasons"][1] == {"signal": "org_type", "group": "fit", "text": "Health system", "points": -3.1,
                                     "sign": "-"}


def test_empty_or_unknown_cells_come_back_as_null_or_as_written(ui) -> None:
    _sign_in(ui)
    data = b"lead_id,probability,score,tier,is_mql\nL1,0.5,50,,\nL2,0.4,40,E,maybe\nL3,,30,D,false\n"
    r = _upload(ui, data, "gaps.csv")
    assert r.status_code == 200, r.text  # an empty tier had made the answer's JSON invalid (500)
    rows = {row["lead_id"]: row for row in r.json()["rows"]}
    assert (rows["L1"]["tier"], rows["L1"]["is_mql"]) == (None, None)
    assert (rows["L2"]["tier"], rows["L2"]["is_mql"]) == ("E", None)  # the page shows an unknown tier as "?"
    assert rows["L3"]["probability"] is None and rows["L3"]["is_mql"] is False


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


def test_ten_thousand_rows_are_paged_preloaded_or_uploaded(ui, tmp_path: Path, monkeypatch) -> None:
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
    # Uploaded, the same file is paged, sorted and searched the same way, one page per request.
    for params in ({}, {"offset": 50, "limit": 50}, {"order": "asc", "limit": 5}, {"q": "l0012"},
                   {"offset": 10_000_000}):
        up = _upload(ui, path.read_bytes(), "big.parquet", {k: str(v) for k, v in params.items()})
        assert up.status_code == 200, up.text
        preloaded = ui.get("/ui/api/scores", params=params).json()
        assert up.json() == {**preloaded, "source": "big.parquet"}
        assert len(up.content) < 200_000  # a page, never the whole file
    assert _upload(ui, path.read_bytes(), "big.parquet", {"limit": "many"}).status_code == 422


@functools.cache
def _bomb(rows: int = 2_000_000) -> bytes:
    """A scored file of ``rows`` identical rows, zstd-compressed Parquet: tens of KB on the wire."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    row = _scored_frame(1).drop(columns=["reasons_text", "as_of", "model_name", "model_version"]).iloc[0].to_dict()
    table = pa.table({k: pa.array([v] * rows) for k, v in row.items()})
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd", row_group_size=rows, write_statistics=False)
    return out.getvalue()


def test_a_small_file_of_two_million_rows_is_refused_quickly_with_bounded_memory(tmp_path: Path) -> None:
    # 2 million identical rows in ~40 KB of zstd Parquet had grown a worker by 1.9 GB: the
    # row count is read from the footer and the file refused before a value is decoded.
    from mqlscore.serving.sessions import LeadCardConfig

    data = _bomb()
    assert len(data) < 64_000
    path = tmp_path / "bomb.parquet"
    path.write_bytes(data)
    bounds = LeadCardConfig()
    assert bounds.upload_max_rows == 200_000
    child = f"""
import json, time
from pathlib import Path
from mqlscore.serving.leadcard import read_scores
def peak():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) * 1024
data = Path({str(path)!r}).read_bytes()
before, t0 = peak(), time.perf_counter()
try:
    read_scores(data, "bomb.parquet", {bounds.upload_max_rows}, {bounds.upload_max_decoded_bytes})
    error, message = None, None
except Exception as exc:
    error, message = type(exc).__name__, str(exc)
print(json.dumps({{"error": error, "message": message, "seconds": time.perf_counter() - t0,
                  "grew": peak() - before}}))
"""
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["error"] == "ScoresFileTooLarge", out
    assert "2,000,000 rows" in out["message"] and "at most 200,000" in out["message"]
    assert out["seconds"] < 2 and out["grew"] < 64 * 1024 * 1024, out  # was 52 s and 3.7 GB


def test_uploads_over_the_bounds_get_413_naming_the_bound(ui) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    _sign_in(ui)
    t0 = time.perf_counter()
    r = _upload(ui, _bomb(), "bomb.parquet")
    assert r.status_code == 413 and time.perf_counter() - t0 < 5, r.text
    body = r.json()
    assert body["problems"][0]["field"] == "file" and "at most 200,000" in body["problems"][0]["message"]
    # Few rows, each 100 KB once decompressed: refused on the decompressed size, whether the
    # text is stored once (dictionary) or on every row (the pages' own sizes are read first).
    frame = _scored_frame(1_000).assign(reasons_json="x" * 100_000)
    for dictionary in (True, False):
        out = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), out, compression="zstd",
                       use_dictionary=dictionary)
        assert len(out.getvalue()) < 1_000_000
        r = _upload(ui, out.getvalue(), "wide.parquet")
        assert r.status_code == 413, (dictionary, r.text)
        assert "67,108,864 bytes" in r.json()["problems"][0]["message"]
    # A list column can hold any number of values per row: refused, not read.
    nested = pa.table({"lead_id": [["L1"] * 3], "probability": [0.5], "score": [50.0], "tier": ["B"],
                       "is_mql": [False]})
    out = io.BytesIO()
    pq.write_table(nested, out)
    r = _upload(ui, out.getvalue(), "nested.parquet")
    assert r.status_code == 422 and "'lead_id'" in r.json()["problems"][0]["message"]


def test_csv_rows_are_capped() -> None:
    from mqlscore.serving.leadcard import ScoresFileTooLarge, read_scores

    data = _scored_frame(11).to_csv(index=False).encode()
    assert len(read_scores(data, "s.csv", max_rows=11)) == 11
    with pytest.raises(ScoresFileTooLarge, match="more than 10 rows"):
        read_scores(data, "s.csv", max_rows=10)


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


# ---------------------------------------------------------------------------
# Stored leads: the view's elements, and the routes it reads as the page calls them
# ---------------------------------------------------------------------------

STORED_VIEW_IDS = ("tab-stored", "panel-stored", "stored-search", "stored-mql", "stored-leads", "stored-prev",
                   "stored-next", "stored-range", "stored-empty", "stored-none", "stored-error")


def test_page_has_the_stored_leads_view(ui) -> None:
    _sign_in(ui)
    page = ui.get("/ui").text
    for name in STORED_VIEW_IDS:
        assert f'id="{name}"' in page, name
    assert 'role="tab" id="tab-stored" aria-controls="panel-stored"' in page
    assert 'id="stored-mql"' in page.split('<label class="toggle">')[1].split("</label>")[0]  # labelled "MQLs only"
    js = ui.get(page.split('src="')[1].split('"')[0]).text
    # The view's data goes in as text: the timeline is drawn with DOM calls, never markup.
    assert ".innerHTML" not in js and "insertAdjacentHTML" not in js and "outerHTML" not in js
    assert "document.write" not in js and "DOMParser" not in js


def test_stored_routes_answer_the_signed_in_page_or_say_there_is_no_store(engine, store, clock, demo_export,
                                                                          tmp_path: Path) -> None:
    from support import recent_slice

    from mqlscore.serving.store_service import StoreService
    from mqlscore.store import LeadStore, export_clock_start, load_dataset
    from mqlscore.store.clock import ManualClock

    url = f"sqlite:///{tmp_path / 'leads.db'}"
    loader = LeadStore(url)
    load_dataset(loader, recent_slice(demo_export, 40))
    start = export_clock_start(loader)  # `serve --clock-from export`
    loader.close()
    service = StoreService.open(engine, url, clock=ManualClock(start))
    service.scorer.process_model_change()  # what the worker's scorer does in the background
    service.scorer.tick()
    try:
        with _app(engine, KEY, store, clock, lead_store=service) as page:
            assert page.get("/ui/api/stored").status_code == 401  # signed out
            _sign_in(page)
            listed = page.get("/ui/api/stored", params={"mql": "1", "limit": "5"})
            assert listed.status_code == 200, listed.text
            body = listed.json()
            assert set(body) == {"leads", "total", "offset", "now"} and 0 < len(body["leads"]) <= 5
            assert all(row["is_mql"] for row in body["leads"])
            lead_id = body["leads"][0]["lead_id"]
            found = page.get("/ui/api/stored", params={"q": lead_id}).json()
            assert [row["lead_id"] for row in found["leads"]] == [lead_id]
            drawn = page.get(f"/ui/api/stored/{lead_id}/timeline")
            assert drawn.status_code == 200, drawn.text
            timeline = drawn.json()
            # What the page's timeline reads.
            assert {"points", "events", "now", "threshold_score", "lead", "handoffs"} <= set(timeline)
            assert {p["ahead"] for p in timeline["points"]} == {False, True}
            assert timeline["lead"]["lead_id"] == lead_id and timeline["lead"]["is_mql"] is True
            assert isinstance(timeline["threshold_score"], float) and timeline["lead"]["reasons"]
            missing = page.get("/ui/api/stored/not-a-stored-lead/timeline")
            assert missing.status_code == 404 and missing.json()["problems"][0]["field"] == "lead_id"
    finally:
        service.stop()
    with _app(engine, KEY, store, clock) as without:
        _sign_in(without)
        for path in ("/ui/api/stored", "/ui/api/stored/L1/timeline"):
            r = without.get(path)
            # The page shows its explanation on exactly this: a 404 naming the field "store".
            assert r.status_code == 404 and set(r.json()) == {"error", "request_id", "problems"}, path
            assert r.json()["problems"][0]["field"] == "store"
