"""POST /events under concurrency (issue 14's benchmark): requests that arrive while a
worker is writing are checked and written together, one contract pass and one
transaction, yet each request keeps its own answer: its own accepted and duplicate
counts, its own warnings, and a contract refusal naming only its own events. On
SQLite and on PostgreSQL (a real server started for the tests)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mqlscore.scoring import ScoringModel
from mqlscore.serving.engine import ScoringEngine
from mqlscore.serving.errors import RequestRejected
from mqlscore.serving.store_service import StoreService


@pytest.fixture(scope="module")
def engine(service_store: Path) -> ScoringEngine:
    return ScoringEngine(ScoringModel.load(service_store / "scoring_model"))


@pytest.fixture(params=["sqlite", "postgresql"])
def service(request: pytest.FixtureRequest, tmp_path: Path, engine: ScoringEngine):
    """A worker's store service on an empty store (no scorer running)."""
    url = f"sqlite:///{tmp_path / 'leads.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_db")
    opened = StoreService.open(engine, url)
    yield opened
    opened.stop()


def _activity(event_id: str, lead: str, hour: int, kind: str = "page_view") -> dict:
    return {"event_id": event_id, "kind": "activity", "lead_id": lead, "occurred_at": f"2026-09-01T{hour:02d}:00:00Z",
            "activity_type": kind, "detail": "/pricing"}


def _lead(event_id: str, lead: str, account: str = "ACC-1") -> dict:
    return {"event_id": event_id, "kind": "lead", "lead_id": lead, "created_at": "2026-08-01T00:00:00Z",
            "account_id": account, "org_type": "health_system", "job_title": "CISO"}


def _concurrently(service: StoreService, bodies: list[list[dict]]) -> tuple[list, int]:
    """POST the first body, and while it is being written the others (so they queue behind
    it); each body's answer or refusal, and how many write transactions there were."""
    calls, entered, release = [], threading.Event(), threading.Event()
    write = service.store.ingest_new

    def gated(batch, quiet=False):
        calls.append(len(batch))
        if len(calls) == 1:
            entered.set()
            release.wait(10)
        return write(batch, quiet)

    service.store.ingest_new = gated
    answers: list = [None] * len(bodies)

    def post(k: int) -> None:
        try:
            answers[k] = service.ingest(bodies[k])
        except RequestRejected as exc:
            answers[k] = exc

    threads = [threading.Thread(target=post, args=(0,))]
    threads[0].start()
    assert entered.wait(10)
    threads += [threading.Thread(target=post, args=(k,)) for k in range(1, len(bodies))]
    for t in threads[1:]:
        t.start()
    threading.Event().wait(0.5)  # the others are queued behind the first by now
    release.set()
    for t in threads:
        t.join(30)
    service.store.ingest_new = write
    return answers, len(calls)


def test_requests_queued_behind_a_write_are_written_together_each_with_its_own_counts(service) -> None:
    service.ingest([_lead("l1", "L1"), _activity("a0", "L1", 1)])
    bodies = [
        [_activity("a1", "L1", 2)],
        [_activity("a2", "L1", 3), _activity("a0", "L1", 1)],  # a0 was stored before
        [_activity("a3", "L1", 4), _activity("a3", "L1", 4)],  # twice in one request
        [_activity("a4", "L1", 5)],
        [_activity("a4", "L1", 5), _lead("l2", "L2")],  # a4 also in the request before
    ]
    answers, writes = _concurrently(service, bodies)
    assert writes == 2  # the first alone, the four queued behind it in one transaction
    assert [(a["accepted"], a["duplicates"]) for a in answers] == [(1, 0), (1, 1), (1, 1), (1, 0), (1, 1)]
    counts = service.store.counts()
    assert (counts["events"], counts["activities"], counts["leads"]) == (7, 5, 2)
    # Written again, one at a time, every event is a duplicate.
    again = [service.ingest(body) for body in bodies]
    assert [a["accepted"] for a in again] == [0] * len(bodies)


def test_a_refused_request_in_a_group_fails_alone_with_its_own_indices(service) -> None:
    bad = [_activity("b0", "L1", 1), {**_activity("b1", "L1", 2), "occurred_at": "last tuesday"}]
    bodies = [[_lead("l1", "L1")], [_activity("g1", "L1", 3)], bad, [_activity("g2", "L1", 4)]]
    answers, writes = _concurrently(service, bodies)
    assert isinstance(answers[2], RequestRejected) and answers[2].status == 422
    assert [p.field for p in answers[2].problems] == ["events[1].occurred_at"]
    assert [a["accepted"] for k, a in enumerate(answers) if k != 2] == [1, 1, 1]
    assert service.store.counts()["events"] == 3  # nothing of the refused request
    assert writes >= 2


def test_each_grouped_request_gets_its_own_warnings(service) -> None:
    odd = "g2_intent_surge"  # outside the canonical activity types: kept, with a warning
    bodies = [[_lead("l1", "L1")], [_activity("w1", "L1", 1, odd), _activity("w2", "L1", 2)],
              [_activity("w3", "L1", 3)], [_activity("w4", "L1", 4), _activity("w5", "L1", 5, odd)]]
    answers, writes = _concurrently(service, bodies)
    assert writes == 2
    alone = {k: service.ingest([{**e, "event_id": f"again-{e['event_id']}"} for e in bodies[k]])["warnings"]
             for k in (1, 3)}
    assert answers[1]["warnings"] == alone[1] and [w["field"] for w in alone[1]] == ["events[0].activity_type"]
    assert answers[3]["warnings"] == alone[3] and [w["field"] for w in alone[3]] == ["events[1].activity_type"]
    assert answers[2]["warnings"] == []


def test_two_outcomes_of_one_lead_in_one_batch_keep_the_earliest_of_each(service) -> None:
    answer = service.ingest([
        _lead("l1", "L1"),
        {"event_id": "o1", "kind": "outcome", "lead_id": "L1", "sql_at": "2026-09-05T00:00:00Z"},
        {"event_id": "o2", "kind": "outcome", "lead_id": "L1", "sql_at": "2026-09-03T00:00:00Z",
         "disqualified_at": "2026-09-20T00:00:00Z"},
    ])
    assert answer["accepted"] == 3
    _, _, outcomes = service.store.group_tables(["L1"])
    assert str(outcomes.loc[0, "sql_at"]) == "2026-09-03 00:00:00+00:00"
    assert str(outcomes.loc[0, "disqualified_at"]) == "2026-09-20 00:00:00+00:00"
