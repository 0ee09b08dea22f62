"""A Parquet export read on Spark and checked through the data contract.

The rule is the contract's own :func:`~mqlscore.contract.validate_tables`, run per
part with ``groupBy(part).applyInArrow`` (the grouped-map of ``applyInPandas``,
given Arrow tables so that each part's frames are the ones ``pd.read_parquet``
makes). Parts are whole buying groups, so the checks that join tables (an
activity of an unknown lead, an outcome before its lead's creation, a lead set
aside with its rejected outcome, exact duplicate activities) see everything they
need. Three checks look across parts and are arranged for:

* a ``lead_id`` given twice: every row of a repeated id is put in the part of
  the group ``lead:<id>``, where validation finds all of them;
* rows of unknown leads (activities or outcomes whose ``lead_id`` no lead has)
  go to a part that has leads, where validation sets them aside with its warning;
* the as-of time, when not given, is the latest timestamp of the kept rows of
  all parts (with none given, validation sets nothing aside for being late).

The parts' reports are merged into one (:func:`merge_reports`): counts added,
each problem once with its rows counted over all parts and its first example
rows, as ``mqlscore validate`` reports them. Why not the leads table on the
driver: the checks between tables need the activities, which do not fit there.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pandas as pd

from mqlscore.contract import ContractError, Problem, ValidationReport
from mqlscore.contract.report import MAX_EXAMPLES
from mqlscore.contract.schema import LEAD_COLUMNS, TABLES
from mqlscore.spark import parts
from mqlscore.spark.parts import BUCKET, DISQUALIFIED_AT, GROUP, REPORT, ROW, ROW_MARKER, SQL_AT, TABLE

# Leads per part by default: a part's feature matrix and event pairs then take a few
# hundred MB in a Python worker, whatever the size of the export.
LEADS_PER_PART = 10_000
_ID = "__id"
# Python's str.strip() removes exactly these characters (all of Unicode checked): the
# contract's ids are stripped text, and Spark must strip the same to route rows alike.
_WHITESPACE = "".join(f"\\u{ord(c):04x}" for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
_STRIP = f"\\A[{_WHITESPACE}]+|[{_WHITESPACE}]+\\z"


@dataclass
class SparkExport:
    """A validated export on Spark: the kept rows of each table, by part.

    ``leads`` has ``__bucket`` (the part), ``__row`` (the lead's row in the export),
    ``__group`` (its buying group), the contract's columns it was given, then its extra columns, and the lead's
    outcome in ``__sql_at`` and ``__disqualified_at``; ``activities`` has
    ``__bucket``, ``__row`` (its position among its part's kept activities, in
    export order) and the contract's columns. ``report`` is the merged validation
    report; ``as_of`` the export's as-of time."""

    spark: Any
    path: str
    leads: Any
    activities: Any
    as_of: pd.Timestamp
    report: ValidationReport
    extras: list[str]
    has_detail: bool
    buckets: int
    counts: dict[str, int] = field(default_factory=dict)
    _persisted: list[Any] = field(default_factory=list, repr=False)

    def part_options(self) -> dict[str, Any]:
        """What every per-part function needs to rebuild a part's frames."""
        return {"extras": list(self.extras), "has_detail": self.has_detail}

    def release(self) -> None:
        """Drop what Spark keeps of this export (memory and local disk)."""
        for frame in self._persisted:
            frame.unpersist()
        self._persisted.clear()


# A URL's scheme: two characters at least, so that a Windows drive ("C:") stays a local path.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


def spark_path(path: str | os.PathLike[str]) -> str:
    """A path Spark reads: a local path made absolute, a URL (``s3a://``, ``hdfs://``,
    ``abfss://``, ``dbfs:/mnt/...``, ``file:/...``) as given."""
    text = str(path)
    if _SCHEME.match(text):
        return text.rstrip("/")
    return os.path.abspath(text)


def _exists(spark: Any, path: str) -> bool:
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    return bool(hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(hadoop_path))


def locate_tables(spark: Any, path: str) -> dict[str, str]:
    """Where each table of the export at ``path`` is: ``<table>.parquet`` (a file or a
    folder of Parquet files) or a folder ``<table>``. Raises ContractError naming what
    is missing or doubled."""
    if not _exists(spark, path):
        raise ContractError.single("folder", f"{path} does not exist")
    found: dict[str, str] = {}
    problems: list[Problem] = []
    for table in TABLES:
        candidates = [p for p in (f"{path}/{table}.parquet", f"{path}/{table}") if _exists(spark, p)]
        if len(candidates) > 1:
            problems.append(Problem("error", table, None, f"both {candidates[0]} and {candidates[1]}: keep one"))
        elif candidates:
            found[table] = candidates[0]
        elif _exists(spark, f"{path}/{table}.csv"):
            problems.append(Problem("error", table, None, f"{path}/{table}.csv is CSV: the Spark engine reads Parquet "
                                    "exports (write the table as Parquet, or use --engine pandas)"))
        elif table == "leads":
            problems.append(Problem("error", "leads", None, f"no leads table in {path}: expected leads.parquet (a "
                                    "file or a folder of Parquet files) or a folder leads/"))
    if problems:
        raise ContractError(ValidationReport(problems=problems))
    return found


def _read(spark: Any, table: str, path: str) -> Any:
    try:
        return spark.read.parquet(path)
    except Exception as exc:  # noqa: BLE001 - Spark's analysis errors vary; all mean "not readable"
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ContractError.single(table, f"{path} could not be read as Parquet: {first}") from None


def _with_rows(spark: Any, frames: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    """``__row`` in each table: each row's 1-based position in the order Spark reads it
    (for one Parquet file, its row in the file, as the pandas engine numbers it); and
    each table's number of rows. One Spark job counts the rows of every input partition
    of every table."""
    from pyspark.sql import functions as F

    names = list(frames)
    tagged = {name: frame.withColumn("__mid", F.monotonically_increasing_id()) for name, frame in frames.items()}
    parts_of = [tagged[name].select(F.lit(i).alias("__t"), F.shiftright(F.col("__mid"), 33).alias("__p"))
                for i, name in enumerate(names)]
    union = parts_of[0]
    for piece in parts_of[1:]:
        union = union.unionByName(piece)
    counts = sorted((int(r[0]), int(r[1]), int(r[2])) for r in union.groupBy("__t", "__p").count().collect())
    out, totals = {}, {}
    for i, name in enumerate(names):
        offsets, total = [], 0
        for t, p, n in counts:
            if t == i:
                offsets.append((p, total))
                total += n
        totals[name] = total
        table = spark.createDataFrame(offsets or [(0, 0)], "__p long, __offset long")
        frame = tagged[name]
        low = F.col("__mid").bitwiseAND(F.lit((1 << 33) - 1))
        out[name] = (frame.withColumn("__p", F.shiftright(F.col("__mid"), 33)).join(F.broadcast(table), "__p")
                     .withColumn(ROW, F.col("__offset") + low + 1).drop("__p", "__offset", "__mid"))
    return out, totals


def id_text(frame: Any, column: str | None) -> Any:
    """An id column (``lead_id``, ``account_id``) of ``frame`` as the contract's stripped
    text, a Spark column expression (None when missing or empty)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if column is None:
        return F.lit(None).cast("string")
    kind = frame.schema[column].dataType
    value = F.col(column)
    if isinstance(kind, T.StringType):
        text = value
    elif isinstance(kind, (T.FloatType, T.DoubleType)):
        # ids stored as floats by a spreadsheet: 7.0 means "7"
        text = F.when(value == F.floor(value), value.cast("decimal(38,0)").cast("string")).otherwise(value.cast("string"))
    else:
        text = value.cast("string")
    stripped = F.regexp_replace(text, _STRIP, "")
    return F.when(stripped == "", F.lit(None)).otherwise(stripped)


def _group_batches(batches: Any, *, account: str | None) -> Any:
    """Each lead's buying group (``features.account.buying_groups``) beside its columns."""
    import pyarrow as pa

    from mqlscore.features.account import buying_groups

    for batch in batches:
        ids = batch.column(batch.schema.get_field_index(_ID)).to_pandas().to_numpy(dtype=object)
        accounts = (batch.column(batch.schema.get_field_index(account)).to_pandas().to_numpy(dtype=object)
                    if account is not None else None)
        groups = buying_groups(ids, accounts)
        yield pa.RecordBatch.from_arrays([*batch.columns, pa.array(groups.tolist(), pa.string())],
                                         names=[*batch.schema.names, GROUP])


def read_export(spark: Any, path: str | os.PathLike[str], *, as_of: pd.Timestamp | None = None,
                lenient: bool = False, buckets: int | None = None, max_examples: int = MAX_EXAMPLES) -> SparkExport:
    """Read the Parquet export at ``path`` and validate it per part (see the module).

    ``buckets`` is the number of parts (default: enough for about
    :data:`LEADS_PER_PART` leads each, at least two per core). Raises ContractError
    with the merged report when the export breaks the contract (in ``lenient``
    mode only when nothing usable is left)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import from_arrow_schema

    root = spark_path(path)
    located = locate_tables(spark, root)
    present: dict[str, list[str]] = {}
    names: dict[str, list[str]] = {}
    given: dict[str, Any] = {}
    for index, table in enumerate(TABLES):
        if table not in located:
            continue
        frame = _read(spark, table, located[table])
        present[table] = list(frame.columns)
        names[table] = [f"c{index}_{i}" for i in range(len(frame.columns))]
        given[table] = frame.toDF(*names[table])
    raw, rows_read = _with_rows(spark, given)
    if ROW_MARKER in present["leads"]:
        raise ContractError.single("leads", f"column {ROW_MARKER!r} is reserved by the Spark engine: rename it",
                                   column=ROW_MARKER)

    def positional(table: str, column: str) -> str | None:
        return names[table][present[table].index(column)] if column in present[table] else None

    leads = raw["leads"].withColumn(_ID, id_text(raw["leads"], positional("leads", "lead_id")))
    leads_schema = T.StructType([*leads.schema.fields, T.StructField(GROUP, T.StringType())])
    leads = leads.mapInArrow(partial(_group_batches, account=positional("leads", "account_id")), leads_schema)
    repeated = (leads.filter(F.col(_ID).isNotNull()).groupBy(_ID).count().filter(F.col("count") > 1)
                .select(_ID, F.lit(True).alias("__repeated")))
    leads = (leads.join(repeated, _ID, "left")
             .withColumn(GROUP, F.when(F.col("__repeated"), F.concat(F.lit("lead:"), F.col(_ID)))
                         .otherwise(F.col(GROUP))).drop("__repeated"))
    if buckets is None:
        buckets = max(2 * spark.sparkContext.defaultParallelism, math.ceil(rows_read["leads"] / LEADS_PER_PART))
    leads = leads.withColumn(BUCKET, F.pmod(F.xxhash64(GROUP), F.lit(buckets)).cast("int")).persist(
        StorageLevel.MEMORY_AND_DISK)
    owners = [int(r[0]) for r in leads.select(BUCKET).distinct().collect()] or [0]
    lead_bucket = leads.filter(F.col(_ID).isNotNull()).select(_ID, F.col(BUCKET).alias("__lead_bucket")).dropDuplicates(
        [_ID])
    pieces = [leads.select(F.lit(0).alias(TABLE), ROW, BUCKET, *names["leads"])]
    for index, table in enumerate(TABLES[1:], start=1):
        if table not in raw:
            continue
        frame = raw[table].withColumn(_ID, id_text(raw[table], positional(table, "lead_id")))
        # rows of unknown leads go to a part with leads, where validation sets them aside
        orphan = F.element_at(F.array(*[F.lit(b) for b in owners]),
                              (F.pmod(F.xxhash64(F.coalesce(F.col(_ID), F.col(ROW).cast("string"))),
                                      F.lit(len(owners))) + 1).cast("int"))
        frame = (frame.join(lead_bucket, _ID, "left")
                 .withColumn(BUCKET, F.coalesce(F.col("__lead_bucket"), orphan).cast("int")))
        pieces.append(frame.select(F.lit(index).alias(TABLE), ROW, BUCKET, *names[table]))
    union = pieces[0]
    for piece in pieces[1:]:
        union = union.unionByName(piece, allowMissingColumns=True)
    options = {"names": names, "present": present, "as_of": None if as_of is None else pd.Timestamp(as_of).isoformat(),
               "lenient": lenient, "max_examples": max_examples}
    # a plain function: PySpark 4.3 cannot read the signature of a functools.partial
    validated = union.groupBy(BUCKET).applyInArrow(lambda table: parts.validate_part(table, **options),
                                                   from_arrow_schema(parts.validation_schema())).persist(
        StorageLevel.DISK_ONLY)
    found = [report_from_json(r) for r in validated.filter(F.col(TABLE) == len(TABLES)).select(REPORT)
             .toArrow().column(0).to_pylist()]
    report = merge_reports([r for r, _ in found], lenient=lenient, max_examples=max_examples, as_of=as_of)
    report.sources = {table: located[table] for table in TABLES if table in located}
    report.rows_read = dict(rows_read)
    if report.errors and (not lenient or any(fatal for _, fatal in found)):
        leads.unpersist()
        validated.unpersist()
        raise ContractError(report)
    if not report.rows_kept.get("leads") or report.as_of is None:
        report.problems.append(Problem("error", "leads", None, "no lead left to use (all were rejected or created "
                                       "after the as-of time)"))
        leads.unpersist()
        validated.unpersist()
        raise ContractError(report)
    extras = [c for c in present["leads"] if c not in LEAD_COLUMNS and not c.startswith("__")]
    contract = [c for c in LEAD_COLUMNS if c in present["leads"]]
    kept = validated.filter(F.col(TABLE) == 0).select(
        BUCKET, ROW, *[F.col(parts.clean_name("leads", c)).alias(c) for c in contract])
    extra_values = leads.select(ROW, GROUP, *[F.col(positional("leads", c)).alias(c) for c in extras])
    outcomes = validated.filter(F.col(TABLE) == 2).select(
        F.col(parts.clean_name("outcomes", "lead_id")).alias("lead_id"),
        F.col(parts.clean_name("outcomes", "sql_at")).alias(SQL_AT),
        F.col(parts.clean_name("outcomes", "disqualified_at")).alias(DISQUALIFIED_AT))
    clean_leads = (kept.join(extra_values, ROW, "left").join(outcomes, "lead_id", "left")
                   .select(BUCKET, ROW, GROUP, *contract, *extras, SQL_AT, DISQUALIFIED_AT)
                   .persist(StorageLevel.MEMORY_AND_DISK))
    clean_leads.count()  # kept before the leads they come from are let go
    has_detail = "activities" in present and "detail" in present["activities"]
    activity_columns = [c for c in parts.CONTRACT["activities"] if c != "detail" or has_detail]
    # new names for the columns both tables take from one plan: a part's leads and activities are then
    # told apart when they meet again (Spark refuses an ambiguous self-join)
    activities = validated.filter(F.col(TABLE) == 1).select(
        F.col(BUCKET).alias(BUCKET), F.col(ROW).alias(ROW),
        *[F.col(parts.clean_name("activities", c)).alias(c) for c in activity_columns])
    leads.unpersist()
    return SparkExport(spark, root, clean_leads, activities, pd.Timestamp(report.as_of), report, extras, has_detail,
                       buckets, counts={"leads": int(report.rows_kept.get("leads", 0))},
                       _persisted=[clean_leads, validated])


# ----------------------------------------------------------------------------- reports


def report_from_json(text: str) -> tuple[ValidationReport, bool]:
    """A report written by ``parts.report_to_json``, and whether validation stopped there."""
    data = json.loads(text)
    fatal = bool(data.pop("fatal", False))
    data["problems"] = [Problem(**p) for p in data["problems"]]
    for key in ("time_min", "time_max", "as_of"):
        data[key] = None if data[key] is None else pd.Timestamp(data[key])
    return ValidationReport(**data), fatal


_COUNTED = re.compile(r"(\d[\d,]*) ((?:exact duplicate )?(?:row|lead|error))s?\b")
_LISTED = re.compile(r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*") (\d[\d,]*)""")
_MORE = re.compile(r", and (\d[\d,]*) more$")
_LIST_START = " (kept): "


def _skeleton(message: str) -> str:
    head, _, _ = message.partition(_LIST_START)
    return _COUNTED.sub(lambda m: f"# {m.group(2)}", head)


def _merge_message(messages: list[str]) -> str:
    """One problem's message from the parts' messages: its counted phrases ("3 rows",
    "1 lead") added up, and a list of values with counts merged value by value."""
    heads = [m.partition(_LIST_START) for m in messages]
    numbers = [[int(x.group(1).replace(",", "")) for x in _COUNTED.finditer(head)] for head, _, _ in heads]
    totals = [sum(column) for column in zip(*numbers, strict=True)]
    counter = iter(totals)

    def render(match: re.Match[str]) -> str:
        n = next(counter)
        return f"{n:,} {match.group(2)}" + ("" if n == 1 else "s")

    text = _COUNTED.sub(render, heads[0][0])
    if not heads[0][1]:
        return text
    merged: dict[str, int] = {}
    truncated = False
    for _, _, listed in heads:
        truncated |= bool(_MORE.search(listed))
        for value, count in _LISTED.findall(_MORE.sub("", listed)):
            merged[value] = merged.get(value, 0) + int(count.replace(",", ""))
    ranked = sorted(merged.items(), key=lambda item: -item[1])
    shown = ", ".join(f"{value} {n:,}" for value, n in ranked[:10])
    rest = len(ranked) - 10
    more = ", and more" if truncated else (f", and {rest} more" if rest > 0 else "")
    return f"{text}{_LIST_START}{shown}{more}"


def merge_reports(reports: list[ValidationReport], *, lenient: bool, max_examples: int = MAX_EXAMPLES,
                  as_of: pd.Timestamp | None = None) -> ValidationReport:
    """The reports of the parts of one export as the report of the whole: rows and
    facts added up, the time range and as-of time over all parts, and each problem
    once, its rows counted over all parts, its examples the first rows of all."""
    merged = ValidationReport(lenient=lenient)
    groups: dict[tuple[str, str, str | None, str], list[tuple[int, Problem]]] = {}
    for report in reports:
        for position, problem in enumerate(report.problems):
            key = (problem.severity, problem.table, problem.column, _skeleton(problem.message))
            groups.setdefault(key, []).append((position, problem))
        for table, n in report.rows_kept.items():
            merged.rows_kept[table] = merged.rows_kept.get(table, 0) + n
        for name, n in report.activity_types.items():
            merged.activity_types[name] = merged.activity_types.get(name, 0) + n
        merged.n_sql += report.n_sql
        merged.n_disqualified += report.n_disqualified
        merged.n_duplicate_activities += report.n_duplicate_activities
        merged.n_rejects += report.n_rejects
    starts = [r.time_min for r in reports if r.time_min is not None]
    ends = [r.time_max for r in reports if r.time_max is not None]
    merged.time_min = min(starts) if starts else None
    merged.time_max = max(ends) if ends else None
    merged.as_of_given = as_of is not None
    merged.as_of = pd.Timestamp(as_of) if as_of is not None else merged.time_max
    merged.activity_types = dict(sorted(merged.activity_types.items(), key=lambda item: (-item[1], item[0])))
    merged.problems = []
    for key in _problem_order(reports, list(groups)):
        severity, table, column, _ = key
        found = [p for _, p in groups[key]]
        examples = sorted((e for p in found for e in p.examples), key=lambda e: e.get("row", 0))[:max_examples]
        merged.problems.append(Problem(severity, table, column, _merge_message([p.message for p in found]),
                                       sum(p.count for p in found), examples))
    return merged


def _phrase(message: str) -> str:
    """What a per-column error says is wrong ("an unparsable timestamp"): the words after "with"."""
    return message.split(" with ", 1)[1] if " with " in message else message


@functools.lru_cache(maxsize=1)
def _check_ranks() -> dict[str, int]:
    """The order in which validation checks one column, read off the contract itself: a made-up
    leads table failing every per-column check (an empty, an unparsable and an out-of-range
    creation time; an empty and a repeated id; a count neither whole nor positive) is validated,
    and each check's phrase ranked by where the report first lists it (a column's checks are
    listed in one order, the same for every column)."""
    from mqlscore.contract import ContractError, validate_tables

    probe = pd.DataFrame({"lead_id": ["", "P1", "P1", "P2"],
                          "created_at": ["", "not a time", "1066-10-14T00:00:00Z", "2025-01-01T00:00:00Z"],
                          "employee_count": ["1.5", "-2", "3", "4"]})
    try:
        validate_tables({"leads": probe})
    except ContractError as exc:
        ranks: dict[str, int] = {}
        for i, problem in enumerate(exc.report.problems):  # each column lists its checks in the one order
            ranks.setdefault(_phrase(problem.message), i)
        return ranks
    return {}  # pragma: no cover - the probe breaks the contract by construction


def _problem_order(reports: list[ValidationReport], keys: list[tuple[str, str, str | None, str]]
                   ) -> list[tuple[str, str, str | None, str]]:
    """The problems in the order one validation of the whole export lists them: errors,
    then warnings, each by table; within those, every order a part's report shows is kept
    (each part lists a subsequence of the whole's checks), and problems no part shows
    together go by the column's place in the contract (table-wide ones last), then, on one
    column, by the order validation checks a column in (:func:`_check_ranks`)."""
    import heapq

    from mqlscore.contract.schema import CONTRACT_COLUMNS

    rank = {name: i for i, name in enumerate(TABLES)}
    checks = _check_ranks()

    def priority(key: tuple[str, str, str | None, str]) -> tuple[int, int, int, int, int]:
        severity, table, column, skeleton = key
        columns = CONTRACT_COLUMNS.get(table, ())
        place = columns.index(column) if column in columns else len(columns)
        return (severity != "error", rank.get(table, len(rank)), place, checks.get(_phrase(skeleton), len(checks)),
                keys.index(key))

    after: dict[tuple, set[tuple]] = {key: set() for key in keys}
    waiting = {key: 0 for key in keys}
    for report in reports:
        listed = [(p.severity, p.table, p.column, _skeleton(p.message)) for p in report.problems]
        for first, then in zip(listed, listed[1:], strict=False):
            if first != then and then not in after[first]:
                after[first].add(then)
                waiting[then] += 1
    ready = [(priority(k), k) for k in keys if not waiting[k]]
    heapq.heapify(ready)
    order = []
    while ready:
        _, key = heapq.heappop(ready)
        order.append(key)
        for then in after[key]:
            waiting[then] -= 1
            if not waiting[then]:
                heapq.heappush(ready, (priority(then), then))
    # parts that disagree (they cannot: each follows the one order of the checks) would leave some out
    return order + sorted((k for k in keys if k not in order), key=priority)
