"""Process start-up of the service: logging, the --dev banner, the worker count,
which packaged model to load, and loading it once per process with its checks
(API key present, model in the store, self-test passed)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from mqlscore.config import ServiceConfig
from mqlscore.serving.auth import DEV_ENV, ApiKeyAuth, dev_mode
from mqlscore.serving.context import logger
from mqlscore.serving.engine import ScoringEngine, service_config_for
from mqlscore.serving.errors import StartupError
from mqlscore.serving.labels import install_metrics_route_labels
from mqlscore.serving.timeouts import install_header_timeout

WORKERS_ENV = "MQLSCORE_WORKERS"
BUILDING_ENV = "MQLSCORE_BUILDING"  # "1" while `mqlscore build` imports the service module
MODEL_TAG_ENV = "MQLSCORE_BENTO_MODEL"  # BentoML model tag the service loads (default "<bento_name>:latest")
MODEL_TAG_FILE = "bento_model_tag.txt"  # written beside bento/service.py by `mqlscore build`

_ANNOUNCED = False
_ENGINES: dict[str, ScoringEngine] = {}


def dev_banner() -> str:
    """The loud warning of --dev."""
    line = "!" * 78
    return (f"{line}\n!!  DEVELOPMENT MODE: API-KEY AUTHENTICATION IS OFF ({DEV_ENV}=1).\n"
            f"!!  Anyone who can reach this port can score leads. Never use --dev beyond this machine.\n{line}")


def announce_dev_mode() -> None:
    """Print the --dev banner to stderr, once per process."""
    global _ANNOUNCED
    if not _ANNOUNCED:
        _ANNOUNCED = True
        print(dev_banner(), file=sys.stderr, flush=True)


class _NoSchemaTracebacks(logging.Filter):
    """BentoML logs a traceback for every body that fails the schema; the guard's
    line (status 400, request id) says enough, and the traceback is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        from pydantic import ValidationError

        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ValidationError)


def configure_logging() -> None:
    """INFO lines of ``mqlscore.service`` reach the server's log handlers."""
    logger.setLevel(logging.INFO)
    bentoml_http = logging.getLogger("bentoml._internal.server.http_app")
    if not any(isinstance(f, _NoSchemaTracebacks) for f in bentoml_http.filters):
        bentoml_http.addFilter(_NoSchemaTracebacks())
    if not logging.getLogger().handlers and not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logger.addHandler(handler)


def workers_from_env(default: int | None = None) -> int:
    """Worker processes: ``MQLSCORE_WORKERS`` or the service default."""
    text = os.environ.get(WORKERS_ENV, "").strip()
    try:
        return max(1, int(text)) if text else (default or ServiceConfig().workers)
    except ValueError:
        raise StartupError(f"{WORKERS_ENV} must be a whole number, got {text!r}") from None


def model_tag(beside: str | Path | None = None) -> str:
    """The BentoML model the service loads: ``MQLSCORE_BENTO_MODEL``, else the tag
    ``mqlscore build`` wrote beside the service file, else ``<bento_name>:latest``."""
    tag = os.environ.get(MODEL_TAG_ENV, "").strip()
    if not tag and beside is not None and (Path(beside) / MODEL_TAG_FILE).is_file():
        tag = (Path(beside) / MODEL_TAG_FILE).read_text().strip()
    return tag or f"{ServiceConfig().bento_name}:latest"


def building() -> bool:
    """True while ``mqlscore build`` imports the service module (no key is needed then)."""
    return os.environ.get(BUILDING_ENV) == "1"


def bentoml_home() -> str:
    """Where BentoML keeps its models and bentos."""
    return os.environ.get("BENTOML_HOME") or str(Path.home() / "bentoml")


def active_config() -> ServiceConfig:
    """The service settings of the engine this process loaded (env or defaults before that)."""
    if _ENGINES:
        return next(reversed(_ENGINES.values())).config
    return service_config_for(None)


def forget_engines() -> None:
    """Drop the engines this process loaded (tests load several models in one process)."""
    _ENGINES.clear()


