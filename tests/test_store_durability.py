"""The lead store under concurrency and crashes (issue 14): two workers writing
events for one account at once lose nothing; a worker killed in the middle of a
batch loses no acknowledged event and duplicates none. On PostgreSQL (a real
server started for the tests) and on SQLite."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import event_batches

from mqlscore.config import StoreConfig
from mqlscore.store import LeadStore
from mqlscore.store.events import check_events

TESTS = Path(__file__).parent
WRITER = """
import sys
sys.path.insert(0, {tests!r})
from support import event_batches
from mqlscore.config import StoreConfig
from mqlscore.store import LeadStore
from mqlscore.store.events import check_events
store = LeadStore({url!r})
config = StoreConfig()
for n, batch in enumerate(event_batches({batches}, {size}, prefix={prefix!r})):
    accepted, duplicates = store.ingest(check_events(batch, config, store.created_of(e["lead_id"] for e in batch)))
    print("ACK", n, accepted, duplicates, flush=True)
"""


def _writer(url: str, prefix: str, batches: int, size: int) -> subprocess.Popen:
    code = WRITER.format(tests=str(TESTS), url=url, batches=batches, size=size, prefix=prefix)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'leads.db'}"
    return request.getfixturevalue("postgres_db")


def _event_ids(store: LeadStore) -> list[str]:
    with store.db.transaction() as cur:
        cur.execute("SELECT event_id FROM events")
        return [r[0] for r in cur.fetchall()]


def test_two_workers_writing_one_account_at_once_lose_nothing(store_url: str) -> None:
    LeadStore(store_url).close()  # migrate once before the race
    writers = [_writer(store_url, prefix, 40, 25) for prefix in ("a", "b")]
    outputs = [w.communicate(timeout=300) for w in writers]
    for w, (out, err) in zip(writers, outputs):
        assert w.returncode == 0, err[-2000:]
        assert out.count("ACK") == 40
    store = LeadStore(store_url)
    expected = {e["event_id"] for p in ("a", "b") for b in event_batches(40, 25, prefix=p) for e in b}
    ids = _event_ids(store)
    assert len(ids) == len(set(ids)) == len(expected) and set(ids) == expected
    counts = store.counts()
    assert counts["leads"] == sum(e["kind"] == "lead" for p in ("a", "b") for b in event_batches(40, 25, prefix=p)
                                  for e in b)
    assert counts["activities"] == len(expected) - counts["leads"]
    # Every lead of the shared account is marked for scoring: nothing slipped between the writers.
    with store.db.transaction() as cur:
        cur.execute("SELECT COUNT(*) FROM lead_state WHERE changed > 0")
        assert cur.fetchone()[0] == counts["leads"]
    store.close()


def test_a_worker_killed_mid_batch_loses_no_acknowledged_event_and_duplicates_none(store_url: str) -> None:
    LeadStore(store_url).close()
    writer = _writer(store_url, "k", 60, 400)
    acked: list[int] = []
    deadline = time.monotonic() + 120
    while len(acked) < 3 and time.monotonic() < deadline:
        line = writer.stdout.readline()
        if line.startswith("ACK"):
            acked.append(int(line.split()[1]))
    time.sleep(0.05)  # into the next batch's transaction
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    acked += [int(line.split()[1]) for line in writer.stdout.read().splitlines() if line.startswith("ACK")]
    assert len(acked) >= 3 and writer.returncode == -signal.SIGKILL
    batches = event_batches(60, 400, prefix="k")
    store = LeadStore(store_url)
    stored = set(_event_ids(store))
    for n in acked:  # every acknowledged event is there
        assert {e["event_id"] for e in batches[n]} <= stored
    # The sender retries what was not acknowledged, and replays the rest: nothing twice.
    config = StoreConfig()
    for n, batch in enumerate(batches[:max(acked) + 3]):
        accepted, duplicates = store.ingest(check_events(batch, config, store.created_of(e["lead_id"] for e in batch)))
        if n in acked:
            assert (accepted, duplicates) == (0, len(batch))
        else:
            assert accepted + duplicates == len(batch)
    ids = _event_ids(store)
    assert len(ids) == len(set(ids)) == len({e["event_id"] for b in batches[:max(acked) + 3] for e in b})
    store.close()
