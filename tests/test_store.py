"""The lead store (issue 14): events in, stored scores equal to POST /score, MQL
hand-offs up after events and down when decay runs out, erasure, bad events."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import recent_slice

from mqlscore.config import StoreConfig
from mqlscore.contract.schema import SCORE_FIELDS
from mqlscore.features.fit import minimise_leads
from mqlscore.scoring import ScoringModel
from mqlscore.serving.engine import ScoringEngine
from mqlscore.serving.routes import model_routes
from mqlscore.serving.schemas import LeadIn
from mqlscore.serving.store_service import StoreService
from mqlscore.store import LeadStore, ManualClock, load_dataset
from mqlscore.store.events import EventsRejected, check_events
from mqlscore.store.migrations import LATEST_VERSION, NewerStore
from mqlscore.store.repository import micros, stamp
from mqlscore.store.scorer import MODEL_CHANGE_META, StoreScorer


@pytest.fixture(scope="module")
def model(service_store: Path) -> ScoringModel:
    return ScoringModel.load(service_store / "scoring_model")


@pytest.fixture(scope="module")
def slice_300(demo_export: Path):
    return recent_slice(demo_export, 300)


@pytest.fixture(scope="module")
def scored_file(tmp_path_factory: pytest.TempPathFactory, model: ScoringModel, slice_300) -> Path:
    """A SQLite store holding the slice, every lead scored at the export time (quietly)."""
    path = tmp_path_factory.mktemp("scored-store") / "leads.db"
    store = LeadStore(f"sqlite:///{path}")
    load_dataset(store, slice_300)
    StoreScorer(store, model, ManualClock(slice_300.as_of)).tick()
    store.close()
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return path


@pytest.fixture
def stored(tmp_path: Path, scored_file: Path, model: ScoringModel, slice_300):
    """A fresh copy of the scored store, its service (in-process, manual clock) and an HTTP client."""
    from starlette.testclient import TestClient

    path = tmp_path / "leads.db"
    shutil.copy(scored_file, path)
    engine = ScoringEngine(model)
    clock = ManualClock(slice_300.as_of)
    service = StoreService.open(engine, f"sqlite:///{path}", clock=clock)
    client = TestClient(model_routes(lambda: engine, lambda: service))
    yield {"service": service, "clock": clock, "client": client, "path": path, "engine": engine}
    service.stop()


def _mqls(service: StoreService) -> list[dict]:
    return service.leads("", True, 0, 500)["leads"]


def _open_non_mql(service: StoreService) -> str:
    with service.store.db.transaction() as cur:
        cur.execute("SELECT s.lead_id FROM lead_state s LEFT JOIN outcomes o ON o.lead_id = s.lead_id "
                    "WHERE s.is_mql = 0 AND o.lead_id IS NULL AND s.score IS NOT NULL ORDER BY s.score DESC LIMIT 1")
        return cur.fetchone()[0]


# -- the stored history is the contract's, minimised ---------------------------------------


def test_minimised_leads_give_the_same_features(model: ScoringModel, slice_300) -> None:
    leads = slice_300.leads
    snapshots = pd.DataFrame({"lead_id": leads["lead_id"], "as_of": slice_300.as_of})
    raw = model.builder.transform(leads, slice_300.activities, snapshots)
    small = minimise_leads(leads)
    assert not {"email", "job_title", "company_name"} & set(small.columns)
    same = model.builder.transform(small, slice_300.activities, snapshots)
    pd.testing.assert_frame_equal(raw, same)


def test_the_store_keeps_no_personal_data(stored) -> None:
    client, path = stored["client"], stored["path"]
    lead = {"event_id": "p1", "kind": "lead", "lead_id": "L-PRIV", "created_at": "2026-09-01T10:00:00Z",
            "email": "jane.doe@gmail.com", "job_title": "Chief Medical Information Officer", "first_name": "Jane",
            "last_name": "Doe", "Phone Number": "+1 555 0100", "company_name": "Mercy Health", "org_type": "hospital"}
    assert client.post("/events", json={"events": [lead]}).json()["accepted"] == 1
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    dump = "\n".join(con.iterdump())
    fields = json.loads(con.execute("SELECT fields FROM leads WHERE lead_id = 'L-PRIV'").fetchone()[0])
    con.close()
    for text in ("jane.doe", "gmail.com", "Chief Medical", "Jane", "Doe", "555 0100", "Mercy Health"):
        assert text not in dump
    assert fields["_persona"] != "unknown" and fields["_free_mail"] == 1.0


# -- scores out: GET /leads/{id} is POST /score on the same history ------------------------------


def test_a_stored_lead_scores_as_post_score_with_the_same_history(stored, demo_export: Path, slice_300) -> None:
    client, engine = stored["client"], stored["engine"]
    groups = slice_300.leads.dropna(subset=["account_id"]).groupby("account_id")["lead_id"].count()
    account = groups[groups >= 2].index[0]
    raw_leads = pd.read_csv(demo_export / "leads.csv", dtype=str, keep_default_na=False)
    raw_acts = pd.read_csv(demo_export / "activities.csv", dtype=str, keep_default_na=False)
    group = raw_leads[raw_leads["account_id"] == account]
    body = []
    for _, row in group.iterrows():
        lead = {k: (v if v != "" else None) for k, v in row.items()}
        acts = raw_acts[raw_acts["lead_id"] == row["lead_id"]]
        lead["activities"] = [{k: (v if v != "" else None) for k, v in a.items() if k != "lead_id"}
                              for _, a in acts.iterrows()]
        body.append(LeadIn.model_validate(lead))
    as_of = stored["clock"].now().isoformat()
    posted = {s.lead_id: s.model_dump() for s in engine.score(body, as_of=as_of).scores}
    assert len(posted) >= 2
    for lead_id, expected in posted.items():
        got = client.get(f"/leads/{lead_id}").json()
        assert {k: got[k] for k in expected} == expected
        assert got["as_of"].startswith(as_of[:19])
        assert (got["mql_until"] is None) == (not got["is_mql"] or got["state"] != "open") or got["is_mql"]


def test_stored_history_equals_the_contracts_tables_at_any_moment(stored, slice_300) -> None:
    """GET and the scorer read stored rows without checking them again: the tables must be
    those the contract gives for the same rows, at moments that cut leads, activities and
    outcomes, and with an activity stored twice under two event ids (counted once)."""
    from mqlscore.store.timeline import LeadNotScorable, history, stored_history

    service = stored["service"]
    lead = _mqls(service)[0]["lead_id"]
    act = {"kind": "activity", "lead_id": lead, "activity_type": "demo_request", "occurred_at": "2026-09-01T10:00:00Z"}
    service.ingest([{**act, "event_id": "twice-1"}, {**act, "event_id": "twice-2"}])
    groups = slice_300.leads.dropna(subset=["account_id"]).groupby("account_id")["lead_id"].first().tolist()[:12]
    end = slice_300.as_of
    moments = [end, end - pd.Timedelta(days=30), end - pd.Timedelta(days=200), pd.Timestamp("2026-09-01T10:00:00Z")]
    compared = 0
    for lead_id in [lead, *groups]:
        raw = service.store.group_tables([lead_id])
        for at in moments:
            try:
                expected = history(raw, at)
            except LeadNotScorable:
                with pytest.raises(LeadNotScorable):
                    stored_history(raw, at)
                continue
            got = stored_history(raw, at)
            for a, b in ((expected.leads, got.leads), (expected.activities, got.activities),
                         (expected.outcomes, got.outcomes)):
                pd.testing.assert_frame_equal(a, b)
            compared += 1
    assert compared >= 20


def test_get_as_of_a_past_moment_scores_the_history_before_it(stored, slice_300) -> None:
    client = stored["client"]
    lead = _mqls(stored["service"])[0]["lead_id"]
    earlier = (slice_300.as_of - pd.Timedelta(days=20)).isoformat()
    got = client.get(f"/leads/{lead}", params={"as_of": earlier}).json()
    assert got["as_of"].startswith(earlier[:19])
    before = stored["engine"].score_tables
    assert callable(before)
    assert client.get(f"/leads/{lead}", params={"as_of": "not a time"}).status_code == 422
    assert client.get("/leads/NO-SUCH-LEAD").status_code == 404


# -- events in -----------------------------------------------------------------------------------


def test_replayed_events_are_duplicates(stored) -> None:
    client, service = stored["client"], stored["service"]
    lead = _open_non_mql(service)
    events = [{"event_id": f"r{k}", "kind": "activity", "lead_id": lead, "activity_type": "page_view",
               "occurred_at": f"2026-09-29T1{k}:00:00Z", "detail": "/pricing"} for k in range(3)]
    first = client.post("/events", json={"events": events}).json()
    counts = service.store.counts()
    again = client.post("/events", json={"events": events}).json()
    mixed = client.post("/events", json={"events": events[:1] + [{**events[0], "event_id": "r9"}]}).json()
    assert (first["accepted"], first["duplicates"]) == (3, 0)
    assert (again["accepted"], again["duplicates"]) == (0, 3)
    assert (mixed["accepted"], mixed["duplicates"]) == (1, 1)
    assert service.store.counts()["events"] == counts["events"] + 1


def test_bad_events_get_the_contracts_errors_with_the_events_index(stored) -> None:
    client = stored["client"]
    events = [
        {"event_id": "ok", "kind": "activity", "lead_id": "L1", "occurred_at": "2026-09-01T00:00:00Z",
         "activity_type": "demo_request"},
        {"event_id": "b1", "kind": "activity", "lead_id": "L1", "occurred_at": "last tuesday", "activity_type": "x"},
        {"event_id": "b2", "kind": "lead", "lead_id": "L2", "created_at": "2026-01-01", "employee_count": -5},
        {"event_id": "b3", "kind": "wish", "lead_id": "L3"},
        {"kind": "outcome", "lead_id": "L4"},
    ]
    answer = client.post("/events", json={"events": events})
    assert answer.status_code == 422
    fields = [p["field"] for p in answer.json()["problems"]]
    assert "events[3].kind" in fields and "events[4].event_id" in fields
    events = events[:3]
    answer = client.post("/events", json={"events": events})
    assert answer.status_code == 422
    problems = {p["field"]: p["message"] for p in answer.json()["problems"]}
    assert "events[1].occurred_at" in problems and "events[2].employee_count" in problems
    assert "events[0].occurred_at" not in problems
    assert stored["service"].store.counts()["events"] == stored["service"].store.counts()["events"]
    assert client.post("/events", content=b"{nope").status_code == 400
    nan = b'{"events": [{"event_id": NaN, "kind": "lead", "lead_id": "L9", "created_at": "2026-01-01", "bed_count": NaN}]}'
    assert client.post("/events", content=nan).status_code == 422
    assert client.post("/events", json={"events": []}).status_code == 422


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
                         lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                     max_size=5), max_leaves=20))
def test_any_events_body_gives_an_answer_or_a_clear_error(stored, body) -> None:
    answer = stored["client"].post("/events", json={"events": body if isinstance(body, list) else [body]})
    assert answer.status_code in (200, 422), answer.text
    if answer.status_code == 422:
        assert answer.json()["problems"]


def test_check_events_names_the_stored_leads_creation_for_outcomes() -> None:
    created = {"L1": pd.Timestamp("2026-05-01", tz="UTC")}
    with pytest.raises(EventsRejected) as caught:
        check_events([{"event_id": "o", "kind": "outcome", "lead_id": "L1", "sql_at": "2026-04-01"}], StoreConfig(),
                     created)
    assert caught.value.problems[0][0] == "events[0].sql_at"


# -- hand-offs ------------------------------------------------------------------------------------


def test_decay_hands_off_down_at_mql_until_by_the_clock_alone(stored) -> None:
    service, clock = stored["service"], stored["clock"]
    mqls = [m for m in _mqls(service) if m["mql_until"]]
    lead = min(mqls, key=lambda m: m["mql_until"])
    until = pd.Timestamp(lead["mql_until"])
    start = service.store.last_cursor()
    clock.set(until - pd.Timedelta(minutes=1))
    service.scorer.tick()
    assert [h for h in service.store.handoffs_after(start, 100) if h["lead_id"] == lead["lead_id"]] == []
    clock.set(until + pd.Timedelta(seconds=30))
    service.scorer.tick()
    down = [h for h in service.store.handoffs_after(start, 100) if h["lead_id"] == lead["lead_id"]]
    assert len(down) == 1 and down[0]["direction"] == "down" and down[0]["cause"] == "decay"
    assert abs(stamp(down[0]["at"]) - until) <= pd.Timedelta(minutes=1)
    assert down[0]["score"] < service.engine.info()["threshold"]["score"] + 1e-9 or not down[0]["tier"] == "A"
    # Recorded once: nothing more on the next passes.
    clock.advance("1D")
    service.scorer.tick()
    assert len([h for h in service.store.handoffs_after(start, 100) if h["lead_id"] == lead["lead_id"]]) == 1
    assert stored["client"].get(f"/leads/{lead['lead_id']}").json()["is_mql"] is False


def test_a_demo_request_hands_off_up_and_mql_until_follows(stored) -> None:
    client, service, clock = stored["client"], stored["service"], stored["clock"]
    lead = _open_non_mql(service)
    now = clock.now()
    kinds = ["demo_request", "contact_sales", "baa_request", "security_review"]
    events = [{"event_id": f"up{k}", "kind": "activity", "lead_id": lead, "activity_type": kind,
               "occurred_at": (now - pd.Timedelta(minutes=10 - k)).isoformat()} for k, kind in enumerate(kinds)]
    start = service.store.last_cursor()
    assert client.post("/events", json={"events": events}).json()["accepted"] == 4
    service.scorer.tick()
    ups = [h for h in service.store.handoffs_after(start, 100) if h["lead_id"] == lead]
    assert [(h["direction"], h["cause"]) for h in ups] == [("up", "event")]
    got = client.get(f"/leads/{lead}").json()
    assert got["is_mql"] and got["mql_until"] is not None and got["mql_since"] is not None
    assert pd.Timestamp(got["mql_until"]) > now
    assert ups[0]["reasons"] and all(set(r) == {"signal", "group", "text", "points", "sign"} for r in ups[0]["reasons"])
    page = client.get("/handoffs", params={"after": start, "limit": 1}).json()
    assert page["handoffs"][0]["cursor"] == start + 1 and page["next_cursor"] == start + 1


def test_an_unsubscribe_can_hand_off_down_by_event(stored) -> None:
    client, service, clock = stored["client"], stored["service"], stored["clock"]
    mqls = sorted(_mqls(service), key=lambda m: m["score"])
    now = clock.now()
    start = service.store.last_cursor()
    events = [{"event_id": f"u-{m['lead_id']}", "kind": "activity", "lead_id": m["lead_id"],
               "activity_type": "unsubscribe", "occurred_at": (now - pd.Timedelta(minutes=1)).isoformat()}
              for m in mqls[:10]]
    client.post("/events", json={"events": events})
    service.scorer.tick()
    downs = service.store.handoffs_after(start, 100)
    for h in downs:
        assert (h["direction"], h["cause"]) == ("down", "event")
    lowered = [client.get(f"/leads/{m['lead_id']}").json()["score"] < m["score"] for m in mqls[:10]]
    assert any(lowered)


def test_a_new_model_rescored_against_the_store_hands_off_what_it_implies(stored, model: ScoringModel) -> None:
    service, clock = stored["service"], stored["clock"]
    stricter = replace(model, threshold=float(np.nextafter(1.0, 0)), metadata={**model.metadata, "model_version": "99"})
    mqls = len(_mqls(service))
    assert mqls > 0
    start = service.store.last_cursor()
    done = StoreScorer(service.store, stricter, clock).process_model_change()
    handed = service.store.handoffs_after(start, 10_000)
    assert done.down == mqls == len(handed) and done.up == 0
    assert {(h["direction"], h["cause"], h["model_version"]) for h in handed} == {("down", "model", "99")}
    said = json.loads(service.store.meta(MODEL_CHANGE_META))  # what `store status` and GET /model report
    assert (said["model"], said["handoffs"], said["down"]) == ("mql-svc:99", mqls, mqls)
    assert said["rescored"] == done.scored > 0
    assert StoreScorer(service.store, stricter, clock).process_model_change().scored == 0


# -- erasure --------------------------------------------------------------------------------------


def test_delete_leaves_nothing_of_the_lead_behind(stored) -> None:
    client, service, path = stored["client"], stored["service"], stored["path"]
    lead = _mqls(service)[0]["lead_id"]
    assert client.get(f"/leads/{lead}").status_code == 200
    assert client.delete(f"/leads/{lead}").status_code == 204
    assert set(service.store.lead_rows_anywhere(lead).values()) == {0}
    assert client.get(f"/leads/{lead}").status_code == 404
    assert client.delete(f"/leads/{lead}").status_code == 404
    service.store.close()
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    assert lead.encode() not in path.read_bytes()  # secure_delete: not even in free pages


# -- the schema ------------------------------------------------------------------------------------


def test_migrations_are_versioned_and_a_newer_store_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    first = LeadStore(url)
    assert first.migrated == list(range(1, LATEST_VERSION + 1))
    first.close()
    again = LeadStore(url)
    assert again.migrated == []
    again.db.run(lambda cur: cur.execute("INSERT INTO schema_version (version, description, applied_at) "
                                         "VALUES (?, 'from the future', 0)", (LATEST_VERSION + 1,)))
    again.close()
    with pytest.raises(NewerStore):
        LeadStore(url)


def test_a_scorer_killed_mid_batch_leaves_its_leads_to_another(stored, model: ScoringModel) -> None:
    service, clock = stored["service"], stored["clock"]
    store = LeadStore(f"sqlite:///{stored['path']}", StoreConfig(lease_seconds=0.2))
    lead = _open_non_mql(service)
    service.ingest([{"event_id": "k1", "kind": "activity", "lead_id": lead, "activity_type": "demo_request",
                     "occurred_at": (clock.now() - pd.Timedelta(minutes=5)).isoformat()}])
    taken = store.claim_changed(1000)  # this "worker" dies before saving
    assert lead in {t[0] for t in taken}
    assert StoreScorer(service.store, model, clock).process_changed().scored == 0  # leased
    import time

    time.sleep(0.3)
    assert StoreScorer(store, model, clock).tick().scored >= len(taken)
    assert service.store.states([lead])[lead].changed == 0
    assert micros(clock.now()) == service.store.states([lead])[lead].scored_at
    store.close()


def test_every_score_field_is_in_the_stored_leads_answer(stored) -> None:
    lead = _mqls(stored["service"])[0]["lead_id"]
    got = stored["client"].get(f"/leads/{lead}").json()
    assert set(SCORE_FIELDS) <= set(got) and {"mql_since", "mql_until", "state", "as_of"} <= set(got)


def test_the_stored_list_finds_ids_by_their_start(stored) -> None:
    service = stored["service"]
    lead = _mqls(service)[0]
    found = service.leads(lead["lead_id"][:-1], False, 0, 500)["leads"]
    assert lead["lead_id"] in {row["lead_id"] for row in found}
    assert all(row["lead_id"].startswith(lead["lead_id"][:-1]) or (row["account_id"] or "").startswith(
        lead["lead_id"][:-1]) for row in found)
    assert service.leads("%", False, 0, 10)["total"] == 0  # a wildcard is a plain character
    assert service.leads(lead["account_id"], False, 0, 500)["total"] >= 1


def _wait_for(condition, seconds: float = 60.0, every: float = 0.2):
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {seconds:.0f} s")


def test_the_scorer_process_scores_new_events_and_is_restarted_when_killed(
        tmp_path: Path, scored_file: Path, service_store: Path, slice_300, monkeypatch) -> None:
    """As `mqlscore serve` runs it: the scorer in its own process (same model folder, same
    shifted clock), woken by events, started again by the worker when it dies."""
    import os
    import signal

    path = tmp_path / "leads.db"
    shutil.copy(scored_file, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("MQLSCORE_STORE", url)
    monkeypatch.setenv("MQLSCORE_STORE_CLOCK_FROM", slice_300.as_of.isoformat())
    engine = ScoringEngine.from_folder(service_store / "scoring_model")
    service = StoreService.open(engine, url).start("process")
    try:
        first = _wait_for(lambda: service.process.pid)
        _wait_for(lambda: service.store.meta("scorer_status"))  # loaded and running
        os.kill(first, signal.SIGKILL)
        second = _wait_for(lambda: service.process.pid not in (None, first) and service.process.pid)
        assert service.process.restarts == 1 and second != first
        lead = _open_non_mql(service)
        now = service.clock.now()
        kinds = ["demo_request", "contact_sales", "baa_request", "security_review"]
        start = service.store.last_cursor()
        answer = service.ingest([{"event_id": f"p{k}", "kind": "activity", "lead_id": lead, "activity_type": kind,
                                  "occurred_at": (now - pd.Timedelta(minutes=10 - k)).isoformat()}
                                 for k, kind in enumerate(kinds)])
        assert answer["accepted"] == 4
        _wait_for(lambda: service.store.states([lead])[lead].changed == 0)
        ups = [h for h in service.store.handoffs_after(start, 100) if h["lead_id"] == lead]
        assert [(h["direction"], h["cause"]) for h in ups] == [("up", "event")]
        assert service.status()["scorer_error"] is None
    finally:
        service.stop()
    assert service.process.pid is None  # stopped with the service
