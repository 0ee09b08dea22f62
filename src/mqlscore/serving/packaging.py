"""Packaging and running the service: ``mqlscore build`` takes the champion from
the MLflow registry into the BentoML model store and builds a bento that serves
it offline; ``mqlscore serve`` checks that it can start and runs ``bentoml
serve`` with the right environment."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mqlscore.config import Settings
from mqlscore.contract.schema import champion_uri, example_lead
from mqlscore.serving.auth import DEV_ENV, ApiKeyAuth
from mqlscore.serving.engine import SCORING_MODEL_DIR, SERVICE_CONFIG_ENV, SERVICE_CONFIG_FILE, ScoringEngine
from mqlscore.serving.errors import StartupError
from mqlscore.serving.context import logger
from mqlscore.serving.timeouts import serve_options
from mqlscore.serving.startup import BUILDING_ENV, MODEL_TAG_ENV, MODEL_TAG_FILE, WORKERS_ENV, bentoml_home


def _package_dir() -> Path:
    """The installed ``mqlscore`` package folder."""
    return Path(__file__).resolve().parents[1]


@dataclass
class BuildResult:
    """What ``mqlscore build`` made."""

    model_uri: str
    model_name: str
    model_version: str
    bento_model_tag: str
    bento_tag: str
    bento_path: str
    seconds: float


def project_root() -> Path | None:
    """The source checkout holding ``pyproject.toml``, ``uv.lock`` and ``bento/`` (None when installed)."""
    package = _package_dir()  # src/mqlscore
    for candidate in (package.parents[1], Path.cwd()):
        if (candidate / "bento" / "service.py").is_file() and (candidate / "pyproject.toml").is_file():
            return candidate
    return None


def pinned_requirements(root: Path | None = None) -> list[str]:
    """The runtime dependencies pinned from ``uv.lock`` (``uv export``), or, without uv
    or a checkout, from the installed distributions."""
    import shutil
    import subprocess

    root = root or project_root()
    uv = shutil.which("uv")
    if root is not None and (root / "uv.lock").is_file() and uv:
        cmd = [uv, "export", "--frozen", "--no-hashes", "--no-dev", "--no-emit-project", "--no-header",
               "--no-annotate", "--quiet"]
        done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            lines = [ln.strip() for ln in done.stdout.splitlines()]
            return [ln for ln in lines if ln and not ln.startswith(("#", "-e", ".", "-"))]
        logger.warning("uv export failed (%s); pinning from the installed packages", done.stderr.strip()[:200])
    return installed_requirements()


def installed_requirements(top: str = "mqlscore") -> list[str]:
    """``name==version`` of the installed closure of ``top``'s requirements."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement

    pinned: dict[str, str] = {}
    todo = [Requirement(r) for r in (distribution(top).requires or [])]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        key = req.name.lower().replace("_", "-")
        if key in pinned:
            continue
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:
            continue
        pinned[key] = dist.version
        todo += [Requirement(r) for r in (dist.requires or [])]
    return [f"{name}=={version}" for name, version in sorted(pinned.items())]