def start_engine(model_ref: Any) -> ScoringEngine:
    """Start-up check and model load, once per process: the API key is there (unless
    --dev), the model is in the store, loads and passes its self-test. Any problem
    raises StartupError with a plain message, so the server does not start.

    ``bento/service.py`` calls it when imported (``bentoml serve`` imports it in
    the main process before any worker starts, so a problem stops the server at
    once) and again in each worker, which reuses the engine loaded at import."""
    configure_logging()
    # Before BentoML builds the app and uvicorn its protocol (this runs when the service
    # module is imported): metrics labelled by route, a clock on request heads.
    if not install_metrics_route_labels():
        logger.warning("BentoML's metrics middleware was not found: /metrics labels requests by path")
    if not install_header_timeout():
        logger.warning("uvicorn's HTTP protocol was not found: request heads have no time limit")
    if not ApiKeyAuth.from_env().enabled:  # no key, no service (unless --dev)
        announce_dev_mode()
    key = str(getattr(model_ref, "tag", model_ref))
    if key in _ENGINES:
        return _ENGINES[key]
    try:
        stored = model_ref.stored if hasattr(model_ref, "stored") else None
    except Exception as exc:  # noqa: BLE001 - BentoML's store errors vary
        raise StartupError(f"cannot read the model {key} from the BentoML store ({bentoml_home()}): {exc}") from exc
    if stored is None and hasattr(model_ref, "tag"):
        raise StartupError(f"model {key} is not in the BentoML model store ({bentoml_home()}); "
                           "run 'mqlscore build' first")
    path = Path(stored.path if stored is not None else model_ref)
    labels = dict(getattr(getattr(stored, "info", None), "labels", {}) or {})
    source = {"bento_model": str(getattr(stored, "tag", path)), **labels}
    engine = ScoringEngine.from_folder(path, source=source)
    logger.info("model %s version %s loaded from %s (%d features); auth %s; limits %s leads, %s activities per "
                "lead, %s bytes", engine.name, engine.version, source["bento_model"],
                len(engine.model.builder.specs_), "on" if not dev_mode() else "OFF (--dev)",
                engine.config.max_leads_per_request, engine.config.max_activities_per_lead,
                engine.config.max_body_bytes)
    _ENGINES[key] = engine
    return engine


def start_store(engine: ScoringEngine) -> Any:
    """The worker's lead store with its scorer running (``MQLSCORE_STORE`` or
    ``service.store.url``), or None when the service runs without one. A store that
    cannot be opened stops the worker with StartupError."""
    from mqlscore.serving.store_service import StoreService
    from mqlscore.store.database import StoreUnavailable, redact
    from mqlscore.store.location import store_url

    from mqlscore.serving.scorer_process import scorer_mode

    url = store_url(engine.config.store)
    if not url:
        return None
    try:
        mode = scorer_mode(engine.config.store.scorer)
        if mode == "process" and worker_index() > 1:
            mode = "off"  # one scorer process for the whole service: the first worker's
        service = StoreService.open(engine, url).start(mode)
    except (StoreUnavailable, ValueError, RuntimeError, OSError) as exc:
        raise StartupError(f"cannot open the lead store {redact(url)}: {exc}") from None
    logger.info("lead store %s (clock %r); scorer: %s%s", service.store.location, service.clock,
                {"process": "a process beside the workers", "thread": "in each worker",
                 "off": "another worker's process"}[mode],
                "; webhook on" if service.config.webhook_url.strip() else "")
    return service


def worker_index() -> int:
    """This worker's number under ``bentoml serve`` (1, 2, ...); 1 outside it."""
    import bentoml

    return int(getattr(bentoml.server_context, "worker_index", None) or 1)


def settle_memory() -> None:
    """After a worker has loaded its model: move every object it holds so far out of
    the garbage collector's sight (``gc.freeze``). A full collection otherwise walks
    the model, pandas and the web stack, hundreds of thousands of objects, stalling
    every request in flight for tens of milliseconds, many times a second under load."""
    import gc

    gc.collect()
    gc.freeze()
