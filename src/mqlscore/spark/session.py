"""A SparkSession for the Spark engine: ``local[N]`` on one machine or any master.

On a local master everything binds to 127.0.0.1, Python workers run this
interpreter (``PYSPARK_PYTHON`` = ``sys.executable``: without it they run the
``python3`` on PATH, which lacks the package), the web UI is off and the logs say
only errors. On a cluster the driver's address and the executors' Python are the
cluster's own settings (``spark.pyspark.python``, ``PYSPARK_PYTHON``), which are
kept; the package must be installed on the executors.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

DEFAULT_MASTER = "local[2]"
DEFAULT_DRIVER_MEMORY = "2g"
# Python workers of the executors: per worker, how much memory an aggregation may hold
# before spilling (Spark's own default is 512m).
DEFAULT_PYTHON_WORKER_MEMORY = "512m"


class SparkUnavailable(RuntimeError):
    """Spark cannot start here (no Java runtime, no PySpark, or the JVM failed); the
    message says why."""


def is_local(master: str) -> bool:
    """Whether ``master`` runs Spark inside this machine's driver process (``local``, ``local[N]``, ``local[*]``)."""
    return master == "local" or master.startswith("local[")


def java_problem() -> str | None:
    """Why no Java runtime can be used (None when ``JAVA_HOME`` or ``java`` on PATH names one)."""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return None
    if shutil.which("java"):
        return None
    return ("no Java runtime: Spark needs one (Debian: apt-get install openjdk-17-jre-headless; or set JAVA_HOME)")


def submitted_master() -> str | None:
    """The ``spark.master`` that ``spark-submit`` gave this driver program, or None when it
    was not launched by ``spark-submit`` (no gateway to connect to). A driver program passes
    it to :func:`spark_session`, so that the session runs where it was submitted (docs/scale.md)."""
    if not os.environ.get("PYSPARK_GATEWAY_PORT"):
        return None
    from pyspark import SparkConf, SparkContext

    # a SparkConf made before PySpark has joined spark-submit's JVM holds no defaults: join it first
    SparkContext._ensure_initialized()
    return SparkConf().get("spark.master", None)


def active_session() -> Any:
    """The SparkSession already running in this process, or None (PySpark not loaded counts as none)."""
    if "pyspark" not in sys.modules:
        return None
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def spark_session(master: str = DEFAULT_MASTER, *, app_name: str = "mqlscore",
                  driver_memory: str = DEFAULT_DRIVER_MEMORY, executor_memory: str | None = None,
                  shuffle_partitions: int | None = None, conf: dict[str, str] | None = None) -> Any:
    """Start (or reuse) a SparkSession on ``master`` with bounded memory.

    ``driver_memory`` bounds the driver JVM (in local mode the executors run inside
    it) when this process starts it (under ``spark-submit`` it runs already, sized by
    ``--driver-memory``); ``executor_memory`` each executor's JVM on a cluster. Times are UTC
    (``spark.sql.session.timeZone``), so instants never shift with the machine's
    zone. ``conf`` adds or overrides settings. Raises :class:`SparkUnavailable`
    when Java or PySpark is missing or the JVM does not start."""
    problem = java_problem()
    if problem:
        raise SparkUnavailable(problem)
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - pyspark is a locked dependency
        raise SparkUnavailable(f"PySpark is not installed ({exc})") from None
    local = is_local(master)
    if local:
        # the workers must import mqlscore: this interpreter, not whatever python3 is on PATH
        os.environ["PYSPARK_PYTHON"] = sys.executable
        os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    settings = {
        "spark.app.name": app_name,
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.python.worker.memory": DEFAULT_PYTHON_WORKER_MEMORY,
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # instants written as UTC microseconds (Spark's default INT96 reads back as naive nanoseconds)
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        # grouped Arrow functions get each group whole; scalar ones (spark_udf) batches of this many rows
        "spark.sql.execution.arrow.maxRecordsPerBatch": "10000",
    }
    if not os.environ.get("PYSPARK_GATEWAY_PORT"):
        # this process starts the driver's JVM; under spark-submit it runs already, sized by --driver-memory
        settings["spark.driver.memory"] = driver_memory
    if local:
        # a cluster's users want its web UI; on one machine (tests, benchmarks) it is a port and a thread less
        settings["spark.ui.enabled"] = "false"
        settings.update({"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
                         "spark.pyspark.python": sys.executable, "spark.pyspark.driver.python": sys.executable})
        # Spark's 200 shuffle parts are made for clusters; a few per core suit one machine
        settings["spark.sql.shuffle.partitions"] = str(shuffle_partitions or 4 * _cores(master))
    elif shuffle_partitions:
        settings["spark.sql.shuffle.partitions"] = str(shuffle_partitions)
    if executor_memory:
        settings["spark.executor.memory"] = executor_memory
    settings["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile={_quiet_log_config()}"
    settings.update(conf or {})
    # PySpark 4.3 warns about pandas 3 when its pandas helpers load; the engine hands data to
    # pandas through Arrow itself (mqlscore.spark.parts), never through PySpark's pandas conversion
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    builder = SparkSession.builder.master(master)
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # noqa: BLE001 - py4j and the JVM raise many kinds; all mean "no Spark"
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise SparkUnavailable(f"Spark did not start on {master}: {first}") from None
    return spark


def _cores(master: str) -> int:
    """The cores of a local master (``local[4]`` -> 4, ``local[*]`` -> this machine's)."""
    inside = master[len("local["):-1] if master.startswith("local[") else "1"
    if inside.startswith("*"):
        return os.cpu_count() or 1
    try:
        return max(int(inside.split(",")[0]), 1)
    except ValueError:
        return 1


_LOG_CONFIG = """\
rootLogger.level = error
rootLogger.appenderRef.console.ref = console
logger.submit.name = org.apache.spark.deploy.SparkSubmit
logger.submit.level = error
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = error
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
"""


def _quiet_log_config() -> str:
    """A log4j2 configuration that lets the JVM say errors only (Spark's default says warnings
    and a start-up banner), written once into the temporary folder."""
    path = Path(tempfile.gettempdir()) / "mqlscore-spark-log4j2.properties"
    if not path.is_file() or path.read_text() != _LOG_CONFIG:
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(_LOG_CONFIG)
        os.replace(temporary, path)
    return str(path)
