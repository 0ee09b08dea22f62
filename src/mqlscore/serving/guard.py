"""The ASGI guard in front of every route of the service.

- a request id (the caller's ``X-Request-ID`` when sane, else a new one),
  returned in ``X-Request-ID`` and written in the log line;
- 401 without a valid API key, except on the open health, metrics and API
  description routes; under ``/ui`` the lead card's session cookie also counts,
  and a browser without either gets the sign-in page;
- 413 when the body is larger than ``max_body_bytes``; 408 (and the connection
  closed) when it stalls or comes too slowly (``serving.timeouts``);
- BentoML's 400 for a body that does not match the schema, reshaped into the
  service's error shape (``problems`` with a ``field`` path each);
- one log line per request: id, method, route (``serving.labels``: never the path
  as sent), status, milliseconds and counts of leads and activities; never a value
  from the body, and nothing from the request that could break the line.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from mqlscore.config import ServiceConfig
from mqlscore.serving import context
from mqlscore.serving.auth import AUTH_SCOPE_KEY, SESSION_COOKIE, SESSIONS_SCOPE_KEY, ApiKeyAuth, page_marked
from mqlscore.serving.context import logger, safe
from mqlscore.serving.errors import FieldProblem, RequestRejected, schema_rejection, unauthorised
from mqlscore.serving.labels import route_label
from mqlscore.serving.leadcard import UI_PREFIX, UI_SIGN_IN_PATHS, refuse, request_is_secure, session_cookie
from mqlscore.serving.sessions import LeadCardSessions, Session, SessionStore, SessionStoreError, lead_card_config
from mqlscore.serving.startup import active_config, announce_dev_mode
from mqlscore.serving.timeouts import BODY_IDLE_SECONDS, BODY_TOTAL_SECONDS

# Open without a key: liveness, readiness, Prometheus metrics and the API's description
# (schema, OpenAPI, Swagger UI). Scoring and the model need one; so does anything else.
HEALTH_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/metrics"})
OPEN_PATHS = HEALTH_PATHS | {"/", "/schema.json", "/docs.json"}
OPEN_PREFIXES = ("/static_content/", "/assets/")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_BODY_METHODS = ("POST", "PUT", "PATCH")


class BodyTimeout(Exception):
    """The request body stalled or came too slowly."""


class GuardMiddleware:
    """Pure ASGI middleware: request id, API key, body size and time, error shape, one log line.

    ``sessions`` keeps the lead card's sign-in sessions (default: made from the key,
    the shared session file and the service's ``lead_card`` settings at first use);
    ``body_idle_seconds`` and ``body_total_seconds`` bound how long a body may take."""

    def __init__(self, app: Any, auth: ApiKeyAuth | None = None, config: ServiceConfig | None = None,
                 log_open_paths: bool = False, sessions: LeadCardSessions | None = None,
                 body_idle_seconds: float = BODY_IDLE_SECONDS, body_total_seconds: float = BODY_TOTAL_SECONDS) -> None:
        self.app = app
        self.auth = auth if auth is not None else ApiKeyAuth.from_env()
        self._config = config
        self._sessions = sessions
        self.log_open_paths = log_open_paths
        self.body_idle_seconds = body_idle_seconds
        self.body_total_seconds = body_total_seconds
        if not self.auth.enabled:
            announce_dev_mode()

    @property
    def config(self) -> ServiceConfig:
        """The limits: as given, else those of the loaded model's service settings."""
        return self._config if self._config is not None else active_config()

    @property
    def sessions(self) -> LeadCardSessions | None:
        """The lead card's session keeper (None with authentication off)."""
        if self._sessions is None and self.auth.enabled:
            self._sessions = LeadCardSessions(self.auth.key, SessionStore.from_env(), lead_card_config(self.config))
        return self._sessions

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path = scope.get("path", "")
        headers = list(scope.get("headers", []))
        given = next((v for k, v in headers if k.lower() == b"x-request-id"), b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        record, token = context.begin(request_id)
        status = {"code": 0}
        id_header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message = {**message, "headers": [*message.get("headers", []), id_header]}
            await send(message)

        is_open = path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)
        try:
            await self._route(scope, receive, send_with_id, path, headers, is_open, request_id, record)
        finally:
            context.end(token)
            if not is_open or self.log_open_paths:
                ms = (time.perf_counter() - start) * 1000
                counts = " ".join(f"{k}={safe(v)}" for k, v in record.counts.items())
                # The route, never the path as sent: a path is the caller's text (a %0a would
                # start a forged line, an email in a URL would land in the log).
                logger.info("request_id=%s method=%s path=%s status=%s ms=%.1f %s", request_id,
                            safe(scope.get("method")), route_label(path), status["code"], ms, counts)

    async def _route(self, scope: dict, receive: Callable, send: Callable, path: str, headers: list,
                     is_open: bool, request_id: str, record: context.RequestLog) -> None:
        method = scope.get("method")
        if is_open and method in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        is_ui = path == UI_PREFIX or path.startswith(UI_PREFIX + "/")
        if is_ui:
            scope[AUTH_SCOPE_KEY] = self.auth  # the sign-in routes check the key against this one
            scope[SESSIONS_SCOPE_KEY] = self.sessions  # ... and issue and revoke sessions with this
        allowed = self.auth.allows(headers) or path in UI_SIGN_IN_PATHS
        if not allowed and is_ui:
            session = self._session(headers)
            allowed = session is not None and page_marked(headers, method)
            if allowed and self.sessions.needs_renewal(session):  # in use: its idle clock starts again
                cookie = session_cookie(self.sessions.renewed(session), request_is_secure(scope))
                send = _with_header(send, (b"set-cookie", cookie.encode("latin-1")))
        if not allowed:
            if is_ui:
                await refuse(scope, receive, send, request_id)
                return
            refusal = unauthorised("missing or invalid API key: send 'Authorization: Bearer <key>' or "
                                   "'X-API-Key: <key>'")
            await send_json(send, 401, refusal.body(request_id), [(b"www-authenticate", b"Bearer")])
            return
        if method not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        limit = self.config.max_body_bytes
        try:
            body = await read_body(scope, receive, limit, self.body_idle_seconds, self.body_total_seconds)
        except BodyTimeout:
            record.counts["timed_out"] = True
            refusal = RequestRejected(408, f"request body not received within {self.body_total_seconds:g} s "
                                      f"(or stalled for {self.body_idle_seconds:g} s)",
                                      [FieldProblem("body", "too slow; send the whole body at once")])
            await send_json(send, 408, refusal.body(request_id), [(b"connection", b"close")])
            return
        if body is None:
            record.counts["too_large"] = True
            refusal = RequestRejected(413, f"request body larger than {limit:,} bytes",
                                      [FieldProblem("body", "too large; split the leads over several requests")])
            await send_json(send, 413, refusal.body(request_id))
            return
        record.counts["bytes"] = len(body)
        await self.app(scope, _replay(body, receive), send if is_ui else _reshape_400(send, request_id))

    def _session(self, headers: list) -> Session | None:
        """The valid lead card session of the request's cookie, if any (None also when
        the shared session file cannot be read: such a request has to sign in again)."""
        sessions = self.sessions
        if sessions is None:  # authentication off: the key check already let everything in
            return None
        try:
            return sessions.check_cookies(headers, SESSION_COOKIE)
        except SessionStoreError as exc:
            logger.error("lead card sessions unavailable: %s", exc)
            return None


