"""The lead card: a small page for marketers, served by the scoring service at ``/ui``.

A marketer picks a lead from a scored file (``mqlscore score --out``, or the
file the service was started with: ``mqlscore serve --scores FILE``) or pastes
one as JSON, and reads its score, tier, MQL flag, probability, fit against
intent, the reasons with their points and a waterfall from the base score to
the final one. With a lead store (``mqlscore serve --store``) the page also
lists the stored leads and draws a picked lead's score through time (the
threshold, its activities, now, the decay ahead to ``mql_until``) and its
hand-offs. The page is plain HTML, CSS and JavaScript shipped inside the
package (``mqlscore/static/``): no build step, no CDN, nothing fetched from
elsewhere.

Routes (mounted beside ``GET /model`` by ``serving.routes.model_routes``):

- ``GET /ui`` the page; ``GET /ui/static/<file>`` its script and style sheet;
- ``POST /ui/login`` / ``POST /ui/logout`` sign in with the API key / sign out;
- ``GET /ui/api/model`` the served model's name, version, tiers and threshold;
- ``POST /ui/api/score`` the same body and answer as ``POST /score``;
- ``GET /ui/api/scores`` a page of the preloaded scored file (``MQLSCORE_UI_SCORES``);
- ``POST /ui/api/scores`` a page of a scored file (CSV or Parquet bytes) sent with the request.
- ``GET /ui/api/stored`` and ``GET /ui/api/stored/{lead_id}/timeline``: stored leads and a
  lead's timeline (``serving.store_routes``; 404 naming the field ``store`` without a store,
  which the page explains).

Authentication stays in ``serving.guard.GuardMiddleware``: a browser cannot send
the API key header when it navigates, so after signing in with the key the page
holds a session cookie (a signed random session id that expires and can be signed
out on every worker; never the key itself; see ``serving.sessions``) that is
accepted under ``/ui`` only. Without it the guard answers with :func:`refuse`
(the sign-in page, 401).

Scored files opened from the page are read within bounds fixed before anything
is decoded (rows, bytes once decompressed: ``serving.uploads``) and answered a
page at a time; the service keeps nothing, so the page sends the file again for
the next page.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import math
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import numpy as np
import pandas as pd

from mqlscore.contract.schema import SCORE_FIELDS, SCORE_FILE_COLUMNS
from mqlscore.serving import context
from mqlscore.serving.auth import AUTH_SCOPE_KEY, SESSION_COOKIE, SESSIONS_SCOPE_KEY, ApiKeyAuth
from mqlscore.serving.errors import FieldProblem, RequestRejected, schema_rejection, unauthorised
from mqlscore.serving.sessions import LeadCardSessions, SessionStore, SessionStoreError, lead_card_config
from mqlscore.serving.uploads import UploadRejected, csv_columns, parquet_columns

if TYPE_CHECKING:
    from mqlscore.serving.engine import ScoringEngine

UI_SCORES_ENV = "MQLSCORE_UI_SCORES"  # a scored file the page lists at start (`mqlscore serve --scores`)
UI_PREFIX = "/ui"
UI_SIGN_IN_PATHS = frozenset({UI_PREFIX + "/login", UI_PREFIX + "/logout"})  # open: they take the key
UI_STATIC_PREFIX = UI_PREFIX + "/static/"
UI_ROUTE_PATHS = (UI_PREFIX, *sorted(UI_SIGN_IN_PATHS), UI_PREFIX + "/api/model", UI_PREFIX + "/api/score",
                  UI_PREFIX + "/api/scores")  # with UI_STATIC_PREFIX + "{name}": every route of the page
STATIC_FILES = {"leadcard.css": "text/css; charset=utf-8", "leadcard.js": "text/javascript; charset=utf-8"}
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200  # with the caps below, a page's JSON stays under about 2 MB
MAX_REASONS = 12  # reasons shown per lead of a file (the model gives 5)
MAX_TEXT = 300  # characters of a text cell or a reason's text shown

# Of the columns `mqlscore score` writes, the score's own fields make a scored file;
# the others are shown when present (the reasons from their JSON, not their text).
REQUIRED_COLUMNS = SCORE_FIELDS
OPTIONAL_COLUMNS = tuple(c for c in SCORE_FILE_COLUMNS if c not in SCORE_FIELDS and c != "reasons_text")
_NUMBERS = ("probability", "score", "base_points", "fit_points", "intent_points")
_TEXTS = ("lead_id", "as_of", "tier", "model_name", "model_version")


# ---------------------------------------------------------------------------
# Scored files
# ---------------------------------------------------------------------------


class ScoresFileError(ValueError):
    """A file that is not a readable scored file; the message says why, plainly (422)."""

    status = 422


class ScoresFileTooLarge(ScoresFileError):
    """A scored file over one of the lead card's bounds (rows, decoded bytes): 413."""

    status = 413


