"""Shared test set-up: a quiet, offline, sandboxed environment and generated data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Keep third-party tools from writing into the home folder or phoning home;
# set before any of them is imported by a test module.
_SANDBOX = Path(tempfile.mkdtemp(prefix="mqlscore-tests-"))
for _var, _sub in (("IPYTHONDIR", "ipython"), ("JUPYTER_RUNTIME_DIR", "jupyter"), ("MPLCONFIGDIR", "mpl")):
    os.environ.setdefault(_var, str(_SANDBOX / _sub))
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The real public datasets beside the repository (skip when absent)."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATASETS}")
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def demo_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic export of 6,000 leads shared by the tests (its truth sits in ``<dir>-truth``)."""
    from mqlscore.config import GeneratorConfig
    from mqlscore.synthetic import generate_export

    out = tmp_path_factory.mktemp("demo") / "export"
    generate_export(GeneratorConfig(n_leads=6_000, seed=11, mc_sims=30), out)
    return out


@pytest.fixture(scope="session")
def demo_dataset(demo_export: Path):
    """The demo export read and validated by the contract (shared: do not change it)."""
    from mqlscore.contract import load_folder

    return load_folder(demo_export)


@pytest.fixture(scope="session")
def small_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic export of 700 leads (seed 5), read-only, for tests that need
    a real history but no trained model of their own."""
    from mqlscore.config import GeneratorConfig
    from mqlscore.synthetic import generate_export

    out = tmp_path_factory.mktemp("small") / "export"
    generate_export(GeneratorConfig(n_leads=700, seed=5, mc_sims=10), out)
    return out


# ---------------------------------------------------------------------------
# One trained model, one bento and one running server per session, shared by
# test_service_http.py and test_ui_browser.py (training and building take ~45 s).
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def service_store(tmp_path_factory: pytest.TempPathFactory, demo_export: Path) -> Path:
    """The SQLite MLflow store holding ``models:/mql-svc@champion`` (``support.trained_store``)."""
    from support import trained_store

    return trained_store(tmp_path_factory, demo_export)


@pytest.fixture(scope="session")
def account_model(service_store: Path):
    """The session's trained model (``service_store``'s) with its account scores, loaded once."""
    from mqlscore.scoring import ScoringModel

    loaded = ScoringModel.load(service_store / "scoring_model")
    assert loaded.accounts is not None, "training stores account scores with the model"
    return loaded


@pytest.fixture(scope="session")
def scored_files(service_store: Path, demo_export: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The export's open leads scored by that model and written by ``mqlscore score``'s
    own code, as CSV and as Parquet."""
    from support import MODEL_NAME

    from mqlscore.batch import score_open_leads, write_score_file
    from mqlscore.contract import load_folder
    from mqlscore.scoring import ScoringModel

    model = ScoringModel.load(service_store / "scoring_model")
    model.metadata.update(model_name=MODEL_NAME, model_version="1")
    dataset = load_folder(demo_export)
    folder = tmp_path_factory.mktemp("scored")
    out = {"csv": folder / "test-scores.csv", "parquet": folder / "test-scores.parquet"}
    scored = score_open_leads(model, dataset)
    for path in out.values():
        write_score_file(scored, path)
    return out


@pytest.fixture(scope="session")
def built(service_store: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``mqlscore build`` against the fresh registry, with the network cut off."""
    from support import MODEL_NAME, build

    home = tmp_path_factory.mktemp("bentoml-home")
    config = tmp_path_factory.mktemp("config") / "settings.yaml"
    result = build(service_store, home, config, MODEL_NAME)
    assert "Built bento mqlscore-service:" in result["output"] and f"{MODEL_NAME} v1" in result["output"]
    return result


@pytest.fixture(scope="session")
def store_file(demo_export: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite lead store loaded (quietly, by ``mqlscore.store.load_dataset``) with the
    export's 400 most recently created leads, their buying groups' other leads, and
    their activities and outcomes."""
    from support import recent_slice

    from mqlscore.store import LeadStore, load_dataset

    url = f"sqlite:///{tmp_path_factory.mktemp('lead-store') / 'leads.db'}"
    store = LeadStore(url)
    load_dataset(store, recent_slice(demo_export, 400))
    store.close()
    return url


@pytest.fixture(scope="session")
def server(built: dict, scored_files: dict[str, Path], store_file: str):
    """``mqlscore serve --scores <the CSV> --store <store_file> --clock-from export`` on a
    free port with the test key; stopped at the session's end."""
    from support import KEY, serve

    yield from serve(built, KEY, ("--scores", str(scored_files["csv"]), "--store", store_file,
                                  "--clock-from", "export"))


# ---------------------------------------------------------------------------
# A real PostgreSQL server on 127.0.0.1, started once per session when a test
# asks for it (support.postgres_server), and a fresh database per test.
# ---------------------------------------------------------------------------

REQUIRE_POSTGRES_ENV = "MQLSCORE_REQUIRE_POSTGRES"


@pytest.fixture(scope="session")
def postgres_url():
    """URL of a throwaway PostgreSQL server (user ``postgres``, trust authentication), stopped
    and deleted at the session's end. Skips with the reason when PostgreSQL cannot start here,
    or fails when ``MQLSCORE_REQUIRE_POSTGRES=1`` (``make test`` sets it when PostgreSQL is installed)."""
    from contextlib import ExitStack

    from support import PostgresUnavailable, cannot_start, postgres_server

    with ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_server())
        except PostgresUnavailable as exc:
            cannot_start("PostgreSQL", exc, REQUIRE_POSTGRES_ENV)
        yield url


@pytest.fixture
def postgres_db(postgres_url: str) -> str:
    """URL of a new, empty database of its own on the session's PostgreSQL server."""
    from support import fresh_database

    return fresh_database(postgres_url)
