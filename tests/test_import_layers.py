"""Import rules: the layers of pyproject.toml's [tool.importlinter] hold (no upward import, no
cycle, web frameworks only in serving, a light scoring core), the bento glue imports only the
serving package, and heavy libraries stay lazy (checked in fresh interpreters)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "mqlscore"
# Libraries that take seconds to import, or belong to the service alone: never loaded by importing
# a module below serving (or the CLI, whose --help must stay fast); imported inside functions instead.
HEAVY = ("shap", "mlflow", "bentoml", "starlette", "pyspark")
# The MLflow pyfunc file is loaded by MLflow itself ("models from code"): it imports mlflow at
# module level by design, and mlflow brings starlette.
LOADED_BY_MLFLOW = "mqlscore.mlflow_model"
EXPECTED_CONTRACTS = {"layers", "acyclic", "web-only-in-serving", "light-scoring-core"}


def _env() -> dict[str, str]:
    """The repository's own source first, whatever is installed."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                                       os.environ.get("PYTHONPATH")]))}


def _config() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["tool"]["importlinter"]


def test_the_contracts_are_declared() -> None:
    """The check below cannot pass by losing a contract: the four are there, and the layers
    are exhaustive, so a new module must be given a layer."""
    contracts = {c["id"]: c for c in _config()["contracts"]}
    assert EXPECTED_CONTRACTS <= set(contracts), sorted(contracts)
    layers = contracts["layers"]
    assert layers["type"] == "layers" and layers["containers"] == ["mqlscore"] and layers["exhaustive"] is True
    assert layers["layers"][0] == "cli" and layers["layers"][1] == "serving"
    assert layers["layers"][-1].replace(" ", "").split(":")[0] == "contract"


def test_import_linter_keeps_every_contract() -> None:
    """`lint-imports` on pyproject.toml; a broken contract fails with import-linter's own report
    (which module imports which, and on which lines)."""
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                               "sys.exit(lint_imports_command())",
         "--no-cache", "--no-logo", "pyproject.toml"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, f"import rules broken (lint-imports exit {result.returncode}):\n{report}"
    n = len(_config()["contracts"])
    assert f"Contracts: {n} kept, 0 broken." in report, report


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import, at any depth; `from a import b` counts as `a.b`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            found += [(node.lineno, f"{base}.{alias.name}" if base == "mqlscore" else base) for alias in node.names]
    return found


def test_the_bento_service_imports_only_serving_the_standard_library_and_bentoml() -> None:
    """bento/service.py is outside the package (import-linter does not see it): BentoML glue over
    mqlscore.serving, nothing else."""
    path = ROOT / "bento" / "service.py"
    allowed_roots = set(sys.stdlib_module_names) | {"__future__", "bentoml"}
    wrong = []
    for line, module in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        top = module.split(".")[0]
        if module == "mqlscore.serving" or module.startswith("mqlscore.serving."):
            continue
        if top in allowed_roots and not module.startswith("."):
            continue
        wrong.append(f"bento/service.py:{line}: imports {module}")
    assert not wrong, "\n".join(wrong)


def _modules(*tops: str) -> list[str]:
    """Every module of the package under these top-level names, found on disk (importing
    nothing), packages before their modules."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[0] not in tops:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(("mqlscore", *parts)))
    return names


PROBE = """\
import importlib, json, sys
heavy, found = json.loads(sys.argv[1]), {}
for name in json.loads(sys.argv[2]):
    importlib.import_module(name)
    found.update({h: name for h in heavy if h in sys.modules and h not in found})
print(json.dumps(found))
"""


def _heavy_loaded_by(modules: list[str]) -> dict[str, str]:
    """Import the modules one after the other in a fresh interpreter: which heavy library
    got loaded, and by importing which module first."""
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(HEAVY), json.dumps(modules)],
                            cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_scoring_and_the_contract_load_no_heavy_library() -> None:
    assert _heavy_loaded_by(["mqlscore.scoring", "mqlscore.contract"]) == {}


@pytest.mark.parametrize(
    "tops",
    [
        ("contract", "config", "progress", "features", "models", "explain", "scoring"),
        ("training", "registry", "mlflow_model", "reporting", "evaluation", "batch", "importer", "synthetic",
         "leakguard", "refit", "shift", "monitoring", "backtest", "store", "spark"),
        ("cli",),
    ],
    ids=["scoring-core", "stages", "cli"],
)
def test_heavy_libraries_stay_lazy(tops: tuple[str, ...]) -> None:
    """Below serving, and in the CLI, shap, mlflow, bentoml, starlette and pyspark are imported
    inside the functions that need them, never when a module is imported."""
    modules = [m for m in _modules(*tops) if m != LOADED_BY_MLFLOW]
    assert modules, tops
    loaded = _heavy_loaded_by(modules)
    assert loaded == {}, "loaded at import time: " + ", ".join(f"{h} by {m}" for h, m in loaded.items())