def read_scores(data: bytes, name: str = "the file", max_rows: int | None = None,
                max_decoded_bytes: int | None = None) -> pd.DataFrame:
    """Read a scored file (CSV or Parquet, told apart by Parquet's magic bytes) into
    a frame of the known columns, or raise ScoresFileError naming what is missing
    (ScoresFileTooLarge naming the bound, checked before the file is decoded:
    ``max_rows`` rows, ``max_decoded_bytes`` bytes once decompressed; None: none).

    Only the score file's own columns are read: any other column (an email, a
    name) that someone added to the file never reaches the page."""
    if not data:
        raise ScoresFileError(f"{name} is empty")
    wanted = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    try:
        if data[:4] == b"PAR1":
            names, frame = parquet_columns(data, wanted, max_rows, max_decoded_bytes, name)
        else:
            # Everything as text first: lead ids like "007" or "NA" stay as written.
            names, frame = csv_columns(data, wanted, max_rows, name)
    except UploadRejected as exc:
        if exc.too_large:
            raise ScoresFileTooLarge(f"{exc} (for bigger files: mqlscore serve --scores FILE)") from None
        raise ScoresFileError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - pandas and pyarrow raise many types for a bad file
        raise ScoresFileError(f"{name} is neither a CSV nor a Parquet file that can be read "
                              f"({type(exc).__name__})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        listed = ", ".join(f"'{c}'" for c in missing)
        raise ScoresFileError(f"{name} is not a scored file: no column {listed} (a file written by "
                              f"'mqlscore score --out' has {', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)})")
    frame = frame.loc[:, ~frame.columns.duplicated()]
    out = pd.DataFrame(index=frame.index)
    for column in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
        if column not in frame.columns:
            continue
        values = frame[column]
        if column in _NUMBERS:
            values = pd.to_numeric(values, errors="coerce").astype("float64")
        elif column in ("is_mql", *_TEXTS):  # Python objects, None when missing (never a float NaN)
            convert = _truth if column == "is_mql" else _text
            values = pd.Series([convert(v) for v in values.tolist()], index=values.index, dtype=object)
        out[column] = values
    bad = out["score"].isna() | out["lead_id"].isna()
    if bad.all():
        raise ScoresFileError(f"{name} has no row with both a lead_id and a score")
    return out[~bad].reset_index(drop=True)


def _truth(value: Any) -> bool | None:
    if isinstance(value, (bool, int, float)) and not (isinstance(value, float) and math.isnan(value)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "y", "t"):
        return True
    if text in ("false", "0", "no", "n", "f"):
        return False
    return None


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    text = str(value).strip()
    return _short(text, MAX_TEXT) or None


def _number(value: Any) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _reasons(text: Any) -> list[dict[str, Any]] | None:
    """The reasons of one row (``reasons_json``), keeping only the known keys, at most
    :data:`MAX_REASONS` of them with texts of at most :data:`MAX_TEXT` characters;
    None when the cell is empty or unreadable."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        items = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(items, list):
        return None
    out = []
    for item in items:
        if len(out) == MAX_REASONS:
            break
        if not isinstance(item, dict):
            continue
        try:
            points = float(item.get("points"))
        except (TypeError, ValueError):
            continue
        if not math.isfinite(points):
            continue
        group = "fit" if item.get("group") == "fit" else "intent"
        out.append({"signal": _short(str(item.get("signal", "")), MAX_TEXT), "group": group,
                    "text": _short(str(item.get("text", "")), MAX_TEXT), "points": points,
                    "sign": "+" if points >= 0 else "-"})
    return out


def _row_dicts(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of :func:`read_scores` as the page's JSON objects, in the frame's order."""
    columns = {c: frame[c].tolist() for c in frame.columns}
    rows = []
    for k in range(len(frame)):
        row: dict[str, Any] = {}
        for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
            value = columns[c][k] if c in columns else None
            if c in _NUMBERS:
                value = _number(value)
            if c == "reasons_json":
                row["reasons"] = _reasons(value)
            else:
                row[c] = value
        rows.append(row)
    return rows


def _by_score(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["score", "lead_id"], ascending=[False, True], kind="stable").reset_index(drop=True)


def score_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of :func:`read_scores` as the page's JSON objects, highest score first
    (ties by lead id), with the reasons parsed."""
    return _row_dicts(_by_score(frame))


@dataclass
class ScoresTable:
    """A scored file's rows, sorted by score (highest first, ties by lead id), paged
    and searched; a page's rows become JSON objects only when asked for."""

    source: str
    frame: pd.DataFrame

    @classmethod
    def from_bytes(cls, data: bytes, name: str, max_rows: int | None = None,
                   max_decoded_bytes: int | None = None) -> ScoresTable:
        """Read a scored file's bytes within the bounds (see :func:`read_scores`)."""
        return cls(name, _by_score(read_scores(data, name, max_rows, max_decoded_bytes)))

    @property
    def total(self) -> int:
        """How many rows the file has."""
        return len(self.frame)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Every row as the page's JSON objects, all at once (:meth:`page` makes only a page's)."""
        return _row_dicts(self.frame)

    def page(self, query: str = "", offset: int = 0, limit: int = PAGE_SIZE, order: str = "desc") -> dict[str, Any]:
        """One page of rows whose lead id contains ``query`` (any case), highest score
        first (``order="asc"``: lowest first); past the end, the last page."""
        q = query.strip().lower()
        if q:
            found = self.frame["lead_id"].str.lower().str.contains(q, regex=False).to_numpy(dtype=bool)
            positions = np.flatnonzero(found)
        else:
            positions = np.arange(len(self.frame))
        if order == "asc":
            positions = positions[::-1]
        limit = max(1, min(limit, MAX_PAGE_SIZE))
        last_page = (max(len(positions) - 1, 0) // limit) * limit
        offset = max(0, min(offset, last_page))
        rows = _row_dicts(self.frame.iloc[positions[offset:offset + limit]])
        return {"source": self.source, "total": self.total, "matched": int(len(positions)), "offset": offset,
                "limit": limit, "rows": rows}


_PRELOADED: dict[tuple[str, int, int], ScoresTable] = {}


def load_scores_file(path: str | Path) -> ScoresTable:
    """The scored file at ``path``, read once per version of the file (its size and
    modification time); OSError or ScoresFileError when it cannot be."""
    path = Path(path)
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _PRELOADED:
        table = ScoresTable.from_bytes(path.read_bytes(), path.name)
        _PRELOADED.clear()  # one preloaded file per process
        _PRELOADED[key] = table
    return _PRELOADED[key]


# ---------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------


@cache
def _static(name: str) -> bytes:
    return resources.files("mqlscore").joinpath("static", name).read_bytes()


@lru_cache(maxsize=1)
def _assets_version() -> str:
    """A digest of the page's files: their URLs change when they do, so browsers may cache them."""
    digest = hashlib.sha256()
    for name in ("leadcard.html", *STATIC_FILES):
        digest.update(_static(name))
    return digest.hexdigest()[:12]


