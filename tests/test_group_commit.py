"""The group commit of POST /events (mqlscore.serving.group_commit): requests that come
concurrently are written together, a sender posting one request after another is never
held back by the linger, every request gets its own answer, a failed write fails only
its group, and closing writes what is queued."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from mqlscore.config import StoreConfig
from mqlscore.serving.group_commit import GroupCommit


class Recorder:
    """A write_group that answers each request with its events' count and remembers the
    groups; the first write can be held until released."""

    def __init__(self, hold_first: bool = False, fail_on: str | None = None) -> None:
        self.groups: list[list[list[str]]] = []
        self.entered, self.release = threading.Event(), threading.Event()
        if not hold_first:
            self.release.set()
        self.fail_on = fail_on

    def __call__(self, requests: list[list[str]]) -> list:
        self.groups.append(requests)
        if len(self.groups) == 1:
            self.entered.set()
            self.release.wait(10)
        if self.fail_on is not None and any(self.fail_on in r for r in requests):
            raise OSError("the database went away")
        return [{"n": len(r), "first": r[0]} for r in requests]


def _commit(recorder: Recorder, **settings) -> GroupCommit:
    return GroupCommit(recorder, StoreConfig(**settings))


def _in_threads(commit: GroupCommit, bodies: list[list[str]]) -> list:
    answers: list = [None] * len(bodies)

    def post(k: int) -> None:
        try:
            answers[k] = commit.submit(bodies[k])
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            answers[k] = exc

    threads = [threading.Thread(target=post, args=(k,)) for k in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return answers


def _first_request_being_written(commit: GroupCommit, recorder: Recorder) -> threading.Thread:
    """Post request ``["a"]`` from a thread and wait until its write has begun."""
    first = threading.Thread(target=commit.submit, args=(["a"],))
    first.start()
    assert recorder.entered.wait(10)
    return first


def test_a_sender_posting_one_request_after_another_is_never_held_back_by_the_linger() -> None:
    recorder = Recorder()
    commit = _commit(recorder, group_linger_ms=1_000)
    started = time.monotonic()
    answers = [commit.submit([f"e{k}"]) for k in range(5)]
    took = time.monotonic() - started
    commit.close()
    assert answers == [{"n": 1, "first": f"e{k}"} for k in range(5)]
    assert [len(g) for g in recorder.groups] == [1] * 5
    assert took < 1.0, f"five sequential requests took {took:.2f} s: they waited for others"


def test_requests_that_come_while_one_is_written_are_written_together_with_their_own_answers() -> None:
    recorder = Recorder(hold_first=True)
    commit = _commit(recorder, group_linger_ms=0)
    first = _first_request_being_written(commit, recorder)
    bodies = [["b1", "b2"], ["c"], ["d1", "d2", "d3"]]
    done: list = []
    waiting = threading.Thread(target=lambda: done.extend(_in_threads(commit, bodies)))
    waiting.start()
    time.sleep(0.3)  # all three queued behind the held write
    recorder.release.set()
    waiting.join(30)
    first.join(30)
    commit.close()
    assert [len(g) for g in recorder.groups] == [1, 3]
    assert done == [{"n": 2, "first": "b1"}, {"n": 1, "first": "c"}, {"n": 3, "first": "d1"}]


def test_a_concurrent_stream_is_grouped_up_to_the_target_and_never_waits_longer_than_the_linger() -> None:
    recorder = Recorder(hold_first=True)
    commit = _commit(recorder, group_linger_ms=300, group_target_events=3)
    first = _first_request_being_written(commit, recorder)
    recorder.release.set()
    # Two requests while one is in flight: short of the target, they wait for the linger.
    answers: list = []
    started = time.monotonic()
    posting = threading.Thread(target=lambda: answers.extend(_in_threads(commit, [["b"], ["c"]])))
    posting.start()
    posting.join(30)
    first.join(30)
    waited = time.monotonic() - started
    commit.close()
    assert sorted(a["first"] for a in answers) == ["b", "c"]
    assert waited < 5, f"waited {waited:.1f} s for a linger of 0.3 s"
    sizes = [len(g) for g in recorder.groups]
    assert sizes[0] == 1 and sum(sizes) == 3


def test_a_full_group_is_written_without_waiting_out_the_linger() -> None:
    recorder = Recorder(hold_first=True)
    commit = _commit(recorder, group_linger_ms=1_000, group_target_events=4)
    first = _first_request_being_written(commit, recorder)
    recorder.release.set()
    started = time.monotonic()
    answers = _in_threads(commit, [["b1", "b2"], ["c1", "c2"]])
    first.join(30)
    commit.close()
    assert time.monotonic() - started < 0.9, "a full group waited for the linger"
    assert sorted(a["first"] for a in answers) == ["b1", "c1"]


def test_a_failed_write_fails_its_own_group_and_the_writer_goes_on() -> None:
    recorder = Recorder(fail_on="boom")
    commit = _commit(recorder)
    with pytest.raises(OSError, match="went away"):
        commit.submit(["boom"])
    assert commit.submit(["fine"]) == {"n": 1, "first": "fine"}
    commit.close()


def test_requests_from_the_event_loop_wait_without_a_thread_and_get_their_answers() -> None:
    recorder = Recorder()
    commit = _commit(recorder, group_linger_ms=5)

    async def main() -> list:
        return await asyncio.gather(*(commit.submit_async([f"e{k}", "x"]) for k in range(20)))

    answers = asyncio.run(main())
    commit.close()
    assert answers == [{"n": 2, "first": f"e{k}"} for k in range(20)]
    assert sum(len(g) for g in recorder.groups) == 20
    assert len(recorder.groups) < 20  # they came together and were written together


def test_an_answer_whose_client_went_away_is_dropped_and_the_others_still_come() -> None:
    recorder = Recorder(hold_first=True)
    commit = _commit(recorder, group_linger_ms=0)

    async def main() -> dict:
        gone = asyncio.ensure_future(commit.submit_async(["gone"]))
        await asyncio.sleep(0.05)
        gone.cancel()
        recorder.release.set()
        return await commit.submit_async(["stays"])

    assert asyncio.run(main()) == {"n": 1, "first": "stays"}
    commit.close()


def test_closing_writes_what_is_queued_then_refuses_more() -> None:
    recorder = Recorder(hold_first=True)
    commit = _commit(recorder, group_linger_ms=0)
    answers: list = []
    posting = threading.Thread(target=lambda: answers.extend(_in_threads(commit, [["a"], ["b"], ["c"]])))
    posting.start()
    assert recorder.entered.wait(10)
    time.sleep(0.2)
    closing = threading.Thread(target=commit.close)
    closing.start()
    recorder.release.set()
    posting.join(30)
    closing.join(30)
    assert sorted(a["first"] for a in answers) == ["a", "b", "c"]
    with pytest.raises(RuntimeError, match="closing"):
        commit.submit(["late"])
