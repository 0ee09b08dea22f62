"""The guard in process, without a model: route labels instead of paths (log lines
that cannot be forged, metrics labels that stay few), text from a request escaped,
and bodies that stall or trickle cut off with 408.

The same behaviours over a real server: ``test_service_http.py``."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from support import KEY

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


async def _echo(scope: dict, receive, send) -> None:
    """A tiny app behind the guard: answers 200 with the size of the body it got."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    data = str(len(body)).encode()
    headers = [(b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def _guard(**options):
    from mqlscore.config import ServiceConfig
    from mqlscore.serving.auth import ApiKeyAuth
    from mqlscore.serving.guard import GuardMiddleware

    return GuardMiddleware(_echo, auth=ApiKeyAuth(KEY.encode()), config=ServiceConfig(), **options)


@pytest.mark.parametrize("path,label", [
    ("/score", "/score"), ("/model", "/model"), ("/ui", "/ui"), ("/ui/api/scores", "/ui/api/scores"),
    ("/ui/login", "/ui/login"), ("/ui/static/leadcard.js", "/ui/static/{name}"),
    ("/ui/static/anything-at-all", "/ui/static/{name}"), ("/metrics", "/metrics"), ("/readyz", "/readyz"),
    ("/docs.json", "/docs.json"), ("/static_content/swagger-ui.css", "/static_content/{path}"),
    ("/score/", "other"), ("/ui/", "other"), ("/wp-admin.php", "other"), ("/a\nb", "other"),
    ("/jane.doe@example.org", "other"), ("", "other"),
])
def test_route_labels_are_a_small_fixed_set(path: str, label: str) -> None:
    from mqlscore.serving.labels import route_label

    assert route_label(path) == label


def test_text_from_a_request_is_escaped_for_the_log() -> None:
    from mqlscore.serving.context import safe

    assert safe("POST") == "POST" and safe(True) == "True" and safe(12) == "12"
    assert safe("a\nb\r c\u2028d\x00") == "a\\x0ab\\x0d\\x20c\\u2028d\\x00"
    assert len(safe("x" * 10_000)) < 200


def test_a_path_cannot_forge_a_log_line(caplog) -> None:
    from starlette.testclient import TestClient

    path = "/x%0aINJECTED%20request_id=forged%0d%0a/jane.doe%40example-clinic.org"
    client = TestClient(_guard())
    with caplog.at_level(logging.INFO, logger="mqlscore.service"):
        for request_id, headers in (("guard-1", {}), ("guard-2", {"Authorization": f"Bearer {KEY}"})):
            r = client.get(path, headers={"X-Request-ID": request_id, **headers})
            assert r.status_code in (200, 401)
    lines = [r.getMessage() for r in caplog.records if r.name == "mqlscore.service"]
    for request_id in ("guard-1", "guard-2"):
        (line,) = [ln for ln in lines if f"request_id={request_id} " in ln]
        assert " path=other " in line and "\n" not in line and "\r" not in line
    text = "\n".join(lines)
    assert "INJECTED" not in text and "jane.doe" not in text and "example-clinic" not in text


def _call(guard, scope: dict, chunks: list[tuple[float, bytes, bool]], deadline: float = 10.0) -> tuple[list, float]:
    """Send a request whose body arrives as ``(delay, bytes, more)`` chunks; the messages
    the guard sent back and the seconds it took (the test fails instead of hanging)."""
    sent: list[dict] = []

    async def run() -> None:
        queue = list(chunks)

        async def receive() -> dict:
            if not queue:
                await asyncio.sleep(3600)  # a client that never sends the rest
            delay, data, more = queue.pop(0)
            await asyncio.sleep(delay)
            return {"type": "http.request", "body": data, "more_body": more}

        async def send(message: dict) -> None:
            sent.append(message)

        await guard(scope, receive, send)

    t0 = time.monotonic()
    asyncio.run(asyncio.wait_for(run(), deadline))
    return sent, time.monotonic() - t0


def _post_scope(length: int) -> dict:
    return {"type": "http", "method": "POST", "path": "/score", "query_string": b"",
            "headers": [(b"authorization", f"Bearer {KEY}".encode()), (b"content-length", str(length).encode())]}


def test_a_body_that_stalls_is_cut_off_with_408() -> None:
    guard = _guard(body_idle_seconds=0.3, body_total_seconds=5)
    sent, seconds = _call(guard, _post_scope(100), [(0, b'{"leads": [', True)])
    start = sent[0]
    assert start["status"] == 408 and (b"connection", b"close") in start["headers"]
    assert b"too slow" in sent[1]["body"] and 0.3 <= seconds < 2


def test_a_body_that_trickles_is_cut_off_with_408() -> None:
    guard = _guard(body_idle_seconds=0.5, body_total_seconds=1.0)
    trickle = [(0.2, b"x", True)] * 40  # never idle for long, never done
    sent, seconds = _call(guard, _post_scope(100), trickle)
    assert sent[0]["status"] == 408 and 1.0 <= seconds < 2.5


def test_a_prompt_body_is_read_whole() -> None:
    guard = _guard(body_idle_seconds=0.5, body_total_seconds=1.0)
    sent, _ = _call(guard, _post_scope(6), [(0.1, b"abc", True), (0.1, b"def", False)])
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"6"
