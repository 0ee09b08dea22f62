"""Scoring on Spark: the registered model run on the executors, part by part.

The ``ScoringModel`` travels to the executors as a broadcast of its saved files
(``ScoringModel.save``: JSON and LightGBM's text) and is loaded once per Python
worker. Each part's leads open at the as-of time are scored by
``batch.score_open_leads`` (``ScoringModel.score``), the call the pandas engine
makes, so each row equals the pandas engine's row for that lead. The rows are
written as Parquet with the columns of ``contract.schema.SCORE_FILE_COLUMNS``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mqlscore.contract.schema import TIERS
from mqlscore.spark import parts
from mqlscore.spark.features import per_part
from mqlscore.spark.read import SparkExport


@dataclass
class ScoreSummary:
    """What a Spark scoring run wrote: rows, MQLs and rows per tier, best first."""

    path: str
    rows: int
    mqls: int
    tiers: dict[str, int]


def model_files(scoring_model: Any) -> dict[str, str]:
    """A ``ScoringModel``'s saved files (``ScoringModel.save``), by name."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = scoring_model.save(Path(tmp) / "model")
        return {p.name: p.read_text() for p in sorted(folder.iterdir()) if p.is_file()}


def score_rows(export: SparkExport, scoring_model: Any) -> Any:
    """Every lead open at the export's as-of time, scored on the executors: a Spark
    DataFrame with the score file's columns."""
    files = export.spark.sparkContext.broadcast(model_files(scoring_model))
    options = {"metadata": dict(scoring_model.metadata), "as_of": export.as_of.isoformat(), **export.part_options()}
    return per_part(export, lambda leads, acts: parts.score_part(leads, acts, model=files.value, **options),
                    parts.score_schema())


def write_scores(export: SparkExport, scoring_model: Any, out: str | os.PathLike[str]) -> ScoreSummary:
    """Score the open leads and write them as Parquet (a folder of part files) at ``out``.

    A local ``out`` appears only when complete: the rows are written beside it and
    renamed into place (a previous score file there is replaced). Any other path is
    written by Spark's own committer (``mode("overwrite")``)."""
    from pyspark.sql import functions as F

    scored = score_rows(export, scoring_model)
    target = str(out)
    local = "://" not in target and not target.startswith("file:")
    if local:
        final = Path(target).resolve()
        staging = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
        scored.write.parquet(str(staging))
        _replace(staging, final)
        target = str(final)
    else:
        scored.write.mode("overwrite").parquet(target)
    written = export.spark.read.parquet(target)
    counts = {str(r["tier"]): int(r["n"]) for r in written.groupBy("tier").agg(F.count(F.lit(1)).alias("n")).collect()}
    mqls = written.filter(F.col("is_mql")).count()
    return ScoreSummary(target, sum(counts.values()), int(mqls), {t: counts.get(t, 0) for t in TIERS})


def _replace(staging: Path, final: Path) -> None:
    """Put the folder ``staging`` at ``final``; an earlier file or folder there is removed after."""
    old = None
    if final.exists() or final.is_symlink():
        old = final.with_name(f".{final.name}.{uuid.uuid4().hex}.old")
        os.replace(final, old)
    os.replace(staging, final)
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
