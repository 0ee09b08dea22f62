"""The Spark engine (issue 15) on ``local[2]``: the same export gives the pandas engine's
validation report, feature builder, training set and scores; ``spark_udf`` on the
registered model gives the batch scores; ``train --engine spark`` registers a model.

One SparkSession serves the module. Without Java (or when Spark cannot start) the
tests that need it skip with the reason, or fail when ``MQLSCORE_REQUIRE_SPARK=1``
(``make test`` sets it where ``java`` is installed). The export is written with
small Parquet row groups and read in 16 KB splits, so an account's leads arrive in
several input partitions and meet again in their part.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.spark

REQUIRE_SPARK_ENV = "MQLSCORE_REQUIRE_SPARK"
MODEL_NAME = "mql-spark"
TIMINGS: dict[str, float] = {}


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def spark():
    """A local[2] SparkSession for the module (stopped at its end)."""
    from support import cannot_start

    from mqlscore.spark.session import SparkUnavailable, spark_session

    started = time.perf_counter()
    try:
        session = spark_session("local[2]", conf={"spark.sql.files.maxPartitionBytes": "16k",
                                                  "spark.sql.files.openCostInBytes": "1k"})
    except SparkUnavailable as exc:
        cannot_start("Spark", exc, REQUIRE_SPARK_ENV)
    TIMINGS["session"] = time.perf_counter() - started
    yield session
    session.stop()
    # for the record (shown with -s): what each step of this module took
    print("\nSpark test timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in TIMINGS.items()))


@pytest.fixture(scope="module")
def export(small_export: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small shared export (700 leads) as a Parquet export, rows in groups of 100."""
    import pyarrow.parquet as pq

    from mqlscore.contract import load_folder, write_tables

    folder = tmp_path_factory.mktemp("spark-export") / "export"
    for path in write_tables(load_folder(small_export), folder, "parquet").values():
        pq.write_table(pq.read_table(path), path, row_group_size=100)
    return folder


@pytest.fixture(scope="module")
def dataset(export: Path):
    from mqlscore.contract import load_folder

    return load_folder(export)


@pytest.fixture(scope="module")
def spark_export(spark, export: Path):
    """The export read and validated on Spark, in three parts."""
    from mqlscore.spark.read import read_export

    started = time.perf_counter()
    read = read_export(spark, export, buckets=3)
    TIMINGS["read_validate"] = time.perf_counter() - started
    yield read
    read.release()


@pytest.fixture(scope="module")
def settings():
    """Settings of the trainings here (no half-lives: the report's, not the model's)."""
    from mqlscore.config import FeatureConfig, Settings, TrainConfig

    # product_interest, an extra lead column, is left out: the registered model's MLflow
    # signature carries the contract's columns only, so spark_udf could not pass it on
    return Settings(train=TrainConfig(model_name=MODEL_NAME, estimate_half_lives=False, refit=False),
                    features=FeatureConfig(exclude_columns=("product_interest",)))


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory):
    from support import tracking_store

    with tracking_store(tmp_path_factory.mktemp("spark-mlflow")) as root:
        yield root


