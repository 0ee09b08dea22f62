"""The service's one error shape: a message, the request id and the problems,
each named by its field path (``leads[3].activities[2].occurred_at``)."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

MAX_LISTED = 50  # problems listed in one answer (the count says how many there were)
NAME_CHARS = 40  # a field name that is not a plain identifier is shown cut to this many characters
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
_UNSAFE = frozenset("<>&\"'\\`")  # HTML and quoting characters: \uXXXX, or \" and \\
_INVISIBLE = frozenset(("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))  # control, format (bidi), unassigned


class StartupError(RuntimeError):
    """The service cannot start (no API key, no model, a corrupt model): said plainly."""


@dataclass
class FieldProblem:
    """One reason a request was refused (or a warning about it), with where it is."""

    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """JSON-ready."""
        return {"field": self.field, "message": self.message}


class RequestRejected(Exception):
    """The request cannot be scored; ``status`` is 4xx and ``problems`` name the fields."""

    def __init__(self, status: int, error: str, problems: Sequence[FieldProblem] = ()) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.problems = list(problems)

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        """The JSON body of the refusal."""
        return {"error": self.error, "request_id": request_id, "problems": [p.to_dict() for p in self.problems]}


def shown_name(name: Any) -> str:
    """A field name as it may appear in an answer or a log: a plain identifier (up to 64
    characters) as it is; anything else cut to ``NAME_CHARS`` characters (``…`` marks
    the cut) and shown as a JSON string whose HTML, quoting, control and bidi characters
    are written ``\\uXXXX``. A name sent by a caller (``<img src=x onerror=...>``)
    never comes back as markup or as a forged line."""
    text = str(name)
    if _PLAIN_NAME.match(text):
        return text
    cut = text[:NAME_CHARS] + ("\u2026" if len(text) > NAME_CHARS else "")
    return '"' + "".join(_escaped(c) for c in cut) + '"'


def _escaped(char: str) -> str:
    if char in _UNSAFE or unicodedata.category(char) in _INVISIBLE:
        return json.dumps(char)[1:-1] if char not in "<>&'`" else f"\\u{ord(char):04x}"
    return char


def child(path: str, name: Any) -> str:
    """The path of a named field inside ``path``: ``leads[0].product_interest``, or
    ``leads[0]["\\u003cimg src=x\\u003e"]`` for a name that is not a plain identifier."""
    shown = shown_name(name)
    if not path:
        return shown
    return f"{path}[{shown}]" if shown.startswith('"') else f"{path}.{shown}"


def field_path(loc: Iterable[str | int]) -> str:
    """``("leads", 3, "activities", 2, "occurred_at")`` -> ``leads[3].activities[2].occurred_at``;
    names that are not plain identifiers are shown escaped and cut (:func:`shown_name`)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part != "":
            out = child(out, part)
    return out or "body"


def path_order(path: str) -> tuple:
    """A sort key putting field paths in document order (``leads[2]`` before ``leads[10]``)."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[\[\].]+", path) if p)


def rejection(status: int, what: str, problems: Sequence[FieldProblem], total: int | None = None) -> RequestRejected:
    """A refusal listing at most ``MAX_LISTED`` problems, its message counting them all
    (``total`` when more were found than kept): a body with 300,000 bad activities gets
    a short answer."""
    shown = list(problems[:MAX_LISTED])
    total = max(total or 0, len(problems))
    more = f" (first {len(shown)} of {total} shown)" if total > len(shown) else ""
    return RequestRejected(status, f"{what}: {total} problem(s){more}", shown)


def schema_rejection(details: Iterable[dict[str, Any]]) -> RequestRejected:
    """A 400 for a body that does not match the API schema, from pydantic's error
    details (``loc`` and ``msg``; the input values are never echoed, field names are
    shown escaped and cut)."""
    problems = [FieldProblem(field_path(d.get("loc", ())), str(d.get("msg", ""))[:200])
                for d in details if isinstance(d, dict)]
    return rejection(400, "the request does not match the API schema", problems)


def unauthorised(message: str) -> RequestRejected:
    """A 401 in the service's error shape."""
    return RequestRejected(401, message)
