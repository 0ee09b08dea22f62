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