@pytest.fixture(scope="module")
def trained(spark, export: Path, settings, tracking: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``mqlscore train --engine spark`` into the temporary MLflow store."""
    import yaml
    from typer.testing import CliRunner

    from mqlscore.cli import app

    folder = tmp_path_factory.mktemp("spark-train")
    config = folder / "settings.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json")))
    started = time.perf_counter()
    result = CliRunner().invoke(app, ["train", "--engine", "spark", "--data", str(export), "--config", str(config),
                                      "--work-dir", str(folder / "work"), "--report-dir", str(folder / "models"),
                                      "--promote", "always"])
    TIMINGS["cli_train"] = time.perf_counter() - started
    assert result.exit_code == 0, result.output + repr(result.exception)
    return {"output": result.output, "work": folder / "work", "reports": folder / "models"}


# ----------------------------------------------------------------------------- fitting from a summary (no Spark)


def _frames_with_extras(dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The dataset's leads with extra columns of every kind, ties among equally frequent
    levels and a boolean column with missing values."""
    leads = dataset.leads.copy()
    n = len(leads)
    position = np.arange(n)
    leads["seats"] = np.where(position % 7 == 0, np.nan, (position % 13) * 1.5)
    leads["paid"] = pd.array([[True, False, None][i % 3] for i in position], dtype=object)
    leads["plan"] = [["Gold", "gold ", "Silver", None, "Bronze", "Tin", "Iron"][i % 7] for i in position]
    return leads, dataset.activities


@pytest.mark.parametrize("config", [
    {}, {"min_category_count": 3}, {"min_category_count": 2, "max_categories": 5},
], ids=["defaults", "rare-levels", "ties-at-the-cut"])
def test_fit_from_summaries_of_parts_is_fit(dataset, config) -> None:
    """FeatureBuilder.fit_from_summary on the merged summaries of random parts equals fit
    on the whole (vocabularies, levels (ties at the max_categories cut included), kinds,
    quantiles, spellings, specs), whatever the split."""
    from mqlscore.config import FeatureConfig
    from mqlscore.features import FeatureBuilder
    from mqlscore.features.builder import merge_fit_summaries

    leads, activities = _frames_with_extras(dataset)
    cfg = FeatureConfig(**config)
    whole = FeatureBuilder(cfg).fit(leads, activities)
    assert whole.extras_ == {"product_interest": "categorical", "seats": "numeric", "paid": "categorical",
                             "plan": "categorical"}
    for seed, n_parts in ((1, 2), (2, 5)):
        part = np.random.default_rng(seed).integers(0, n_parts, len(leads))

        def summaries(kinds: dict[str, str] | None, part: np.ndarray = part, n_parts: int = n_parts) -> pd.DataFrame:
            out = []
            for k in range(n_parts):
                mask = part == k
                ids = set(leads.loc[mask, "lead_id"])
                out.append(FeatureBuilder(cfg).fit_summary(leads[mask], activities[activities["lead_id"].isin(ids)],
                                                           rows=np.flatnonzero(mask), kinds=kinds))
            return merge_fit_summaries(out)

        builder = FeatureBuilder(cfg)
        kinds = builder.summary_kinds(summaries(None), list(leads.columns))
        builder.fit_from_summary(summaries(kinds), list(leads.columns))
        assert builder.to_dict() == whole.to_dict()
        assert builder.specs_ == whole.specs_ and builder.notes_ == whole.notes_


def test_fit_from_summary_without_activities_or_details(dataset) -> None:
    """No activity at all: no intent learned, as fit; no ``detail`` column: no site sections."""
    from mqlscore.features import FeatureBuilder
    from mqlscore.features.builder import merge_fit_summaries

    leads = dataset.leads
    for activities in (dataset.activities.iloc[:0], dataset.activities.drop(columns="detail")):
        whole = FeatureBuilder().fit(leads, activities)
        summary = merge_fit_summaries([FeatureBuilder().fit_summary(leads, activities,
                                                                     kinds={"product_interest": "categorical"})])
        assert FeatureBuilder().fit_from_summary(summary, list(leads.columns)).to_dict() == whole.to_dict()
    assert not FeatureBuilder().fit(leads, dataset.activities.iloc[:0]).intent_learned


# ----------------------------------------------------------------------------- validation


def test_the_spark_report_is_the_pandas_report(spark_export, dataset) -> None:
    assert spark_export.report.to_text() == dataset.report.to_text()
    assert spark_export.as_of == dataset.as_of
    assert spark_export.leads.count() == len(dataset.leads)
    assert spark_export.activities.count() == len(dataset.activities)


def _broken_export(folder: Path) -> Path:
    """A Parquet export breaking the contract across buying groups: a lead id given twice
    under two accounts, an unparsable and a missing creation time, activities of an
    unknown lead, exact duplicates, an empty type and unknown types, an SQL before its
    lead's creation, an outcome of an unknown lead."""
    folder.mkdir(parents=True)
    n = 60
    ids = [f"L{i:03d}" for i in range(n)]
    ids[7] = ids[3]
    created = [f"2025-0{1 + i % 6}-1{i % 9}T10:00:00Z" for i in range(n)]
    created[11], created[12] = "next tuesday", None
    leads = pd.DataFrame({"lead_id": ids, "created_at": created,
                          "account_id": [None if i % 4 == 0 else f"A{i % 5}" for i in range(n)],
                          "job_title": [["CIO", "VP Finance", "Nurse", None][i % 4] for i in range(n)],
                          "employee_count": [float(100 * i) for i in range(n)], "tier": [f"T{i % 3}" for i in range(n)]})
    rows = [{"lead_id": ids[i % n], "occurred_at": f"2025-07-{1 + i % 28:02d}T09:{i % 60:02d}:00Z",
             "activity_type": ["page_view", "email_open", "demo_request", "Webinar-Watched", "podcast"][i % 5],
             "detail": ["/pricing", None, "/security/baa", "/events/x", None][i % 5]} for i in range(300)]
    rows += [dict(rows[5]), dict(rows[6]), {"lead_id": "NOPE", "occurred_at": "2025-07-01T00:00:00Z",
                                            "activity_type": "page_view", "detail": "/"},
             {"lead_id": ids[20], "occurred_at": "2025-07-02T00:00:00Z", "activity_type": " ", "detail": None}]
    activities = pd.DataFrame(rows)
    outcomes = pd.DataFrame({"lead_id": [ids[1], ids[2], ids[30], "GHOST"],
                             "sql_at": ["2025-08-01T00:00:00Z", "2024-01-01T00:00:00Z", None, "2025-08-01T00:00:00Z"],
                             "disqualified_at": [None, None, "2025-09-01T00:00:00Z", None]})
    for name, frame in (("leads", leads), ("activities", activities), ("outcomes", outcomes)):
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def _problems(report) -> list[tuple]:
    return sorted((p.severity, p.table, p.column or "", p.message, p.count, str(p.examples)) for p in report.problems)


def test_a_broken_export_is_reported_as_pandas_reports_it(spark, tmp_path: Path) -> None:
    """Strict: the same errors and warnings (counted over all parts, first rows as
    examples) in a ContractError; lenient: the same report, kept rows and rejects count."""
    from mqlscore.contract import ContractError, load_folder
    from mqlscore.spark.read import read_export

    folder = _broken_export(tmp_path / "broken")
    with pytest.raises(ContractError) as pandas_error:
        load_folder(folder)
    with pytest.raises(ContractError) as spark_error:
        read_export(spark, folder, buckets=4)
    expected = pandas_error.value.report
    assert {p.message.split(" with ")[-1] for p in expected.errors} >= {"a duplicate lead_id (all rows sharing an "
                                                                         "id are listed)", "an unparsable timestamp"}
    assert _problems(spark_error.value.report) == _problems(expected)
    assert spark_error.value.report.error_text() == expected.error_text()

    lenient = load_folder(folder, lenient=True)
    on_spark = read_export(spark, folder, buckets=4, lenient=True)
    try:
        assert _problems(on_spark.report) == _problems(lenient.report)
        assert on_spark.report.rows_kept == lenient.report.rows_kept
        assert on_spark.report.n_rejects == lenient.report.n_rejects and on_spark.report.n_rejects > 0
        kept = on_spark.leads.select("lead_id").toArrow().column(0).to_pylist()
        assert sorted(kept) == sorted(lenient.leads["lead_id"])
    finally:
        on_spark.release()

    # a required column missing stops lenient validation too, with the same report
    pd.read_parquet(folder / "activities.parquet").drop(columns="activity_type").to_parquet(
        folder / "activities.parquet", index=False)
    with pytest.raises(ContractError) as pandas_error:
        load_folder(folder, lenient=True)
    with pytest.raises(ContractError) as spark_error:
        read_export(spark, folder, buckets=4, lenient=True)
    assert "activities.activity_type: required column 'activity_type' is missing" in str(spark_error.value)
    assert _problems(spark_error.value.report) == _problems(pandas_error.value.report)


# ----------------------------------------------------------------------------- features


def test_an_account_is_split_across_input_partitions_and_whole_in_its_part(spark, export: Path,
                                                                          spark_export) -> None:
    """What the feature test below relies on: the raw leads of some account arrive in
    several input partitions, and every account's leads are in one part."""
    from pyspark.sql import functions as F

    raw = spark.read.parquet(str(export / "leads.parquet")).withColumn("p", F.spark_partition_id())
    assert raw.rdd.getNumPartitions() > 1
    spread = raw.filter(F.col("account_id").isNotNull()).groupBy("account_id").agg(
        F.countDistinct("p").alias("n")).filter(F.col("n") > 1).count()
    assert spread > 0
    parts_per_account = spark_export.leads.filter(F.col("account_id").isNotNull()).groupBy("account_id").agg(
        F.countDistinct("__bucket").alias("n"))
    assert parts_per_account.agg(F.max("n")).first()[0] == 1
    groups_per_part = spark_export.leads.groupBy("__bucket").agg(F.countDistinct("__group").alias("n"))
    assert groups_per_part.agg(F.min("n")).first()[0] > 1


def test_spark_features_and_labels_are_the_pandas_ones(spark_export, dataset, tmp_path: Path) -> None:
    """The builder fitted from Spark aggregations is the pandas one; the training set
    written as Parquet holds the pandas engine's snapshots, labels, censoring and every
    feature (the buying-group ones included) row for row; what the driver fits on, with
    train.max_fit_rows below the labelled rows, is whole buying groups and their rows."""
    import pyarrow.parquet as pq

    from mqlscore.config import Settings, TrainConfig
    from mqlscore.features import build_training_set
    from mqlscore.spark.features import training_frames
    from mqlscore.spark.train import prepare_training

    started = time.perf_counter()
    prepared = prepare_training(spark_export, Settings(train=TrainConfig(max_fit_rows=10_000)), str(tmp_path / "work"))
    TIMINGS["training_set_spark"] = time.perf_counter() - started
    started = time.perf_counter()
    expected = build_training_set(dataset)
    TIMINGS["training_set_pandas"] = time.perf_counter() - started

    builder = prepared.training_set.builder
    assert builder.to_dict() == expected.builder.to_dict()
    rows = pq.read_table(prepared.path)
    labelled = rows.filter(rows.column("labelled"))
    assert rows.num_rows == expected.counts["snapshots"] == prepared.counts["snapshots"]
    assert rows.num_rows - labelled.num_rows == expected.counts["censored"] > 0
    snapshots, X = training_frames(labelled, builder)
    pd.testing.assert_frame_equal(snapshots, expected.snapshots)
    pd.testing.assert_frame_equal(X, expected.X, check_exact=False, rtol=0, atol=1e-9)
    account = [c for c in X.columns if c.startswith("account__")]
    assert len(account) > 3 and (X[account].fillna(0).to_numpy() > 0).any()

    sample = prepared.training_set
    assert prepared.sampled and 5_000 < len(sample.snapshots) <= 10_000 < len(expected.snapshots)
    leads = prepared.dataset.leads
    accounts = set(leads["account_id"].dropna())
    colleagues = dataset.leads[dataset.leads["account_id"].isin(accounts)]
    assert set(colleagues["lead_id"]) <= set(leads["lead_id"])  # whole buying groups
    assert list(leads["lead_id"]) == [i for i in dataset.leads["lead_id"] if i in set(leads["lead_id"])]
    chosen = expected.snapshots["lead_id"].isin(set(leads["lead_id"])).to_numpy()
    pd.testing.assert_frame_equal(sample.snapshots, expected.snapshots[chosen].reset_index(drop=True))
    pd.testing.assert_frame_equal(sample.X, expected.X[chosen].reset_index(drop=True), check_exact=False, rtol=0,
                                  atol=1e-9)
    mine = dataset.activities[dataset.activities["lead_id"].isin(set(leads["lead_id"]))]
    by_lead = lambda frame: frame.sort_values("lead_id", kind="stable").reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(by_lead(prepared.dataset.activities), by_lead(mine))


# ----------------------------------------------------------------------------- training and scoring


def test_train_on_spark_registers_a_model(trained: dict, tracking: Path) -> None:
    import mlflow

    from mqlscore.contract.schema import CHAMPION_ALIAS
    from mqlscore.registry import configure

    configure()
    version = mlflow.MlflowClient().get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS)
    assert str(version.version) == "1"
    assert f"Registered as models:/{MODEL_NAME}/1" in trained["output"]
    runs = list(trained["work"].iterdir())
    assert len(runs) == 1 and (runs[0] / "training_set").is_dir()
    written = pd.read_parquet(runs[0] / "training_set")
    assert written["labelled"].sum() > 0 and (~written["labelled"]).sum() > 0
    assert "Training set on Spark" in trained["output"] and "all of them" in trained["output"]


