"""Training on Spark: the point-in-time training set built per part and written as
Parquet, a sample of whole buying groups fitted on the driver with ``mqlscore.training``.

The training set (every snapshot; the labelled ones with their features) is
computed on the executors and written to ``<work dir>/training_set``. The driver
then takes at most ``train.max_fit_rows`` labelled snapshots, the setting that
bounds what pandas training fits on: whole buying groups, drawn in the order of a
seeded hash of their name (a group's snapshots are correlated, and the account
features of a lead need its colleagues), with those groups' leads, activities
and outcomes. When every labelled snapshot fits, the driver holds the whole
training set, in the pandas engine's row order, and training gives the model
the pandas engine gives. ``training.train`` then does what it does for pandas
(time split, models, calibration, threshold, leak guard, refit), and
``training.register`` registers as usual.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from mqlscore.config import Settings
from mqlscore.contract import Dataset
from mqlscore.contract.schema import ACTIVITY_COLUMNS
from mqlscore.contract.write import empty_rejects
from mqlscore.features import TrainingSet
from mqlscore.spark.features import fit_builder, lead_columns, training_frames, training_rows
from mqlscore.spark.parts import BUCKET, DISQUALIFIED_AT, GROUP, ROW, SQL_AT
from mqlscore.spark.read import SparkExport

Progress = Callable[[str], None]


@dataclass
class SparkTraining:
    """What the Spark engine prepared for training on the driver: the sampled
    ``dataset`` and ``training_set`` (whole buying groups, the pandas engine's row
    order), where the full training set was written, and the counts of all of it."""

    dataset: Dataset
    training_set: TrainingSet
    path: str
    counts: dict[str, int]
    fingerprint: dict[str, Any]
    sampled: bool
    seconds: dict[str, float] = field(default_factory=dict)

    def train(self, dataset: Dataset, settings: Settings, *, force: bool = False,
              say: Progress = lambda message: None) -> Any:
        """``mqlscore.training.train`` on the prepared training set (``dataset`` is the one
        prepared); the run's data fingerprint is the whole export's."""
        from mqlscore.training import train

        result = train(dataset, settings, force=force, say=say, training_set=self.training_set)
        result.fingerprint = dict(self.fingerprint)
        if self.sampled:
            result.notes.append(f"Fitted on {len(self.training_set.snapshots):,} labelled snapshots of whole buying "
                                f"groups, a sample of the {self.counts['labelled']:,} in the training set "
                                f"(train.max_fit_rows {settings.train.max_fit_rows:,}); the full set is in "
                                f"{self.path}.")
        return result


def prepare_training(export: SparkExport, settings: Settings, work_dir: str,
                     say: Progress = lambda message: None) -> SparkTraining:
    """Fit the feature builder on Spark aggregations, write the training set to
    ``<work_dir>/training_set`` as Parquet, and bring a sample of at most
    ``settings.train.max_fit_rows`` labelled snapshots (whole buying groups) and the
    data of those groups to the driver."""
    import time
    import warnings

    from pyspark.sql import functions as F

    spark = export.spark
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    say("fitting the feature definition on Spark aggregations")
    with warnings.catch_warnings():
        # the builder's notes on the settings are returned with the training result, as pandas training does
        warnings.filterwarnings("ignore", message=r"features\.", category=UserWarning)
        builder = fit_builder(export, settings.features)
    seconds["fit_features"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    say("building the point-in-time training set on Spark")
    path = f"{work_dir.rstrip('/')}/training_set"
    training_rows(export, builder, settings.snapshots).write.mode("overwrite").parquet(path)
    rows = spark.read.parquet(path)
    seconds["training_set"] = time.perf_counter() - t1
    totals = rows.agg(F.count(F.lit(1)).alias("snapshots"),
                      F.sum(F.when(~F.col("labelled"), 1).otherwise(0)).alias("censored"),
                      F.sum(F.when(F.col("labelled"), F.col("label").cast("long")).otherwise(0)).alias("positives"),
                      F.countDistinct(F.when(F.col("labelled"), F.col("lead_id"))).alias("leads_with_rows")).first()
    counts = {"leads": int(export.counts.get("leads", 0)), "snapshots": int(totals["snapshots"]),
              "censored": int(totals["censored"] or 0),
              "labelled": int(totals["snapshots"]) - int(totals["censored"] or 0),
              "positives": int(totals["positives"] or 0), "leads_with_rows": int(totals["leads_with_rows"])}
    t2 = time.perf_counter()
    say("bringing the sample of buying groups to the driver")
    labelled = rows.filter(F.col("labelled"))
    chosen, sampled = _sample_groups(labelled, settings.train.max_fit_rows, settings.train.seed)
    if sampled:
        keep = spark.createDataFrame([(g,) for g in chosen], f"{GROUP} string")
        keep = F.broadcast(keep) if len(chosen) < 100_000 else keep
        leads = export.leads.join(keep, GROUP)
        labelled = labelled.join(keep, GROUP)
        activities = export.activities.join(leads.select(BUCKET, "lead_id"), [BUCKET, "lead_id"])
    else:
        leads, activities = export.leads, export.activities
    snapshots, X = training_frames(labelled.toArrow(), builder)
    dataset = driver_dataset(export, leads, activities)
    training_set = TrainingSet(snapshots, X, builder, export.as_of, settings.snapshots.horizon_days, counts)
    seconds["sample"] = time.perf_counter() - t2
    return SparkTraining(dataset, training_set, path, counts, fingerprint(export), sampled, seconds)


def _sample_groups(rows: Any, limit: int, seed: int) -> tuple[list[str], bool]:
    """Buying groups whose labelled snapshots add up to at most ``limit``, taken in the
    order of a seeded hash of their name; (the groups, whether some were left out)."""
    from pyspark.sql import functions as F

    sizes = rows.groupBy(GROUP).agg(F.count(F.lit(1)).alias("n")).toArrow().to_pandas()
    if int(sizes["n"].sum()) <= limit:
        return sizes[GROUP].tolist(), False
    order = np.array([hashlib.sha256(f"{seed}:{g}".encode()).hexdigest() for g in sizes[GROUP]])
    sizes = sizes.iloc[np.argsort(order, kind="stable")]
    keep = sizes[np.cumsum(sizes["n"].to_numpy()) <= limit]
    return keep[GROUP].tolist(), True


def driver_dataset(export: SparkExport, leads: Any, activities: Any) -> Dataset:
    """The validated rows of ``leads`` (and their activities and outcomes) as a pandas
    ``Dataset`` on the driver: leads in export order, each lead's activities in its order."""
    frame = leads.toArrow().to_pandas().sort_values(ROW, kind="stable").reset_index(drop=True)
    lead_frame = frame[lead_columns(export)].reset_index(drop=True)
    done = (frame[SQL_AT].notna() | frame[DISQUALIFIED_AT].notna()).to_numpy()
    outcomes = frame.loc[done, ["lead_id", SQL_AT, DISQUALIFIED_AT]].rename(
        columns={SQL_AT: "sql_at", DISQUALIFIED_AT: "disqualified_at"}).reset_index(drop=True)
    acts = activities.toArrow().to_pandas().sort_values([BUCKET, ROW], kind="stable")
    columns = [c for c in ACTIVITY_COLUMNS if c != "detail" or export.has_detail]
    return Dataset(lead_frame, acts[columns].reset_index(drop=True), outcomes, export.as_of, export.report,
                   empty_rejects())


