"""Page views: URL paths into page categories, by ordered, configurable rules."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import pandas as pd

_SCHEME_HOST = re.compile(r"^[a-z][a-z0-9+.-]*://[^/]*", re.IGNORECASE)
UNCATEGORISED = "uncategorised"


def normalise_path(detail: object) -> str | None:
    """A page view's path in a comparable form: no scheme or host, no query
    string or fragment, lower case, no trailing slash (``/`` stays ``/``)."""
    if not isinstance(detail, str):
        return None
    path = _SCHEME_HOST.sub("", detail.strip())
    path = path.split("?", 1)[0].split("#", 1)[0].strip().lower()
    if not path:
        return "/"
    if not path.startswith("/"):
        path = "/" + path
    return path.rstrip("/") or "/"


def first_segment(path: str | None) -> str | None:
    """``/events/himss-2026`` -> ``events``; ``/`` or None -> None."""
    if not path or path == "/":
        return None
    return path.strip("/").split("/", 1)[0] or None


@lru_cache(maxsize=16)
def _compiled(rules: tuple[tuple[str, str], ...]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((category, re.compile(pattern)) for category, pattern in rules)


def categorise_path(path: str | None, rules: Sequence[tuple[str, str]]) -> str:
    """The category of the first rule matching ``path``; ``uncategorised`` when none does."""
    if path is None:
        return UNCATEGORISED
    for category, pattern in _compiled(tuple(rules)):
        if pattern.search(path):
            return category
    return UNCATEGORISED


def categorise_details(details: pd.Series, rules: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """Path, category and first segment of each page view's detail (each
    distinct detail parsed once)."""
    uniques = pd.Series(details.dropna().unique())
    paths = uniques.map(normalise_path)
    table = pd.DataFrame({
        "path": paths.to_numpy(),
        "category": paths.map(lambda p: categorise_path(p, rules)).to_numpy(),
        "segment": paths.map(first_segment).to_numpy(),
    }, index=uniques.to_numpy())
    out = table.reindex(details.to_numpy())
    out.index = details.index
    out["category"] = out["category"].fillna(UNCATEGORISED)
    return out
