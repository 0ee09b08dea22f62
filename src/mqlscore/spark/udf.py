"""Scoring from your own Spark job with ``mlflow.pyfunc.spark_udf`` on the registered model.

The registered model (``mqlscore.mlflow_model``) takes raw contract rows: one row
per lead with the contract's lead columns and its activities as a JSON list, and
scores each lead with the other leads of its account *in the same call* as its
buying group. ``spark_udf`` calls the model once per Arrow batch of a partition,
so the rows must be laid out with each buying group inside one batch: that is
what :func:`pyfunc_input` and :func:`pyfunc_scores` do::

    from mqlscore.spark.udf import pyfunc_input, pyfunc_scores

    rows = pyfunc_input(leads, activities)          # Spark DataFrames of contract rows
    scores = pyfunc_scores(spark, "models:/mqlscore@champion", rows, as_of="2026-09-30T00:00:00Z")
    scores.write.parquet("scores.parquet")

which amounts to::

    import mlflow
    udf = mlflow.pyfunc.spark_udf(spark, "models:/mqlscore@champion", result_type=RESULT_TYPE,
                                  env_manager="local", params={"as_of": "2026-09-30T00:00:00Z"})
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "0")   # a batch = a whole partition
    signature = mlflow.models.get_model_info("models:/mqlscore@champion").signature
    columns = [spec.name for spec in signature.inputs.inputs]             # the signature's inputs, by name
    scores = rows.select(udf(F.struct(*columns)).alias("s")).select("s.*")

with ``rows`` repartitioned by buying group (an account's leads together, a lead
without an account alone). The struct holds exactly the inputs the model's signature
names (:func:`model_inputs`), each cast to its declared type: MLflow drops any column
the signature does not name before the model sees it, so an extra lead column reaches
the model only when it was registered with it in its signature.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mqlscore.contract.schema import COUNT_COLUMNS, LEAD_COLUMNS, PYFUNC_OUTPUT_COLUMNS

_TYPES = {"probability": "double", "score": "double", "is_mql": "boolean", "fit_points": "double",
          "intent_points": "double"}
# The model's output as a Spark struct (mlflow.pyfunc.spark_udf's result_type).
RESULT_TYPE = ", ".join(f"{c} {_TYPES.get(c, 'string')}" for c in PYFUNC_OUTPUT_COLUMNS)
_ISO = "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX"


def _text(frame: Any, column: str) -> Any:
    """A column as the pyfunc's text: instants as ISO-8601 UTC to the microsecond."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    kind = frame.schema[column].dataType
    if isinstance(kind, (T.TimestampType, T.TimestampNTZType)):
        return F.date_format(F.col(column), _ISO)
    return F.col(column).cast("string")


def pyfunc_input(leads: Any, activities: Any | None = None, *, partitions: int | None = None) -> Any:
    """The registered model's input on Spark: one row per lead of ``leads`` with the
    contract's lead columns (counts as numbers, everything else as text, instants
    ISO-8601 UTC), the leads' other columns as they are (a model may have learned from
    them; :func:`pyfunc_scores` passes on those its signature names) and ``activities``,
    a JSON list of the lead's activities (``occurred_at``, ``activity_type``,
    ``detail``), repartitioned so that a buying group is never split across partitions
    (and sorted by group within them)."""
    from pyspark.sql import functions as F

    from mqlscore.spark.read import id_text

    columns = []
    for column in LEAD_COLUMNS:
        if column not in leads.columns:
            columns.append(F.lit(None).cast("double" if column in COUNT_COLUMNS else "string").alias(column))
        elif column in COUNT_COLUMNS:
            columns.append(F.col(column).cast("double").alias(column))
        else:
            columns.append(_text(leads, column).alias(column))
    extras = [c for c in leads.columns if c not in LEAD_COLUMNS and c != "activities"]
    rows = leads.select(*columns, *[F.col(c) for c in extras])
    if activities is not None:
        detail = _text(activities, "detail") if "detail" in activities.columns else F.lit(None).cast("string")
        event = F.struct(_text(activities, "occurred_at").alias("occurred_at"),
                         F.col("activity_type").cast("string").alias("activity_type"), detail.alias("detail"))
        lists = activities.groupBy(F.col("lead_id").cast("string").alias("lead_id")).agg(
            F.to_json(F.array_sort(F.collect_list(event))).alias("activities"))
        rows = rows.join(lists, "lead_id", "left")
    else:
        rows = rows.withColumn("activities", F.lit(None).cast("string"))
    # the buying group as features.account.buying_groups strips it (all of Python's whitespace)
    account = id_text(rows, "account_id")
    group = F.coalesce(F.concat(F.lit("account:"), account), F.concat(F.lit("lead:"), F.col("lead_id")))
    n = partitions or max(rows.sparkSession.sparkContext.defaultParallelism * 2, 1)
    return rows.repartition(n, group).sortWithinPartitions(group)


def model_inputs(model_uri: str) -> list[tuple[str, str]]:
    """(name, MLflow type) of each input column the model at ``model_uri`` declares in its
    signature, in its order (only the model's ``MLmodel`` file is read)."""
    from mqlscore.registry import configure

    mlflow = configure()
    signature = mlflow.models.get_model_info(model_uri).signature
    if signature is None or signature.inputs is None:
        return [(c, "double" if c in COUNT_COLUMNS else "string") for c in (*LEAD_COLUMNS, "activities")]
    return [(spec.name, str(getattr(spec.type, "name", spec.type))) for spec in signature.inputs.inputs]


def _as_declared(rows: Any, name: str, kind: str) -> Any:
    """Column ``name`` of ``rows`` as the signature declares it (missing: null)."""
    from pyspark.sql import functions as F

    spark_type = "double" if kind in ("double", "float", "long", "integer") else "string"
    if name not in rows.columns:
        return F.lit(None).cast(spark_type).alias(name)
    if spark_type == "string":
        return _text(rows, name).alias(name)
    return F.col(name).cast(spark_type).alias(name)


def pyfunc_scores(spark: Any, model_uri: str, rows: Any, as_of: str | pd.Timestamp | None = None) -> Any:
    """``mlflow.pyfunc.spark_udf`` of the registered model at ``model_uri`` applied to
    ``rows`` (:func:`pyfunc_input`), scoring at ``as_of`` (default: now): a Spark
    DataFrame with the model's output columns (``PYFUNC_OUTPUT_COLUMNS``; reasons as
    JSON text). The model gets exactly the inputs its signature names, cast to their
    declared types. Sets ``spark.sql.execution.arrow.maxRecordsPerBatch`` to no limit on
    the session, so that each call of the model gets a whole partition."""
    from pyspark.sql import functions as F

    from mqlscore.registry import configure

    mlflow = configure()
    params = {"as_of": "" if as_of is None else pd.Timestamp(as_of).isoformat()}
    udf = mlflow.pyfunc.spark_udf(spark, model_uri, result_type=RESULT_TYPE, env_manager="local", params=params)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "0")
    # named inputs (a struct): the signature's optional columns rule out calling udf() bare
    inputs = F.struct(*[_as_declared(rows, name, kind) for name, kind in model_inputs(model_uri)])
    return rows.select(udf(inputs).alias("scored")).select("scored.*")
