"""What a request is called in the log line and in the Prometheus metrics: its
route (``/score``, ``/ui/api/scores``, ``/ui/static/{name}``), or ``other`` for any
path the service does not serve; never the path as sent.

A path is chosen by the caller: logging it as sent lets anyone write into the log
(``%0a`` ends a line) or leave personal data there (an email in a URL), and
labelling metrics with it gives every stranger's path its own Prometheus series
(5,000 random paths took ``/metrics`` from 64 KB to 40 MB). Route labels are a
fixed, small set.

BentoML's metrics middleware (``RunnerTrafficMetricsMiddleware``) sits outside
every middleware a service adds and reads ``scope["path"]`` as its ``endpoint``
label before the guard runs, so :func:`install_metrics_route_labels` swaps in a
subclass that hands it the route label and gives the app inside the real path back.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from mqlscore.serving.leadcard import UI_ROUTE_PATHS, UI_STATIC_PREFIX
from mqlscore.serving.store_routes import STORE_ROUTE_PATHS, STORE_ROUTE_TEMPLATES

OTHER = "other"  # every path that is not one of the service's routes
API_ROUTES = ("/score",)  # BentoML's API routes (bento/service.py); the worker's own list is added at run time
# BentoML's own routes: health, metrics and the API's description.
BENTOML_ROUTES = ("/", "/healthz", "/livez", "/readyz", "/metrics", "/schema.json", "/docs.json")
SERVICE_ROUTES = ("/model",)
# Folders served file by file: one label each, whatever the file.
PREFIX_ROUTES = {UI_STATIC_PREFIX: UI_STATIC_PREFIX + "{name}", "/static_content/": "/static_content/{path}",
                 "/assets/": "/assets/{path}", **STORE_ROUTE_TEMPLATES}
_EXACT = frozenset((*API_ROUTES, *BENTOML_ROUTES, *SERVICE_ROUTES, *UI_ROUTE_PATHS, *STORE_ROUTE_PATHS))
_REAL_PATH = "mqlscore.real_path"  # where the metrics wrapper keeps the path for the app inside


def _api_routes() -> frozenset[str]:
    """The API routes the BentoML worker registered (empty outside a worker)."""
    bentoml_context = sys.modules.get("bentoml._internal.context")  # never import BentoML just for this
    routes = getattr(getattr(bentoml_context, "server_context", None), "service_routes", None) or ()
    return frozenset(r for r in routes if isinstance(r, str))


def route_label(path: str) -> str:
    """The route serving ``path`` (its template for a folder of files), or ``"other"``."""
    if path in _EXACT or path in _api_routes():
        return path
    for prefix, label in PREFIX_ROUTES.items():
        if path.startswith(prefix):
            return label
    return OTHER


class _RealPath:
    """Inside BentoML's metrics middleware: give the app the path as requested again."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if _REAL_PATH in scope:
            real = scope[_REAL_PATH]
            scope = {k: v for k, v in scope.items() if k != _REAL_PATH}
            scope["path"] = real
        await self.app(scope, receive, send)


def install_metrics_route_labels() -> bool:
    """Make BentoML's HTTP metrics label requests by route (:func:`route_label`).

    Called at import of the service, before BentoML builds the app. Returns False
    when this BentoML has no such middleware (its metrics are then as BentoML makes
    them; ``tests/test_service_http.py`` checks that the size of ``/metrics`` stays
    bounded)."""
    try:
        from bentoml._internal.server.http import instruments
    except ImportError:
        return False
    base = getattr(instruments, "RunnerTrafficMetricsMiddleware", None)
    if base is None:
        return False
    if getattr(base, "mqlscore_route_labels", False):
        return True

    class RouteLabelledMetrics(base):  # type: ignore[misc, valid-type]
        """BentoML's metrics middleware, fed the route instead of the path."""

        mqlscore_route_labels = True

        def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
            super().__init__(_RealPath(app), *args, **kwargs)

        async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
            if scope.get("type") == "http":
                path = scope.get("path", "")
                label = route_label(path)
                if label != path:
                    scope = {**scope, "path": label, _REAL_PATH: path}
            await super().__call__(scope, receive, send)

    RouteLabelledMetrics.__name__ = RouteLabelledMetrics.__qualname__ = base.__name__
    instruments.RunnerTrafficMetricsMiddleware = RouteLabelledMetrics
    return True
