"""The feature builder fitted from Spark aggregations, and snapshots, labels and
features computed per part with the package's own code.

:func:`fit_builder` sums ``FeatureBuilder.fit_summary`` over the parts on Spark
and fits on the driver with ``FeatureBuilder.fit_from_summary``: the builder the
pandas engine fits on the whole export (the same activity-type and site-section
vocabularies, categorical levels, extra-column kinds, quantiles and spellings).
:func:`training_rows` runs ``build_snapshots`` and ``FeatureBuilder.transform``
per part (``parts.training_part``).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mqlscore.config import FeatureConfig, SnapshotConfig
from mqlscore.contract.schema import ACTIVITY_COLUMNS, LEAD_COLUMNS
from mqlscore.features import FeatureBuilder
from mqlscore.spark import parts
from mqlscore.spark.parts import BUCKET, GROUP, ROW
from mqlscore.spark.read import SparkExport

def per_part(export: SparkExport, function: Any, schema: pa.Schema) -> Any:
    """``function(leads, activities)`` (Arrow tables of one part) over every part:
    ``groupBy(part).cogroup(...).applyInArrow``."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return (export.leads.groupBy(BUCKET).cogroup(export.activities.groupBy(BUCKET))
            .applyInArrow(function, from_arrow_schema(schema)))


def lead_columns(export: SparkExport) -> list[str]:
    """The validated leads' columns as the pandas engine holds them: the contract's, then the extras."""
    return [c for c in LEAD_COLUMNS if c in export.leads.columns] + list(export.extras)


def fit_builder(export: SparkExport, config: FeatureConfig | None = None,
                as_of: pd.Timestamp | None = None) -> FeatureBuilder:
    """The ``FeatureBuilder`` fitted on what existed at ``as_of`` (default: the export's):
    per part ``FeatureBuilder.fit_summary``, summed on Spark, fitted on the driver
    (a first pass finds the extra columns' kinds when there are extra columns)."""
    from pyspark.sql import functions as F

    config = config if config is not None else FeatureConfig()
    when = pd.Timestamp(as_of if as_of is not None else export.as_of).isoformat()
    options = {"config": config.model_dump(mode="json"), "as_of": when, **export.part_options()}
    columns = lead_columns(export)
    builder = FeatureBuilder(config)

    def summary(kinds: dict[str, str] | None, kinds_only: bool) -> pd.DataFrame:
        frame = per_part(export, lambda leads, acts: parts.summary_part(leads, acts, kinds=kinds, kinds_only=kinds_only,
                                                                        **options), parts.summary_schema())
        merged = frame.groupBy("part", "key", "value", "label", "number").agg(
            F.sum("count").alias("count"), F.min("first").alias("first"))
        return merged.toArrow().to_pandas(types_mapper=None).astype({"value": object, "label": object})

    kinds = builder.summary_kinds(summary(None, True), columns) if export.extras else {}
    return builder.fit_from_summary(summary(kinds, False), columns)


def feature_schema(builder: FeatureBuilder) -> list[pa.Field]:
    """Arrow fields of the builder's features, from the builder itself (one made-up lead
    transformed): categories as text, numbers at the width ``transform`` gives them."""
    created = pd.Series([pd.Timestamp("2000-01-01", tz="UTC")]).astype("datetime64[us, UTC]")
    leads = pd.DataFrame({"lead_id": pd.array(["example"], dtype="str"), "created_at": created})
    activities = pd.DataFrame({c: pd.Series(dtype="datetime64[us, UTC]" if c == "occurred_at" else "str")
                               for c in ACTIVITY_COLUMNS})
    snapshots = pd.DataFrame({"lead_id": ["example"], "as_of": created + pd.Timedelta(days=1)})
    X = builder.transform(leads, activities, snapshots)
    fields = []
    for name, dtype in X.dtypes.items():
        if isinstance(dtype, pd.CategoricalDtype):
            fields.append(pa.field(name, pa.string()))
        elif dtype == np.float32:
            fields.append(pa.field(name, pa.float32()))
        else:
            fields.append(pa.field(name, pa.float64()))
    return fields


def training_schema(builder: FeatureBuilder) -> pa.Schema:
    """Columns of a training-set row: the snapshot, its lead's row in the export and buying
    group, its features."""
    return pa.schema([pa.field("lead_id", pa.string()), pa.field("as_of", pa.timestamp("us", tz="UTC")),
                      pa.field("kind", pa.string()), pa.field("labelled", pa.bool_()), pa.field("label", pa.int8()),
                      pa.field(ROW, pa.int64()), pa.field(GROUP, pa.string()), *feature_schema(builder)])


def training_rows(export: SparkExport, builder: FeatureBuilder, snapshots: SnapshotConfig | None = None,
                  as_of: pd.Timestamp | None = None) -> Any:
    """Every snapshot of every lead (``build_snapshots``), with its label and, when
    labelled (its horizon ends by the as-of time), its features (``transform``), as a
    Spark DataFrame computed per part. The builder travels to the executors once, as a
    broadcast of its saved definition."""
    snapshots = snapshots if snapshots is not None else SnapshotConfig()
    schema = training_schema(builder)
    definition = export.spark.sparkContext.broadcast(json.dumps(builder.to_dict()))
    options = {"snapshots": snapshots.model_dump(mode="json"), "schema": schema,
               "as_of": pd.Timestamp(as_of if as_of is not None else export.as_of).isoformat(), **export.part_options()}
    return per_part(export, lambda leads, acts: parts.training_part(leads, acts, definition=definition.value,
                                                                    **options), schema)


def training_frames(table: pa.Table, builder: FeatureBuilder) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Labelled training rows read back on the driver as the pandas engine's
    ``TrainingSet`` holds them: snapshots (``lead_id``, ``as_of``, ``kind``, ``label``)
    and features, in its order (leads in export order, then time)."""
    frame = table.to_pandas()
    frame = frame.sort_values([ROW, "as_of"], kind="stable").reset_index(drop=True)
    snapshots = pd.DataFrame({"lead_id": frame["lead_id"].astype("str"), "as_of": frame["as_of"],
                              "kind": frame["kind"].astype("str"), "label": frame["label"].to_numpy(np.int8)})
    columns: dict[str, Any] = {}
    for spec in builder.specs_:
        values = frame[spec.name]
        if spec.kind == "categorical":
            columns[spec.name] = pd.Categorical(values.to_numpy(dtype=object), categories=builder.categories_[spec.signal])
        else:
            columns[spec.name] = values.to_numpy()
    return snapshots, pd.DataFrame(columns, index=snapshots.index)