def _with_header(send: Callable, header: tuple[bytes, bytes]) -> Callable:
    """``send`` adding ``header`` to the response."""

    async def sending(message: dict) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), header]}
        await send(message)

    return sending


async def send_json(send: Callable, status: int, body: dict,
                    headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Send a whole JSON response through a raw ASGI ``send``."""
    data = json.dumps(body).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": data})


async def read_body(scope: dict, receive: Callable, limit: int, idle_seconds: float = BODY_IDLE_SECONDS,
                    total_seconds: float = BODY_TOTAL_SECONDS) -> bytes | None:
    """The whole body, or None as soon as it is known to exceed ``limit``; raises
    BodyTimeout when no part of it comes for ``idle_seconds`` or it is not complete
    after ``total_seconds`` (a client trickling its body holds a worker's slot)."""
    deadline = time.monotonic() + total_seconds
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                if int(value) > limit:
                    return None
            except ValueError:
                pass
    chunks: list[bytes] = []
    size = 0
    while True:
        wait = min(idle_seconds, deadline - time.monotonic())
        if wait <= 0:
            raise BodyTimeout
        try:
            message = await asyncio.wait_for(receive(), wait)
        except asyncio.TimeoutError:
            raise BodyTimeout from None
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Callable) -> Callable:
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _reshape_400(send: Callable, request_id: str) -> Callable:
    """Turn BentoML's schema-validation 400 (pydantic's ``detail`` list) into the
    service's error shape."""
    held: dict[str, Any] = {}

    async def reshaping_send(message: dict) -> None:
        if message["type"] == "http.response.start" and message["status"] == 400:
            held["start"] = message
            held["body"] = b""
            return
        if "start" not in held:
            await send(message)
            return
        held["body"] += message.get("body", b"")
        if message.get("more_body", False):
            return
        start = held["start"]
        body = held["body"]
        try:
            data = json.loads(body or b"{}")
            if isinstance(data, dict) and isinstance(data.get("detail"), list):  # BentoML's, not ours
                body = json.dumps(schema_rejection(data["detail"]).body(request_id)).encode("utf-8")
        except ValueError:
            pass
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return reshaping_send
