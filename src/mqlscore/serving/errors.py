"""The service's one error shape: a message, the request id and the problems,
each named by its field path (``leads[3].activities[2].occurred_at``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


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


def field_path(loc: Iterable[str | int]) -> str:
    """``("leads", 3, "activities", 2, "occurred_at")`` -> ``leads[3].activities[2].occurred_at``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part:
            out += f".{part}" if out else str(part)
    return out or "body"


def path_order(path: str) -> tuple:
    """A sort key putting field paths in document order (``leads[2]`` before ``leads[10]``)."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[\[\].]+", path) if p)


def schema_rejection(details: Iterable[dict[str, Any]]) -> RequestRejected:
    """A 400 for a body that does not match the API schema, from pydantic's error
    details (``loc`` and ``msg``; the input values are never echoed)."""
    problems = [FieldProblem(field_path(d.get("loc", ())), str(d.get("msg", "")))
                for d in details if isinstance(d, dict)]
    return RequestRejected(400, "the request does not match the API schema", problems)


def unauthorised(message: str) -> RequestRejected:
    """A 401 in the service's error shape."""
    return RequestRejected(401, message)