# The page runs only its own files; nothing may frame it or take it elsewhere.
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
_SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                     "X-Frame-Options": "DENY", "Cache-Control": "no-store"}


def page_html() -> str:
    """The lead card page (``static/leadcard.html`` with its assets' version)."""
    return _static("leadcard.html").decode("utf-8").replace("__VERSION__", _assets_version())


def sign_in_html(message: str | None = None, nonce: str = "") -> str:
    """The sign-in page: one field for the API key, posted to ``/ui/login``."""
    note = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · mqlscore lead card</title>
<style nonce="{nonce}">
body{{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;background:#f4f6f9;color:#1d2733;
margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}}
main{{background:#fff;border:1px solid #d8dee6;border-radius:10px;padding:2rem 2.25rem;width:min(26rem,90vw);
box-shadow:0 2px 10px rgba(0,0,0,.05)}}
h1{{font-size:1.25rem;margin:0 0 .25rem}} p{{margin:.25rem 0 1rem;color:#4a5868}}
label{{display:block;font-weight:600;margin-bottom:.35rem}}
input{{width:100%;box-sizing:border-box;font:inherit;padding:.55rem .7rem;border:1px solid #b9c3cf;border-radius:6px}}
button{{margin-top:1rem;font:inherit;font-weight:600;padding:.55rem 1.2rem;border:0;border-radius:6px;background:#1f5fa8;
color:#fff;cursor:pointer}} .error{{color:#a61b1b;background:#fdecec;border-radius:6px;padding:.5rem .75rem}}
code{{font-size:.9em}}
</style></head>
<body><main>
<h1>mqlscore lead card</h1>
<p>Sign in with the service's API key (the value of <code>MQLSCORE_API_KEY</code>).</p>
{note}
<form method="post" action="/ui/login">
<label for="key">API key</label>
<input id="key" name="key" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
</form>
</main></body></html>
"""


def _sign_in_response(message: str | None, status: int = 401, headers: dict[str, str] | None = None) -> Any:
    from starlette.responses import HTMLResponse

    nonce = secrets.token_urlsafe(16)
    csp = (f"default-src 'none'; style-src 'nonce-{nonce}'; form-action 'self'; base-uri 'none'; "
           "frame-ancestors 'none'")
    return HTMLResponse(sign_in_html(message, nonce), status_code=status,
                        headers={**_SECURITY_HEADERS, "Content-Security-Policy": csp, **(headers or {})})


def session_cookie(value: str, secure: bool) -> str:
    """The ``Set-Cookie`` value of a lead card session: only under /ui, never readable
    by scripts, never sent from another site, ``Secure`` behind https. A browser
    session cookie: the service ends the session itself (see ``serving.sessions``)."""
    return (f"{SESSION_COOKIE}={value}; Path={UI_PREFIX}; HttpOnly; SameSite=Strict"
            + ("; Secure" if secure else ""))


def request_is_secure(scope: dict) -> bool:
    """True when the request came over https (directly, or through a TLS proxy that
    says so in ``X-Forwarded-Proto``)."""
    if scope.get("scheme") == "https":
        return True
    return any(k.lower() == b"x-forwarded-proto" and v.strip().lower() == b"https"
               for k, v in scope.get("headers", []))


async def refuse(scope: dict, receive: Callable, send: Callable, request_id: str) -> None:
    """The guard's answer to a ``/ui`` request without a valid key or session: the
    sign-in page for the page itself, a 401 in the service's error shape otherwise."""
    from starlette.responses import JSONResponse

    path = scope.get("path", "")
    if scope.get("method") in ("GET", "HEAD") and not path.startswith((UI_PREFIX + "/api/", UI_PREFIX + "/static/")):
        response = _sign_in_response(None)
    else:
        refusal = unauthorised("not signed in: open /ui and sign in with the API key, or send "
                               "'Authorization: Bearer <key>'")
        response = JSONResponse(refusal.body(request_id), status_code=refusal.status)
    await response(scope, receive, send)


# ---------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------


def _refusal(refusal: RequestRejected) -> Any:
    """A refusal as the service's error shape (``RequestRejected.body``)."""
    from starlette.responses import JSONResponse

    return JSONResponse(refusal.body(context.request_id()), status_code=refusal.status)


def _problem(status: int, error: str, field: str, message: str) -> Any:
    """The service's error shape for one problem."""
    return _refusal(RequestRejected(status, error, [FieldProblem(field, message)]))


def _json(request: Any, data: Any) -> Any:
    """JSON, gzipped when large and the browser takes it: a 10,000-lead file's rows
    (reasons repeat a lot) shrink about tenfold."""
    from starlette.responses import Response

    body = json.dumps(data, separators=(",", ":"), allow_nan=False).encode("utf-8")
    headers = {"Cache-Control": "no-store", "Vary": "Accept-Encoding"}
    if len(body) > 32_768 and "gzip" in request.headers.get("accept-encoding", ""):
        body = gzip.compress(body, compresslevel=5)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="application/json", headers=headers)


def _auth_of(request: Any) -> ApiKeyAuth:
    """The guard's key check (the one every other route is judged by), else the environment's."""
    auth = request.scope.get(AUTH_SCOPE_KEY)
    return auth if auth is not None else ApiKeyAuth.from_env()


def _sessions_of(request: Any, auth: ApiKeyAuth) -> LeadCardSessions | None:
    """The guard's session keeper (None with authentication off)."""
    if not auth.enabled:
        return None
    sessions = request.scope.get(SESSIONS_SCOPE_KEY)
    return sessions if sessions is not None else LeadCardSessions(auth.key, SessionStore.from_env())


def _client(request: Any) -> str:
    """The caller's address (uvicorn puts a trusted proxy's X-Forwarded-For there)."""
    client = request.scope.get("client")
    return str(client[0]) if client else "unknown"


def _paging(request: Any) -> tuple[str, int, int, str]:
    """``q``, ``offset``, ``limit`` and ``order`` of a page request (ValueError when not numbers)."""
    params = request.query_params
    offset, limit = int(params.get("offset", 0)), int(params.get("limit", PAGE_SIZE))
    return params.get("q", "")[:MAX_TEXT], offset, limit, params.get("order", "desc")


def _store_failure(exc: Exception) -> Any:
    """Sign-in or sign-out could not be recorded in the shared session file: 503."""
    context.logger.error("lead card sessions unavailable: %s", exc)
    context.count(session_store_failed=True)
    return _sign_in_response("Signing in and out is unavailable: the service cannot use its session file "
                             "(see the server log).", 503)


def ui_routes(get_engine: Callable[[], ScoringEngine]) -> list[Any]:
    """The lead card's Starlette routes (see the module's docstring)."""
    from anyio import to_thread
    from pydantic import ValidationError
    from starlette.responses import HTMLResponse, RedirectResponse, Response
    from starlette.routing import Route

    from mqlscore.serving.schemas import ScoreRequest

    async def page(_request: Any) -> Any:
        return HTMLResponse(page_html(), headers={**_SECURITY_HEADERS, "Content-Security-Policy": PAGE_CSP})

    async def static(request: Any) -> Any:
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(_static(name), media_type=STATIC_FILES[name],
                        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=86400"})

    async def login(request: Any) -> Any:
        auth = _auth_of(request)
        sessions = _sessions_of(request, auth)
        address = _client(request)
        try:
            wait = sessions.retry_after(address) if sessions is not None else 0
        except SessionStoreError as exc:
            return _store_failure(exc)
        if wait:
            context.count(signed_in=False, throttled=True)
            return _sign_in_response(f"Too many wrong keys from this address: try again in {wait} s.", 429,
                                     {"Retry-After": str(wait)})
        try:
            form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
        except ValueError:  # more fields than a sign-in form has
            form = {}
        try:
            if not auth.allows_key((form.get("key") or [""])[0]):
                context.count(signed_in=False)
                if sessions is not None:
                    sessions.wrong_key(address)
                return _sign_in_response("That is not the service's API key.")
            response = RedirectResponse(UI_PREFIX, status_code=303)
            if sessions is not None:
                sessions.right_key(address)
                cookie = session_cookie(sessions.issue(), request_is_secure(request.scope))
                response.headers.append("set-cookie", cookie)
        except SessionStoreError as exc:
            return _store_failure(exc)
        context.count(signed_in=True)
        return response

    async def logout(request: Any) -> Any:
        auth = _auth_of(request)
        sessions = _sessions_of(request, auth)
        session = sessions.check_cookies(request.headers.raw, SESSION_COOKIE) if sessions is not None else None
        response = RedirectResponse(UI_PREFIX, status_code=303)
        if session is not None:
            try:
                sessions.revoke(session)  # on every worker, not only in this browser
            except SessionStoreError as exc:
                response = _store_failure(exc)
            context.count(signed_out=True)
        response.delete_cookie(SESSION_COOKIE, path=UI_PREFIX, httponly=True, samesite="strict",
                               secure=request_is_secure(request.scope))
        return response

    async def model(_request: Any) -> Any:
        from starlette.responses import JSONResponse

        info = get_engine().info()
        keys = ("name", "version", "kind", "trained_at", "horizon_days", "threshold", "tiers", "score_scale")
        return JSONResponse({k: info.get(k) for k in keys}, headers={"Cache-Control": "no-store"})

    async def score(request: Any) -> Any:
        # Exactly what POST /score does: the body is checked against ScoreRequest (a 400
        # with field paths, as the guard shapes BentoML's), then the engine scores it
        # (RequestRejected: the same 4xx bodies).
        try:
            body = ScoreRequest.model_validate_json((await request.body()) or b"{}")
        except ValidationError as exc:
            return _refusal(schema_rejection(exc.errors(include_context=False, include_input=False,
                                                        include_url=False)))
        try:
            response = await to_thread.run_sync(get_engine().score, body.leads, body.as_of, body.reasons)
        except RequestRejected as exc:
            context.count(leads=len(body.leads), problems=len(exc.problems))
            return _refusal(exc)
        return Response(response.model_dump_json(), media_type="application/json")

    async def preloaded(request: Any) -> Any:
        path = os.environ.get(UI_SCORES_ENV, "").strip()
        try:
            query, offset, limit, order = _paging(request)
        except ValueError:
            return _problem(422, "bad paging", "offset", "offset and limit must be whole numbers")
        if not path:
            return _json(request, {"source": None, "total": 0, "matched": 0, "offset": 0, "limit": PAGE_SIZE,
                                   "rows": []})
        try:
            table = await to_thread.run_sync(load_scores_file, path)
        except (OSError, ScoresFileError) as exc:
            message = str(exc) if isinstance(exc, ScoresFileError) else f"cannot read it ({exc.strerror})"
            return _problem(422, "the preloaded scored file cannot be shown", UI_SCORES_ENV,
                            f"{Path(path).name}: {message}")
        out = await to_thread.run_sync(table.page, query, offset, limit, order)
        context.count(rows=len(out["rows"]))
        return _json(request, out)

    async def upload(request: Any) -> Any:
        # The service keeps no uploads (its workers share nothing): the page sends the
        # file again for every page, search or order, and gets that page back.
        try:
            query, offset, limit, order = _paging(request)
        except ValueError:
            return _problem(422, "bad paging", "offset", "offset and limit must be whole numbers")
        data = await request.body()
        name = Path(request.query_params.get("name", "") or "the file").name[:200]
        bounds = lead_card_config(get_engine().config)

        def read_page() -> dict[str, Any]:
            table = ScoresTable.from_bytes(data, name, bounds.upload_max_rows, bounds.upload_max_decoded_bytes)
            return table.page(query, offset, limit, order)

        try:
            out = await to_thread.run_sync(read_page)
        except ScoresFileTooLarge as exc:
            context.count(too_large=True)
            return _problem(413, "scored file too large", "file", str(exc))
        except ScoresFileError as exc:
            return _problem(422, "not a scored file", "file", str(exc))
        context.count(rows=len(out["rows"]), total=out["total"])
        return _json(request, out)

    return [
        Route(UI_PREFIX, page, methods=["GET"]),
        Route(UI_STATIC_PREFIX + "{name}", static, methods=["GET"]),
        Route(UI_PREFIX + "/login", login, methods=["POST"]),
        Route(UI_PREFIX + "/logout", logout, methods=["POST"]),
        Route(UI_PREFIX + "/api/model", model, methods=["GET"]),
        Route(UI_PREFIX + "/api/score", score, methods=["POST"]),
        Route(UI_PREFIX + "/api/scores", preloaded, methods=["GET"]),
        Route(UI_PREFIX + "/api/scores", upload, methods=["POST"]),
    ]