def build_bento(model_uri: str | None = None, settings: Settings | None = None,
                say: Callable[[str], None] = lambda _m: None) -> BuildResult:
    """Take a model from the MLflow registry into the BentoML model store and build
    a bento that serves it without MLflow (offline: requirements are pinned here,
    never resolved). Raises LookupError when the model is not in the registry."""
    import shutil
    import tempfile

    from mqlscore.registry import load_scoring_model, tracking_uri

    t0 = time.perf_counter()
    settings = settings or Settings()
    service = settings.service
    uri = model_uri or champion_uri(settings.train.model_name)
    root = project_root()
    if root is None:
        raise FileNotFoundError("cannot find the bento/ folder of the mqlscore source checkout "
                                "(run mqlscore build from the repository)")
    say(f"loading {uri} from {tracking_uri()}")
    scoring_model = load_scoring_model(uri)
    engine = ScoringEngine(scoring_model, service)  # refuse to package a model that cannot score
    engine.self_test()

    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    import bentoml

    labels = {"registered_model": engine.name, "registered_version": engine.version,
              "kind": scoring_model.kind}
    say("saving it into the BentoML model store")
    with bentoml.models.create(service.bento_name, labels=labels,
                               metadata={"model_uri": uri, "trained_at": str(scoring_model.metadata.get("trained_at"))}
                               ) as stored:
        scoring_model.save(Path(stored.path) / SCORING_MODEL_DIR)
        (Path(stored.path) / SERVICE_CONFIG_FILE).write_text(service.model_dump_json(indent=2))
    model_tag = str(stored.tag)

    say("building the bento (offline, dependencies pinned from uv.lock)")
    with tempfile.TemporaryDirectory(prefix="mqlscore-bento-") as tmp:
        ctx = Path(tmp)
        for name in ("service.py", "bentofile.yaml"):
            shutil.copy2(root / "bento" / name, ctx / name)
        shutil.copytree(_package_dir(), ctx / "mqlscore",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "synthetic"))
        (ctx / "requirements.txt").write_text("\n".join(pinned_requirements(root)) + "\n")
        (ctx / MODEL_TAG_FILE).write_text(model_tag + "\n")  # the service loads exactly this model
        previous = os.environ.pop(MODEL_TAG_ENV, None)
        os.environ[BUILDING_ENV] = "1"
        try:
            bento = bentoml.bentos.build_bentofile(str(ctx / "bentofile.yaml"), build_ctx=str(ctx),
                                                   name=service.bento_name,
                                                   labels={**labels, "model_uri": uri})
        finally:
            os.environ.pop(BUILDING_ENV, None)
            if previous is not None:
                os.environ[MODEL_TAG_ENV] = previous
    return BuildResult(uri, engine.name, engine.version, model_tag, str(bento.tag), str(bento.path),
                       time.perf_counter() - t0)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve_command(bento: str | None, host: str, port: int, dev: bool,
                  settings: Settings | None = None) -> list[str]:
    """Check that the service can start (key, built bento) and return the command
    line that runs it; raises StartupError with a plain message otherwise."""
    settings = settings or Settings()
    if dev and host not in LOOPBACK:
        raise StartupError(f"--dev turns authentication off; it only listens on 127.0.0.1, not {host}")
    env = dict(os.environ)
    if dev:
        env[DEV_ENV] = "1"
    ApiKeyAuth.from_env(env)
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    import bentoml
    from bentoml.exceptions import NotFound

    tag = bento or f"{settings.service.bento_name}:latest"
    try:
        found = bentoml.get(tag)
    except NotFound:
        raise StartupError(f"no bento {tag} in {bentoml_home()}: run 'mqlscore build' first") from None
    return [sys.executable, "-m", "bentoml", "serve", str(found.tag), "--host", host, "--port", str(port),
            *serve_options()]


def serve_environment(dev: bool, workers: int | None, settings: Settings | None = None) -> dict[str, str]:
    """The environment of the server process."""
    env = dict(os.environ)
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    env.setdefault("BENTOML_DO_NOT_TRACK", "true")  # no usage analytics leave the machine
    env.setdefault("OMP_NUM_THREADS", "1")  # one scoring thread per worker: OpenMP's team costs ~8 ms a call
    if dev:
        env[DEV_ENV] = "1"
    else:
        env.pop(DEV_ENV, None)
    if workers is not None:
        env[WORKERS_ENV] = str(workers)
    elif settings is not None:
        env.setdefault(WORKERS_ENV, str(settings.service.workers))
    if settings is not None:
        env[SERVICE_CONFIG_ENV] = settings.service.model_dump_json()
    return env


def how_to_call(host: str, port: int, dev: bool) -> str:
    """A curl example for the start-up banner and the docs."""
    auth = "" if dev else ' -H "Authorization: Bearer $MQLSCORE_API_KEY"'
    body = json.dumps({"leads": [example_lead()]})
    sign_in = "" if dev else " (sign in with the API key)"
    return (f"curl -s http://{host}:{port}/score{auth} -H 'Content-Type: application/json' \\\n"
            f"     -d '{body}'\n"
            f"curl -s http://{host}:{port}/model{auth}\n"
            f"Lead card in a browser: http://{host}:{port}/ui{sign_in}")
