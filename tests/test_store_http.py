"""The lead store behind a real ``mqlscore serve`` (``bentoml serve``): the API key
guards its routes, events go in, a stored lead scores as POST /score does, hand-offs
page, erasure answers 204."""

from __future__ import annotations

import time

import httpx
import pytest
from support import KEY

AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def http(server: dict):
    with httpx.Client(base_url=server["url"], timeout=60) as client:
        yield client


def test_the_store_routes_need_the_api_key(http: httpx.Client) -> None:
    assert http.post("/events", json={"events": []}).status_code == 401
    assert http.get("/leads/x").status_code == 401
    assert http.get("/handoffs").status_code == 401
    assert http.delete("/leads/x").status_code == 401


def test_events_in_a_stored_lead_out_and_erased(http: httpx.Client) -> None:
    lead = {"event_id": "http-lead", "kind": "lead", "lead_id": "HTTP-L1", "created_at": "2026-09-20T10:00:00Z",
            "account_id": "HTTP-ACC", "job_title": "CMIO", "org_type": "health_system", "employee_count": 9000,
            "country": "US", "state": "OH", "ehr_vendor": "epic"}
    acts = [{"event_id": f"http-a{k}", "kind": "activity", "lead_id": "HTTP-L1", "activity_type": kind,
             "occurred_at": f"2026-09-2{k + 1}T12:00:00Z", "detail": "/pricing" if kind == "page_view" else None}
            for k, kind in enumerate(["page_view", "demo_request", "baa_request"])]
    answer = http.post("/events", json={"events": [lead, *acts]}, headers=AUTH)
    assert answer.status_code == 200 and answer.json()["accepted"] == 4
    assert http.post("/events", json={"events": [lead, *acts]}, headers=AUTH).json()["duplicates"] == 4
    got = http.get("/leads/HTTP-L1", headers=AUTH)
    assert got.status_code == 200
    stored = got.json()
    body = {"leads": [{k: v for k, v in lead.items() if k not in ("event_id", "kind")} | {
        "activities": [{k: v for k, v in a.items() if k not in ("event_id", "kind", "lead_id")} for a in acts]}],
        "as_of": stored["as_of"]}
    posted = http.post("/score", json=body, headers=AUTH).json()["scores"][0]
    assert {k: stored[k] for k in posted} == posted
    assert http.get("/handoffs", params={"after": 0, "limit": 5}, headers=AUTH).status_code == 200
    assert http.get("/handoffs", params={"limit": 0}, headers=AUTH).status_code == 422
    assert http.delete("/leads/HTTP-L1", headers=AUTH).status_code == 204
    assert http.get("/leads/HTTP-L1", headers=AUTH).status_code == 404


def test_the_server_scores_the_store_in_the_background(http: httpx.Client) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        page = http.get("/ui/api/stored", params={"mql": "1"}, headers=AUTH)
        if page.status_code == 200 and page.json()["leads"]:
            break
        time.sleep(1)
    leads = page.json()["leads"]
    assert leads and all(row["is_mql"] and row["mql_until"] for row in leads[:5])
    one = http.get(f"/leads/{leads[0]['lead_id']}", headers=AUTH).json()
    assert one["is_mql"] and one["mql_until"] == leads[0]["mql_until"]