def fingerprint(export: SparkExport) -> dict[str, Any]:
    """The run's data fingerprint over the whole validated export (no personal data):
    rows per table, time range, as-of time and a content hash. The hash is SHA-256 of
    the sums of Spark's 64-bit row hashes of the validated leads and activities, which
    do not depend on how the rows are split or ordered (it differs from the pandas
    engine's hash of its frames)."""
    from pyspark.sql import functions as F

    digest = hashlib.sha256()
    rows: dict[str, int] = {}
    for name, frame in (("leads", export.leads), ("activities", export.activities)):
        columns = [c for c in frame.columns if not c.startswith("__")]
        total = frame.select(F.sum(F.xxhash64(*columns).cast("decimal(38,0)")).alias("h"),
                             F.count(F.lit(1)).alias("n")).first()
        rows[name] = int(total["n"])
        digest.update(name.encode())
        digest.update(str(total["h"]).encode())
    report = export.report
    rows["outcomes"] = int(report.rows_kept.get("outcomes", 0))
    return {"rows": rows, "time_range": [str(report.time_min), str(report.time_max)], "as_of": str(export.as_of),
            "sha256": digest.hexdigest(), "engine": "spark",
            "hash": "sha256 of the sums of Spark xxhash64 row hashes of leads and activities (order-free)"}