def _score_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("lead_id").reset_index(drop=True)


def test_spark_scores_are_the_batch_scores(trained: dict, export: Path, dataset, tmp_path: Path) -> None:
    """``mqlscore score --engine spark`` writes, as Parquet, the rows batch scoring gives."""
    from typer.testing import CliRunner

    from mqlscore.batch import score_open_leads
    from mqlscore.cli import app
    from mqlscore.contract.schema import SCORE_FILE_COLUMNS, champion_uri
    from mqlscore.registry import load_scoring_model

    out = tmp_path / "scores.parquet"
    started = time.perf_counter()
    result = CliRunner().invoke(app, ["score", "--engine", "spark", "--data", str(export), "--out", str(out),
                                      "--model", champion_uri(MODEL_NAME)])
    TIMINGS["cli_score_spark"] = time.perf_counter() - started
    assert result.exit_code == 0, result.output + repr(result.exception)
    got = _score_frame(pd.read_parquet(out))
    started = time.perf_counter()
    expected = _score_frame(score_open_leads(load_scoring_model(champion_uri(MODEL_NAME)), dataset))
    TIMINGS["score_pandas"] = time.perf_counter() - started
    assert list(got.columns) == list(SCORE_FILE_COLUMNS) and len(got) == len(expected) > 100
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=0, atol=1e-9)
    assert (got["model_version"] == "1").all()


