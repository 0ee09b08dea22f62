"""The Spark engine: exports too big for pandas, with the package's own code.

``mqlscore train --engine spark`` and ``mqlscore score --engine spark`` read a
Parquet export (a local folder or any path Spark reads), check it with the
contract's own :func:`~mqlscore.contract.validate_tables` per part of the data,
and compute snapshots, labels and features with the package's own feature code
(``FeatureBuilder.transform``, ``build_snapshots``) per part, never a rewrite:

* :mod:`.session` starts a bounded SparkSession (``local[N]`` or any master);
* :mod:`.read` reads and validates the export; leads are partitioned by buying
  group (an account's leads together, a lead without an account alone, the rule
  of ``features.account.buying_groups``), the group hashed to one of N parts, and
  each lead's activities and outcomes follow it;
* :mod:`.features` fits the ``FeatureBuilder`` on the driver from counts
  aggregated on Spark (``FeatureBuilder.fit_summary`` / ``fit_from_summary``:
  the builder pandas would fit) and runs snapshots and ``transform`` per part;
* :mod:`.train` writes the point-in-time training set as Parquet, samples whole
  buying groups up to ``train.max_fit_rows`` snapshots and fits on the driver
  with ``mqlscore.training``; :mod:`.score` runs the registered model per part on
  the executors and writes the score file as Parquet; :mod:`.udf` scores with
  ``mlflow.pyfunc.spark_udf`` from a user's own Spark job.

PySpark is imported inside functions only: importing this package costs nothing.
"""