def test_spark_udf_scores_are_the_batch_scores(spark, trained: dict, export: Path, dataset) -> None:
    """``mlflow.pyfunc.spark_udf`` on the registered model, over the export's lead and
    activity rows laid out by ``pyfunc_input``, scores each open lead as batch scoring does."""
    from mqlscore.batch import score_open_leads
    from mqlscore.contract.schema import PYFUNC_OUTPUT_COLUMNS, champion_uri
    from mqlscore.registry import load_scoring_model
    from mqlscore.spark.udf import pyfunc_input, pyfunc_scores

    uri = champion_uri(MODEL_NAME)
    expected = _score_frame(score_open_leads(load_scoring_model(uri), dataset))
    leads = spark.read.parquet(str(export / "leads.parquet"))
    activities = spark.read.parquet(str(export / "activities.parquet"))
    started = time.perf_counter()
    scored = pyfunc_scores(spark, uri, pyfunc_input(leads, activities), as_of=dataset.as_of).toArrow().to_pandas()
    TIMINGS["spark_udf"] = time.perf_counter() - started
    assert list(scored.columns) == list(PYFUNC_OUTPUT_COLUMNS) and len(scored) == len(dataset.leads)
    got = _score_frame(scored[scored["lead_id"].isin(set(expected["lead_id"]))])
    assert list(got["lead_id"]) == list(expected["lead_id"])
    for column in ("probability", "score", "fit_points", "intent_points"):
        np.testing.assert_allclose(got[column].to_numpy(), expected[column].to_numpy(), rtol=0, atol=1e-9)
    assert list(got["tier"]) == list(expected["tier"]) and list(got["is_mql"]) == list(expected["is_mql"])
    assert list(got["reasons"]) == list(expected["reasons_json"])

